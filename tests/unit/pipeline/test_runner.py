"""The single subprocess runner: exact environment, captured output, failures named by step."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from pipeline.core import procs
from pipeline.core.errors import PipelineError
from pipeline.core.runner import OUTPUT_TAIL_LINES, CommandFailed, run, stream

PY = sys.executable


def test_runs_with_exactly_the_given_environment_and_directory(tmp_path: Path) -> None:
    code = "import os; print(os.environ.get('ONLY'), os.environ.get('HOME'), os.getcwd())"
    result = run([PY, "-c", code], env={"ONLY": "yes"}, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.split() == ["yes", "None", str(tmp_path)]


def test_paths_are_accepted_as_arguments(tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('hi')")
    assert run([Path(PY), script], env={}).args == (PY, str(script))


def test_failure_without_check_is_returned_not_raised() -> None:
    result = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"], env={})
    assert (result.returncode, result.output) == (3, "out\nerr")


def test_failure_with_check_raises_with_the_step_name_and_output_tail() -> None:
    code = f"for i in range({OUTPUT_TAIL_LINES + 5}): print('line', i)\nraise SystemExit(2)"
    with pytest.raises(CommandFailed) as caught:
        run([PY, "-c", code], env={}, check="printing lines")
    message = str(caught.value)
    assert message.startswith("printing lines failed (exit 2): ")
    assert "line 0\n" not in message and f"line {OUTPUT_TAIL_LINES + 4}" in message
    assert isinstance(caught.value, PipelineError)
    assert caught.value.result.returncode == 2


def test_missing_executable_reads_as_exit_127(tmp_path: Path) -> None:
    result = run([tmp_path / "no-such-program"], env={})
    assert result.returncode == 127
    assert "cannot execute" in result.stderr


def test_timeout_reads_as_exit_124() -> None:
    result = run([PY, "-c", "import time; time.sleep(5)"], env={}, timeout=0.2)
    assert result.returncode == 124
    assert "timed out" in result.stderr


# --- stream: long steps whose output the user watches -----------------------------------------------


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has exited within ``within`` seconds (a zombie not yet reaped by its new parent counts)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_stream_hands_each_line_over_while_the_command_still_runs(tmp_path: Path) -> None:
    go = tmp_path / "go"
    code = (
        "import pathlib, sys, time\n"
        "print('first', flush=True)\n"
        "deadline = time.monotonic() + 5\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    if time.monotonic() > deadline: sys.exit('never saw the go file')\n"
        "    time.sleep(0.01)\n"
        "print('second', file=sys.stderr)\n"
    )
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        go.touch()  # the child only goes on once its first line has been handed over

    result = stream([PY, "-c", code], env={}, cwd=tmp_path, check="two lines", timeout=10, on_line=on_line)
    assert seen == ["first", "second"]
    assert (result.returncode, result.stdout, result.stderr) == (0, "first\nsecond\n", "")
    assert result.args == (PY, "-c", code)


def test_stream_runs_with_exactly_the_given_environment(tmp_path: Path) -> None:
    seen: list[str] = []
    code = "import os; print(os.environ.get('ONLY'), os.environ.get('HOME'), os.getcwd())"
    stream([PY, "-c", code], env={"ONLY": "yes"}, cwd=tmp_path, check="env", timeout=10, on_line=seen.append)
    assert seen == [f"yes None {tmp_path}"]


def test_stream_failure_raises_with_the_step_name_and_the_collected_output() -> None:
    seen: list[str] = []
    code = "import sys; print('partial', flush=True); print('boom', file=sys.stderr); sys.exit(3)"
    with pytest.raises(CommandFailed) as caught:
        stream([PY, "-c", code], env={}, check="terraform apply in x", timeout=10, on_line=seen.append)
    assert str(caught.value).startswith("terraform apply in x failed (exit 3): ")
    assert caught.value.result.returncode == 3
    assert caught.value.result.stdout == "partial\nboom\n"
    assert "partial\nboom" in str(caught.value)
    assert seen == ["partial", "boom"]


def test_stream_timeout_kills_the_whole_process_group_and_reads_as_exit_124(tmp_path: Path) -> None:
    # The grandchild keeps the output pipe open: only killing the group ends the read.
    script = "sleep 30 & echo $!; sleep 30"
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(CommandFailed) as caught:
        stream(["sh", "-c", script], env={"PATH": os.defpath}, check="slow step", timeout=0.5, on_line=seen.append)
    assert time.monotonic() - started < 10
    result = caught.value.result
    assert result.returncode == 124
    assert result.stderr == "timed out after 0.5 s"
    assert str(caught.value).startswith("slow step failed (exit 124): sh -c")
    grandchild = int(seen[0])
    assert gone(grandchild), f"the background sleep {grandchild} outlived the timeout"


def test_stream_stops_the_command_when_the_line_handler_raises(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; echo go; sleep 30"

    def on_line(line: str) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        stream(["sh", "-c", script], env={"PATH": os.defpath}, check="interrupted", timeout=60, on_line=on_line)
    assert time.monotonic() - started < 10
    assert gone(int(pid_file.read_text()))


def test_stream_of_a_missing_executable_fails_as_exit_127(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed) as caught:
        stream([tmp_path / "no-such-program"], env={}, check="terraform init", timeout=10, on_line=print)
    assert caught.value.result.returncode == 127
    assert str(caught.value).startswith("terraform init failed (exit 127): ")
    assert "cannot execute" in caught.value.result.stderr
