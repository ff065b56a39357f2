"""``make localstack-e2e``: the checked artifact on a fresh LocalStack, the e2e suite, teardown, a summary.

Phases: up -> deploy (terraform apply of the artifact the policy gate passed) -> tests (pytest on
``tests/localstack`` run concurrently by pytest-xdist, one JUnit XML) -> drift check (``terraform plan`` must
find nothing to change after the apply and the suite) -> destroy (only with ``destroy=True``) -> down.
Teardown always runs, also after a failure or Ctrl-C; the exit status is non-zero when any phase failed or
any test did not pass (a skipped test is a failure here). The instance is thrown away at ``down`` with its
state, so ``terraform destroy`` is run only when asked (``make test`` asks, once per CI run: README,
"Teardown"); an artifact with deletion protection (production) is never destroyed through terraform, which
cannot delete its protected tables. The summary's ``teardown`` line says which ran. The instance lives in
its own directory (``build/localstack-e2e``), so a LocalStack started with ``make localstack-up`` can keep
running beside it.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.build import artifact
from pipeline.core import procs
from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed, stream
from pipeline.core.settings import Settings
from pipeline.deploy import apply as deploy
from pipeline.deploy import critical_path
from pipeline.localstack import instance as localstack
from pipeline.localstack import venv as localstack_venv

LOG_COPY = "localstack.log"  # next to the JUnit report
TESTS_TIMEOUT_S = 1200.0
SAMPLE_S = 0.5
# pytest-xdist workers: the suite waits on LocalStack (queues, workflows, alarms), not on this machine's CPU.
TEST_WORKERS = 4
SLOWEST_SHOWN = 5
Progress = Callable[[str], None]


@dataclass(frozen=True)
class E2ERequest:
    deploy: deploy.DeployRequest
    python: Path
    tests: Sequence[str]
    junit: Path
    work_root: Path
    pytest_args: Sequence[str] = ()
    prior_phases: Sequence[tuple[str, float]] = ()
    workers: int = TEST_WORKERS
    destroy: bool = False  # prove ``terraform destroy``; otherwise the instance is discarded with its state


@dataclass
class Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        return self.tests > 0 and self.failures == self.errors == self.skipped == 0


@dataclass
class Summary:
    artifact_sha256: str = ""
    phases: list[tuple[str, float, str]] = field(default_factory=list)
    counts: Counts | None = None
    peak_rss: int = 0
    teardown: str = "not reached"
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    critical_path: list[str] = field(default_factory=list)  # rendered table of the apply's critical path
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (test, seconds), slowest first
    recorded: list[tuple[str, str]] = field(default_factory=list)  # (name, value) the tests recorded

    @property
    def ok(self) -> bool:
        return not self.problems and not self.leftovers and self.counts is not None and self.counts.ok

    def render(self) -> str:
        lines = ["", "== localstack-e2e summary =="]
        lines.append(f"artifact  sha256 {self.artifact_sha256 or '(not reached)'}")
        total = 0.0
        for name, seconds, state in self.phases:
            total += seconds
            lines.append(f"  {name:<22} {seconds:7.1f} s  {state}")
        lines.append(f"  {'total':<22} {total:7.1f} s")
        if self.counts is not None:
            c = self.counts
            lines.append(
                f"tests     {c.tests} run: {c.passed} passed, {c.failures} failed, "
                f"{c.errors} errors, {c.skipped} skipped"
            )
        else:
            lines.append("tests     not run (no JUnit report)")
        if self.slowest:
            lines.append("slowest tests (seconds; they run concurrently):")
            lines.extend(f"  {seconds:6.1f}  {name}" for name, seconds in self.slowest)
        if self.recorded:
            lines.append("recorded by the tests: " + ", ".join(f"{name} = {value} s" for name, value in self.recorded))
        lines.extend(self.critical_path)
        lines.append(f"LocalStack peak memory (process tree, with Lambda workers): {self.peak_rss / 2**20:.0f} MiB")
        lines.append(f"teardown  {self.teardown}")
        lines.append("leftovers: " + ("; ".join(self.leftovers) if self.leftovers else "none (no process, no state)"))
        lines.extend(f"FAILED: {problem}" for problem in self.problems)
        lines.append("result: " + ("PASSED" if self.ok else "FAILED"))
        return "\n".join(lines) + "\n"


def junit_timings(path: Path, shown: int = SLOWEST_SHOWN) -> tuple[list[tuple[str, float]], list[tuple[str, str]]]:
    """The ``shown`` slowest test cases (name, seconds) of a JUnit XML report, and the properties the tests
    recorded (``record_property``: name, value), in report order; ([], []) without a readable report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return [], []
    cases = [(case.get("name", "?"), float(case.get("time", 0) or 0)) for case in root.iter("testcase")]
    recorded = [(prop.get("name", "?"), prop.get("value", "")) for prop in root.iter("property")]
    return sorted(cases, key=lambda case: -case[1])[:shown], recorded


