"""scripts/find-python312 (the bootstrap before the venv exists) resolves like core.toolchain, says the same."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.core.settings import from_environ
from pipeline.core.toolchain import MISSING_PYTHON, MissingPrerequisite, find_python

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "find-python312"
PY = Path(sys.executable)
ExecutableFactory = Callable[[str, str], Path]


def script(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT)], env=environ, capture_output=True, text=True, check=False)


def toolchain_answer(environ: dict[str, str], tmp_path: Path) -> str:
    try:
        return str(find_python(from_environ(environ, tmp_path)).path)
    except MissingPrerequisite as exc:
        return str(exc)


def test_paygate_python_is_printed_when_it_is_3_12(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin:/bin", "PAYGATE_PYTHON": str(PY)}
    result = script(environ)
    assert (result.returncode, result.stdout.strip()) == (0, str(PY))
    assert toolchain_answer(environ, tmp_path) == str(PY)


def test_pyenv_prefix_is_used(make_executable: ExecutableFactory, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").symlink_to(PY)
    make_executable("pyenv", f'[ "$1 $2" = "prefix 3.12" ] && echo {prefix}\n')
    environ = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    result = script(environ)
    assert (result.returncode, result.stdout.strip()) == (0, str(prefix / "bin" / "python3.12"))
    assert toolchain_answer(environ, tmp_path) == result.stdout.strip()


def test_python312_on_path_is_the_last_resort(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3.12").symlink_to(PY)
    environ = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    result = script(environ)
    assert (result.returncode, result.stdout.strip()) == (0, str(tmp_path / "bin" / "python3.12"))


def test_wrong_paygate_python_gives_the_same_sentence_as_the_toolchain(
    make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    wrong = make_executable("python", "echo 3.11\n")
    environ = {"PATH": "/usr/bin:/bin", "PAYGATE_PYTHON": str(wrong)}
    result = script(environ)
    assert result.returncode == 1
    assert result.stderr.strip() == toolchain_answer(environ, tmp_path)


def test_no_python312_gives_the_same_sentence_as_the_toolchain(tmp_path: Path) -> None:
    environ = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # the script needs only shell builtins here
    result = script(environ)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == MISSING_PYTHON == toolchain_answer(environ, tmp_path)
    assert os.access(SCRIPT, os.X_OK)
