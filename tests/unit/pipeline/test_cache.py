"""pipeline.cache: an inputs key changes with every byte of an input and with nothing else; a suite is reused
only on an equal key, and its JUnit report says whether it ran or was reused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.cache import suite
from pipeline.cache.inputs import inputs_key, is_excluded
from tests import input_guard

ENV = {"PATH": os.environ.get("PATH", ""), "PAYGATE_ENVIRONMENT": "dev"}
PASSING_TEST = "def test_ok():\n    assert open('data.txt').read() == 'one'\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "lambdas" / "api").mkdir(parents=True)
    (root / "data.txt").write_text("one")
    (root / "lambdas" / "api" / "handler.py").write_text("X = 1\n")
    (root / ".gitignore").write_text("build/\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return root


def key(root: Path, **kwargs: object) -> str:
    return inputs_key(root, ENV, tools=("python",), **kwargs).sha256  # type: ignore[arg-type]


def test_a_touch_keeps_the_key_and_an_edit_changes_it(repo: Path) -> None:
    before = key(repo)
    os.utime(repo / "data.txt", (1, 1))
    assert key(repo) == before
    (repo / "data.txt").write_text("two")
    assert key(repo) != before


def test_untracked_files_count_and_ignored_ones_do_not(repo: Path) -> None:
    before = key(repo)
    (repo / "build").mkdir()
    (repo / "build" / "out.txt").write_text("x")
    assert key(repo) == before
    (repo / "new.txt").write_text("x")
    assert key(repo) != before


def test_an_excluded_file_counts_by_name_only(repo: Path) -> None:
    excluded = ("lambdas/api",)
    before = key(repo, excluded=excluded)
    (repo / "lambdas" / "api" / "handler.py").write_text("X = 2\n")
    assert key(repo, excluded=excluded) == before
    (repo / "lambdas" / "api" / "other.py").write_text("")
    assert key(repo, excluded=excluded) != before


def test_the_executable_bit_the_environment_and_head_count(repo: Path) -> None:
    before = key(repo)
    (repo / "data.txt").chmod(0o755)
    assert key(repo) != before
    assert inputs_key(repo, {**ENV, "PAYGATE_REGION": "x"}, tools=()).sha256 != inputs_key(repo, ENV, tools=()).sha256
    assert inputs_key(repo, {**ENV, "COVERAGE_FILE": "x"}, tools=()).sha256 == inputs_key(repo, ENV, tools=()).sha256
    head = key(repo, include_head=True)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "empty", "--allow-empty")
    assert key(repo, include_head=True) != head
    assert key(repo) == key(repo)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("lambdas/api/handler.py", True),
        ("lambdas/api", True),
        ("lambdas/apix/handler.py", False),
        ("tests/unit/lambdas/test_x.py", True),
        ("tests/unit/lambdas/tables.json", False),
    ],
)
def test_exclusions_are_folders_files_or_patterns(path: str, expected: bool) -> None:
    excluded = ["lambdas/api", "tests/unit/lambdas/*.py"]
    assert is_excluded(path, excluded) is expected
    assert input_guard.is_excluded(path, excluded) is expected


def test_the_guard_takes_a_subprocess_argument_in_the_childs_working_directory(tmp_path: Path) -> None:
    """`git add lambdas/x.py` run in a scratch repository reads the scratch copy, not the checkout's lambdas/."""
    root = tmp_path / "checkout"
    guard = input_guard.Guard(root, ["lambdas"])
    guard.hook("subprocess.Popen", ("git", ["git", "add", "lambdas/x.py"], str(tmp_path / "scratch"), None))
    assert guard.violations == {}
    guard.hook("subprocess.Popen", ("git", ["git", "add", "lambdas/x.py"], root, None))
    guard.hook("subprocess.Popen", ("zip", ["zip", str(root / "lambdas" / "y.py")], tmp_path / "scratch", None))
    # each path with the event and the test that read it first (pytest's PYTEST_CURRENT_TEST: this one)
    here = f"subprocess.Popen in {os.environ['PYTEST_CURRENT_TEST']}"
    assert "test_the_guard_takes_a_subprocess_argument" in here
    assert guard.violations == {str(root / "lambdas" / "x.py"): here, str(root / "lambdas" / "y.py"): here}


