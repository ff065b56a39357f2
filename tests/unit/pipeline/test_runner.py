"""The single subprocess runner: exact environment, captured output, failures named by step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.runner import OUTPUT_TAIL_LINES, CommandFailed, run

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
