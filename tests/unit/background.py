"""Session fixtures that are computed in the background, from the start of the session.

The policy suite's slowest fixtures are Checkov runs (one run over every mutation of the stack, one over every
fixture folder, ...): each is a subprocess that keeps one core busy for 5-30 s while the test process waits for
it. Computed when a test first asks for them, they ran one after the other at the end of `make unit-infra`, with
the second core idle. A fixture declared with :func:`background_fixture` instead starts on a thread pool when the
session's first test starts (only if a collected test uses it), so its Checkov run overlaps the stack tests and
the other runs; a test that asks for it waits for the result (and gets the job's exception if it raised).

Shapes: a job is a plain function of the session fixtures it names (resolved in the main thread before the job
starts, so pytest's fixture machinery is never used from a worker thread); its return value is the fixture's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

JOB_ATTRIBUTE = "paygate_background_job"
WORKERS = 2  # threads: each mostly waits on a Checkov or terraform subprocess


@dataclass(frozen=True)
class Job:
    """A background fixture's computation: ``compute(*fixtures named in needs)``; ``key`` names it uniquely."""

    key: str
    compute: Callable[..., Any]
    needs: tuple[str, ...]


class BackgroundJobs:
    """The session's started jobs (a thread pool of :data:`WORKERS`)."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="background-fixture")
        self._futures: dict[str, Future[Any]] = {}

    def start(self, job: Job, request: pytest.FixtureRequest) -> None:
        """Resolve the job's fixtures here (main thread), then run it on the pool (no-op if already started)."""
        if job.key not in self._futures:
            arguments = [request.getfixturevalue(name) for name in job.needs]
            self._futures[job.key] = self._pool.submit(job.compute, *arguments)

    def result(self, job: Job, request: pytest.FixtureRequest) -> Any:
        """The job's value, waiting for it; a job nothing started yet (not foreseen at collection) starts now."""
        self.start(job, request)
        return self._futures[job.key].result()

    def close(self) -> None:
        """Drop jobs that have not started (a failed or interrupted session) and wait for running ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def background_fixture(*needs: str) -> Callable[[Callable[..., Any]], Any]:
    """Declare a session fixture named after the decorated job, computed by it on the background pool.

    ``needs``: names of session-scoped fixtures visible from every unit test (``stack``, ``tmp_path_factory``):
    they are resolved when the session's first test starts, whichever folder it is in.
    """

    def declare(compute: Callable[..., Any]) -> Any:
        job = Job(f"{compute.__module__}.{compute.__qualname__}", compute, needs)

        def fixture(request: pytest.FixtureRequest, background_jobs: BackgroundJobs) -> Any:
            return background_jobs.result(job, request)

        fixture.__doc__ = compute.__doc__
        fixture.__name__ = compute.__name__
        setattr(fixture, JOB_ATTRIBUTE, job)
        return pytest.fixture(scope="session", name=compute.__name__)(fixture)

    return declare


def jobs_used_by(items: Iterable[pytest.Item]) -> list[Job]:
    """The background jobs the collected ``items`` use (through any fixture), in the order tests first use them."""
    found: dict[str, Job] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        for name in item.fixturenames:  # type: ignore[attr-defined]
            definitions = info.name2fixturedefs.get(name, ())
            job = getattr(definitions[-1].func, JOB_ATTRIBUTE, None) if definitions else None
            if isinstance(job, Job):
                found.setdefault(job.key, job)
    return list(found.values())