def junit_counts(path: Path) -> Counts:
    """Totals of a pytest JUnit XML report (``<testsuites><testsuite tests= failures= errors= skipped=>``)."""
    if not path.is_file():
        raise PipelineError(f"pytest wrote no JUnit report at {path}")
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = Counts()
    for suite in suites:
        counts.tests += int(suite.get("tests", 0))
        counts.failures += int(suite.get("failures", 0))
        counts.errors += int(suite.get("errors", 0))
        counts.skipped += int(suite.get("skipped", 0))
    return counts


class PeakMemory:
    """Samples the resident memory of a process and all its descendants (Lambda workers have own sessions)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        return sum(procs.rss(pid) for pid in [self.pid, *procs.descendants(self.pid)])

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def e2e_settings(settings: Settings, work_root: Path) -> Settings:
    """Settings for the e2e instance: its own directory, LocalStack's venv shared by a symlink."""
    shared = localstack_venv.venv_dir(settings)
    localstack_venv.require(settings)
    work_root.mkdir(parents=True, exist_ok=True)
    link = work_root / "venv"
    if link.is_symlink() and link.resolve() != shared.resolve():
        link.unlink()  # dangling, or another venv
    if not link.is_symlink():
        if link.exists():
            raise PipelineError(f"{link} exists and is not a link to {shared}: remove it.")
        link.symlink_to(shared.resolve())
    return dataclasses.replace(settings, localstack_dir=work_root)


@contextmanager
def phase(summary: Summary, name: str, progress: Progress) -> Iterator[None]:
    progress(f"== {name}")
    started = time.monotonic()
    try:
        yield
    except BaseException as exc:
        summary.phases.append((name, time.monotonic() - started, "FAILED"))
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        summary.problems.append(f"{name}: {message}")
        raise
    summary.phases.append((name, time.monotonic() - started, "ok"))


def run(request: E2ERequest, settings: Settings, progress: Progress) -> Summary:
    """Every phase, teardown always; returns the summary (``ok`` says whether the run passed).

    An interrupt (Ctrl-C, or SIGTERM, which the CLI turns into one) stops the phase that runs; teardown
    still runs (a second interrupt skips the destroy, LocalStack is stopped either way) and the
    summary says it was interrupted.
    """
    summary = Summary(phases=[(name, seconds, "ok") for name, seconds in request.prior_phases])
    summary.artifact_sha256 = artifact.require_evidence(request.deploy.evidence, request.deploy.stack_dir).sha256
    own = e2e_settings(settings, request.work_root)
    request.junit.unlink(missing_ok=True)  # counts come from this run's report or from none
    try:
        _run(request, own, summary, progress)
    except KeyboardInterrupt:
        summary.problems.append("interrupted; teardown ran")
    return summary


def _run(request: E2ERequest, own: Settings, summary: Summary, progress: Progress) -> None:
    instance: localstack.Instance | None = None
    child = None
    try:
        with phase(summary, "localstack up", progress):
            instance, child = localstack.start_owned(own)
        progress(f"LocalStack at {instance.endpoint} (pid {instance.pid}); log {instance.log}")
        with PeakMemory(instance.pid) as memory:
            try:
                with phase(summary, "deploy (terraform)", progress):
                    deployment = deploy.deploy(request.deploy, instance, own, progress)
                summary.critical_path = critical_path.render(deployment.chain, deployment.timings.get("apply"))
                with phase(summary, "e2e tests", progress):
                    try:
                        _tests(request, own, progress)
                    except PipelineError:
                        if localstack.dump_threads(instance):  # what a stuck LocalStack was doing, before teardown
                            progress("LocalStack's thread stacks were written to its log")
                        raise
                with phase(summary, "drift (terraform plan)", progress):
                    deploy.check_no_drift(request.deploy, instance, own, progress)
            except (PipelineError, OSError):
                pass  # recorded by phase(); teardown follows
            finally:
                summary.counts = _counts(request.junit, summary)
                summary.slowest, summary.recorded = junit_timings(request.junit)
                summary.peak_rss = memory.peak
                _teardown(instance, own, request, summary, progress)
    finally:
        if instance is not None:
            keep_log(Path(instance.log), request.junit.parent / LOG_COPY, progress)
            with _recorded(), phase(summary, "localstack down", progress):
                localstack.stop(own, child=child)
        summary.leftovers = leftovers(own, instance)


