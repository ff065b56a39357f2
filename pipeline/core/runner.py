"""The single place that starts subprocesses, so every step is run and reported the same way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError

OUTPUT_TAIL_LINES = 40


@dataclass(frozen=True)
class Completed:
    """Outcome of one command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


class CommandFailed(PipelineError):
    """A command exited non-zero (or could not be started)."""

    def __init__(self, what: str, result: Completed) -> None:
        tail = "\n".join(result.output.splitlines()[-OUTPUT_TAIL_LINES:])
        super().__init__(f"{what} failed (exit {result.returncode}): {' '.join(result.args)}\n{tail}".rstrip())
        self.result = result


def run(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    check: str | None = None,
    timeout: float | None = None,
) -> Completed:
    """Run ``args`` with exactly ``env``, capturing text output.

    ``check`` names the step: when given, a non-zero exit raises :class:`CommandFailed` whose
    message starts with it. A missing executable is reported like a failed command (exit 127).
    """
    argv = tuple(str(arg) for arg in args)
    try:
        proc = subprocess.run(
            argv,
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
        result = Completed(argv, proc.returncode, proc.stdout, proc.stderr)
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        result = Completed(argv, 127, "", f"cannot execute {argv[0]}: {exc.strerror}")
    except subprocess.TimeoutExpired:
        result = Completed(argv, 124, "", f"timed out after {timeout} s")
    if check is not None and result.returncode != 0:
        raise CommandFailed(check, result)
    return result


def spawn(args: Sequence[str | Path], *, env: Mapping[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in the background as the leader of a new process group, output appended to ``log``.

    The group lets a caller stop the process and everything it started with one signal.
    """
    argv = tuple(str(arg) for arg in args)
    try:
        with log.open("ab") as handle:
            return subprocess.Popen(
                argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise PipelineError(f"cannot execute {argv[0]}: {exc.strerror}") from None


def stream(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    check: str,
    timeout: float,
    on_line: Callable[[str], None],
) -> Completed:
    """Run ``args`` like :func:`run` (output merged into ``stdout``), handing each line to ``on_line`` as it comes.

    For long steps (terraform apply) whose progress the user should see. Past ``timeout`` the process
    group is killed and the step fails with exit 124.
    """
    argv = tuple(str(arg) for arg in args)
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise CommandFailed(check, Completed(argv, 127, "", f"cannot execute {argv[0]}: {exc.strerror}")) from None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            on_line(line.rstrip("\n"))
        returncode = proc.wait()
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        timer.cancel()
    timed_out = expired.is_set()
    result = Completed(
        argv, 124 if timed_out else returncode, "".join(lines), f"timed out after {timeout} s" if timed_out else ""
    )
    if result.returncode != 0:
        raise CommandFailed(check, result)
    return result


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
