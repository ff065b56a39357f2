"""tests/unit/background.py: session fixtures computed on a thread pool from the session's first test.

Each test runs pytest on a small project whose conftest takes the real hook and autouse fixture from
tests/unit/conftest.py, so what is exercised is the code the policy suite runs under.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFTEST = """
from tests.unit.conftest import background_jobs, pytest_collection_finish  # noqa: F401
"""
# `first` uses no background fixture; it waits until `slow_scan` (used only by the last test) has started
# elsewhere: it can only pass if the job runs concurrently, started before the first test's body.
PROJECT = """
import threading
import time
from pathlib import Path

from tests.unit.background import background_fixture

MARKS = Path(__file__).parent / "marks"


@background_fixture("tmp_path_factory")
def slow_scan(tmp_path_factory):
    (MARKS / "slow_scan.started").write_text(threading.current_thread().name)
    time.sleep(0.5)
    return {"findings": 3}


@background_fixture()
def unused_scan():
    (MARKS / "unused_scan.started").write_text("ran")
    return {}


@background_fixture()
def broken_scan():
    raise RuntimeError("checkov exited 2: parse error in mutated.tf.json")


def test_first():
    deadline = time.monotonic() + 30
    while not (MARKS / "slow_scan.started").exists():
        assert time.monotonic() < deadline, "the background job never started"
        time.sleep(0.01)


def test_uses_broken(broken_scan):
    pass


def test_uses_slow(slow_scan):
    assert slow_scan == {"findings": 3}
"""


def run_project(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_project.py").write_text(PROJECT)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "test_project.py", *args]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    return result, marks


def test_a_used_job_runs_in_the_background_from_the_first_test_and_a_failing_one_errors_its_user(
    tmp_path: Path,
) -> None:
    result, marks = run_project(tmp_path)

    assert "2 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR test_project.py::test_uses_broken" in result.stdout
    assert "checkov exited 2: parse error in mutated.tf.json" in result.stdout
    assert (marks / "slow_scan.started").read_text().startswith("background-fixture")
    assert not (marks / "unused_scan.started").exists(), "a job no selected test uses ran"


def test_a_job_whose_only_user_is_deselected_never_runs(tmp_path: Path) -> None:
    result, marks = run_project(tmp_path, "-k", "not uses_slow and not first")

    assert "2 deselected, 1 error" in result.stdout, result.stdout + result.stderr
    assert not (marks / "slow_scan.started").exists()