def request(repo: Path, excluded: tuple[str, ...] = ()) -> suite.SuiteRequest:
    (repo / "test_one.py").write_text(PASSING_TEST)
    return suite.SuiteRequest(
        name="one",
        tests=["test_one.py", "-p", "no:cacheprovider", "--cov=lambdas", "--cov-report="],
        junit=repo / "build" / "one.xml",
        coverage=repo / "build" / "cov",
        cache=repo / "build" / "cache",
        excluded=excluded,
    )


def results(junit: Path) -> set[str]:
    return {
        p.get("value", "") for p in ET.parse(junit).getroot().iter("property") if p.get("name") == suite.RESULT_PROPERTY
    }


def run(req: suite.SuiteRequest, repo: Path) -> tuple[int, str]:
    out = io.StringIO()
    parent = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    env = {**parent, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3]), *sys.path])}
    return suite.run_suite(req, repo, env, out), out.getvalue()


def test_a_suite_is_reused_only_on_equal_inputs_and_its_report_says_so(repo: Path) -> None:
    req = request(repo)
    status, said = run(req, repo)
    assert status == 0, said
    assert results(req.junit) == {"ran"}
    status, said = run(req, repo)
    assert (status, results(req.junit)) == (0, {"reused"}), said
    assert "reused" in said
    (repo / "data.txt").write_text("two")  # the test now fails: it must run, not be reused
    status, said = run(req, repo)
    assert status != 0, said


def test_a_suite_that_reads_an_excluded_path_fails(repo: Path) -> None:
    req = request(repo, excluded=("data.txt",))
    status, said = run(req, repo)
    assert status != 0, said
    assert not (repo / "build" / "cache" / "one").exists()


def test_a_suite_does_not_inherit_the_calling_makes_flags(repo: Path) -> None:
    """`make test` passes UNIT_NICE=10 (and -j, its jobserver): a test running make must not see them."""
    req = request(repo)
    (repo / "test_one.py").write_text(
        "import os\n"
        "def test_no_make_flags():\n"
        "    made = {'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'UNIT_NICE', 'E2E_DESTROY', 'LABEL'}\n"
        "    assert not made & set(os.environ)\n"
        "    assert os.environ['KEPT'] == 'a user variable no make command line set'\n"
    )
    out = io.StringIO()
    parent = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    env = {
        **parent,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3]), *sys.path]),
        "MAKEFLAGS": r"-j6 -Otarget --jobserver-auth=fifo:/tmp/x -- UNIT_NICE=10 LABEL:=a\ b E2E_DESTROY=1",
        "UNIT_NICE": "10",  # make exports its command-line variables to recipes
        "E2E_DESTROY": "1",
        "LABEL": "a b",
        "KEPT": "a user variable no make command line set",
        "MFLAGS": "-j6",
        "MAKELEVEL": "1",
        "MAKEOVERRIDES": "${-*-command-variables-*-}",
    }
    assert suite.run_suite(req, repo, env, out) == 0, out.getvalue()


@pytest.mark.parametrize(
    ("makeflags", "dropped"),
    [
        ("", set()),
        ("-- ENV=production", {"ENV"}),
        ("k -j2 -- A=1 B+=2 C?=3 D::=4 E:=x\\ y", {"A", "B", "C", "D", "E"}),
        ("-j2 --jobserver-auth=fifo:/tmp/GMfifo1", set()),
        ("ns", set()),
    ],
)
def test_without_make_drops_the_make_variables_and_the_command_lines_ones(makeflags: str, dropped: set[str]) -> None:
    environ = dict.fromkeys(("ENV", "A", "B", "C", "D", "E", "HOME"), "v")
    environ |= {
        "MAKEFLAGS": makeflags,
        "MAKELEVEL": "1",
        "MFLAGS": "-j2",
        "MAKEOVERRIDES": "${-*-command-variables-*-}",
    }
    kept = suite.without_make(environ)
    assert set(kept) == {"ENV", "A", "B", "C", "D", "E", "HOME"} - dropped


def test_junit_merge_keeps_every_testsuite(tmp_path: Path) -> None:
    for name, tests in (("a", 2), ("b", 3)):
        (tmp_path / f"{name}.xml").write_text(f'<testsuites><testsuite name="{name}" tests="{tests}"/></testsuites>')
    suite.merge_junit([tmp_path / "a.xml", tmp_path / "b.xml"], tmp_path / "m.xml")
    merged = ET.parse(tmp_path / "m.xml").getroot()
    assert [(s.get("name"), s.get("tests")) for s in merged.iter("testsuite")] == [("a", "2"), ("b", "3")]
