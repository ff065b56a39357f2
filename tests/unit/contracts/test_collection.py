"""The handler and contract suite never loads the CDKTF provider binding (tests/unit/conftest.py).

pytest makes a collector node for every folder of ``tests/unit`` when it collects any one of them, and the hook
that imports the binding before the stack and policy folders ran for those nodes too: under coverage a run of
``tests/unit/contracts`` alone took ~21 s instead of ~2.5 s, all of it the binding (and a node process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.conftest import will_collect

REPO_ROOT = Path(__file__).resolve().parents[3]
UNIT = REPO_ROOT / "tests" / "unit"
REPORT_PLUGIN = """
import sys
def pytest_collection_finish(session):
    print("provider binding loaded:", "cdktf_cdktf_provider_aws" in sys.modules)
"""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tests/unit/stacks"], True),
        (["tests/unit/stacks/test_naming.py::test_x"], True),
        (["tests/unit"], True),
        (["tests"], True),
        (["."], True),
        (["tests/unit/lambdas", "tests/unit/contracts"], False),
        (["tests/unit/pipeline", "tests/unit/suites"], False),
        (["tests/unit/stacksish"], False),
        (["tests/unit/lambdas", "tests/unit/stacks/test_api.py"], True),
    ],
)
def test_the_provider_folders_are_collected_only_when_an_argument_reaches_them(args: list[str], expected: bool) -> None:
    assert will_collect(UNIT / "stacks", args, REPO_ROOT) is expected


def test_a_relative_argument_is_read_from_the_invocation_folder() -> None:
    assert will_collect(UNIT / "stacks", ["unit/stacks"], REPO_ROOT / "tests")
    assert not will_collect(UNIT / "stacks", ["unit/stacks"], REPO_ROOT)


def test_collecting_the_contract_tests_under_coverage_does_not_load_the_binding(tmp_path: Path) -> None:
    (tmp_path / "report_binding.py").write_text(REPORT_PLUGIN, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")},
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "COVERAGE_FILE": str(tmp_path / "coverage"),
    }
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit/contracts/test_contracts.py", "--collect-only", "-q",
         "-p", "no:cacheprovider", "-p", "report_binding", "--cov=stacks", "--cov-report="],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "provider binding loaded: False" in ran.stdout, ran.stdout