DISCARDED = "discarded: deletion protection"
NOT_DESTROYED = "discarded with the instance (terraform destroy is proven by `make test`)"


def _teardown(
    instance: localstack.Instance, own: Settings, request: E2ERequest, summary: Summary, progress: Progress
) -> None:
    """``terraform destroy`` when asked, else (and always for an artifact with deletion protection) nothing:
    stopping LocalStack discards the deployment with its state."""
    protected = deploy.deletion_protected(deploy.work_dir(instance))
    if not request.destroy and not protected:
        deploy.outputs_file(own).unlink(missing_ok=True)  # as destroy does: the outputs name what goes away
        summary.teardown = NOT_DESTROYED
        return
    if protected:
        deploy.outputs_file(own).unlink(missing_ok=True)  # as destroy does: the outputs name what goes away
        summary.teardown = f"{DISCARDED} ({len(protected)} protected resources; the instance is stopped with its state)"
        progress(f"not destroyed through terraform: deletion protection on {', '.join(protected)}; discarding it")
        return
    summary.teardown = "destroy failed"
    with _recorded(), phase(summary, "destroy (terraform)", progress):
        summary.teardown = (
            "destroyed" if deploy.destroy(instance, own, request.deploy, progress) else "nothing deployed"
        )


def keep_log(log: Path, target: Path, progress: Progress) -> None:
    """LocalStack's log outlives its run dir (removed on stop): evidence when a phase failed."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)
    except OSError as exc:
        progress(f"could not keep LocalStack's log {log}: {exc}")
        return
    progress(f"LocalStack's log: {target}")


@contextmanager
def _recorded() -> Iterator[None]:
    """Teardown goes on after a failed step (phase() has recorded it)."""
    with suppress(PipelineError, OSError):
        yield


def _counts(junit: Path, summary: Summary) -> Counts | None:
    try:
        return junit_counts(junit)
    except (PipelineError, ET.ParseError) as exc:
        if not summary.problems:
            summary.problems.append(str(exc))
        return None


def _tests(request: E2ERequest, settings: Settings, progress: Progress) -> None:
    request.junit.parent.mkdir(parents=True, exist_ok=True)
    request.junit.unlink(missing_ok=True)
    argv: list[str | Path] = [
        request.python,
        "-m",
        "pytest",
        *request.tests,
        f"--junitxml={request.junit}",
        "-p",
        "no:cacheprovider",
        "-rfEs",
        *(("-n", str(request.workers), "--dist", "loadgroup") if request.workers > 0 else ()),
        *request.pytest_args,
    ]
    env = settings.child_env(PAYGATE_E2E_OUTPUTS=str(deploy.outputs_file(settings)))
    try:
        stream(argv, env=env, cwd=settings.repo_root, check="the e2e suite", timeout=TESTS_TIMEOUT_S, on_line=progress)
    except CommandFailed as failed:
        raise PipelineError(f"the e2e suite failed (exit {failed.result.returncode}); see the output above") from None


def leftovers(settings: Settings, instance: localstack.Instance | None) -> list[str]:
    """What a finished run must not leave: LocalStack or worker processes, its run dir, state, outputs."""
    found = []
    layout = localstack.Layout.of(settings)
    marker = str(layout.run_dir)
    for pid in procs.all_pids():
        if not procs.alive(pid):
            continue
        cmdline = " ".join(procs.cmdline(pid))
        cwd = procs.cwd(pid)
        if (
            (instance is not None and pid == instance.pid)
            or marker in cmdline
            or (cwd is not None and cwd.is_relative_to(layout.run_dir))
        ):
            found.append(f"process {pid} of the e2e LocalStack still runs: {cmdline[:80]}")
    for path in (layout.run_dir, layout.state_file, deploy.outputs_file(settings)):
        if path.exists():
            found.append(f"{path} still exists")
    return found
