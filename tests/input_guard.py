"""pytest plugin: fail the session when it reads a path its cache key leaves out (``pipeline.cache.suite``).

A unit suite's results are reused for an equal inputs key, and that key leaves out the paths the suite
declares it never reads (``PAYGATE_INPUT_GUARD_EXCLUDED``, ``os.pathsep``-separated, relative to
``PAYGATE_INPUT_GUARD_ROOT``; the key keeps their names, so listing a folder is allowed: coverage.py
lists every source folder to record never-imported files). This plugin holds the suite to that
declaration on every run, through Python's audit hooks (PEP 578): a file opened or imported (``open``,
which ``io.open_code`` raises for every module and bytecode file) and a subprocess whose arguments or
working directory name such a path (``subprocess.Popen``; a relative argument counts in the child's working
directory). Any of them fails the session,
naming the path, so the exclusion is fixed before a wrong key could reuse a result. What a subprocess
reads on its own (git, make walking the tree) is not seen: the suites that start such programs in the
repository keep the whole tree (and HEAD) in their key.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path
from typing import Any

import pytest


def is_excluded(path: str, excluded: list[str]) -> bool:
    """``pipeline.cache.inputs.is_excluded``, repeated: importing the pipeline here would read it in suites whose
    key leaves it out (tests/unit/pipeline/test_cache.py checks the two agree)."""
    return any(
        path == e or path.startswith(e.rstrip("/") + "/") or ("*" in e and fnmatch.fnmatchcase(path, e))
        for e in excluded
    )


WATCHED = frozenset({"open", "subprocess.Popen"})


class Guard:
    """Records every watched audit event that names a path under one of ``excluded`` (absolute)."""

    def __init__(self, root: Path, excluded: list[str]) -> None:
        self.root = str(root).rstrip("/") + "/"
        self.excluded = excluded
        self.violations: dict[str, str] = {}  # path -> the event, and the test that raised it first

    def _check(self, event: str, value: object, cwd: object = None) -> None:
        """Record ``value`` if it names an excluded path; a relative one is taken in ``cwd`` (a subprocess's
        working directory) when given, else in this process's."""
        if isinstance(value, int) or value is None:
            return
        try:
            # No Path.resolve(): inside an audit hook, no file system call (it would raise events itself).
            text = os.fsdecode(value)  # type: ignore[arg-type]
            if cwd is not None and not os.path.isabs(text):  # noqa: PTH117
                text = os.path.join(os.fsdecode(cwd), text)  # type: ignore[arg-type]  # noqa: PTH118
            text = os.path.abspath(text)  # noqa: PTH100
        except TypeError:
            return
        if text.startswith(self.root) and is_excluded(text[len(self.root) :], self.excluded):
            # PYTEST_CURRENT_TEST names the test (and phase) running now; pytest sets it around every test.
            test = os.environ.get("PYTEST_CURRENT_TEST", "collection or a session fixture")
            self.violations.setdefault(text, f"{event} in {test}")

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in WATCHED:
            return
        if event == "subprocess.Popen":
            _executable, argv, cwd, _env = args
            self._check(event, cwd)
            # The child resolves a relative argument in its own working directory (a test's scratch repository).
            for value in argv if isinstance(argv, (list, tuple)) else [argv]:
                if isinstance(value, (str, bytes, os.PathLike)):
                    self._check(event, value, cwd)
            return
        if args:
            self._check(event, args[0])


_GUARD: Guard | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _GUARD
    excluded = [e for e in os.environ.get("PAYGATE_INPUT_GUARD_EXCLUDED", "").split(os.pathsep) if e]
    root = os.environ.get("PAYGATE_INPUT_GUARD_ROOT")
    if not excluded or not root:
        return
    _GUARD = Guard(Path(root), excluded)
    sys.addaudithook(_GUARD.hook)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _GUARD is None or not _GUARD.violations:
        return
    lines = [f"  {event}: {path}" for path, event in sorted(_GUARD.violations.items())]
    print(
        "\ninput guard: this suite read paths its cache key leaves out (PAYGATE_INPUT_GUARD_EXCLUDED); "
        "put them back into the key (the Makefile's UNIT_*_EXCLUDED):\n" + "\n".join(lines),
        file=sys.stderr,
    )
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
