"""pipeline.e2e without LocalStack: JUnit totals, the summary, the process tree, leftovers, the e2e settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from pipeline.core import procs
from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed, Completed
from pipeline.core.settings import Settings
from pipeline.deploy import apply as deploy
from pipeline.e2e import run as e2e
from pipeline.localstack import instance as localstack
from pipeline.localstack import venv as localstack_venv
from pipeline.localstack.instance import Instance

SettingsFactory = Callable[..., Settings]


def write_junit(path: Path, text: str) -> Path:
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>{text}')
    return path


@pytest.fixture
def e2e_dir(make_settings: SettingsFactory, tmp_path: Path) -> Settings:
    """Settings whose LocalStack directory is a scratch folder (as e2e_settings makes for the e2e instance)."""
    return make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "e2e"))


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    """A shell with two sleeping children, killed (as a group) afterwards."""
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(procs.descendants(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield proc
    os.killpg(proc.pid, 9)
    proc.wait()


# --- JUnit totals and the summary ---------------------------------------------------------------------


def test_junit_counts_add_up_every_testsuite(tmp_path: Path) -> None:
    report = write_junit(
        tmp_path / "junit.xml",
        '<testsuites><testsuite name="pytest" tests="12" failures="2" errors="1" skipped="3" time="1.0">'
        '<testcase name="a"/></testsuite>'
        '<testsuite name="more" tests="4" failures="0" errors="0" skipped="1"/></testsuites>',
    )
    counts = e2e.junit_counts(report)
    assert counts == e2e.Counts(tests=16, failures=2, errors=1, skipped=4)
    assert counts.passed == 9


def test_junit_counts_read_a_bare_testsuite_and_missing_attributes_as_zero(tmp_path: Path) -> None:
    report = write_junit(tmp_path / "junit.xml", '<testsuite name="pytest" tests="5" failures="1"/>')
    assert e2e.junit_counts(report) == e2e.Counts(tests=5, failures=1, errors=0, skipped=0)


def test_a_missing_junit_report_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=re.escape(f"pytest wrote no JUnit report at {tmp_path / 'junit.xml'}")):
        e2e.junit_counts(tmp_path / "junit.xml")


@pytest.mark.parametrize(
    ("counts", "ok"),
    [
        (e2e.Counts(tests=3), True),
        (e2e.Counts(tests=3, skipped=1), False),
        (e2e.Counts(tests=3, failures=1), False),
        (e2e.Counts(tests=3, errors=1), False),
        (e2e.Counts(), False),
    ],
    ids=["all-passed", "one-skipped", "one-failed", "one-error", "no-tests"],
)
def test_only_a_run_where_every_test_passed_is_ok(counts: e2e.Counts, ok: bool) -> None:
    assert counts.ok is ok


def test_the_summary_is_ok_only_with_passing_tests_no_problem_and_no_leftover() -> None:
    assert e2e.Summary(counts=e2e.Counts(tests=2)).ok
    assert not e2e.Summary().ok
    assert not e2e.Summary(counts=e2e.Counts(tests=2, skipped=1)).ok
    assert not e2e.Summary(counts=e2e.Counts(tests=2), problems=["deploy (terraform): boom"]).ok
    assert not e2e.Summary(counts=e2e.Counts(tests=2), leftovers=["x still exists"]).ok


def test_a_passing_summary_renders_every_phase_the_totals_and_the_memory() -> None:
    summary = e2e.Summary(
        artifact_sha256="ab" * 32,
        phases=[("synth", 12.34, "ok"), ("localstack up", 3.0, "ok")],
        counts=e2e.Counts(tests=10, skipped=0),
        peak_rss=512 * 2**20,
        teardown="destroyed",
    )
    assert summary.render() == (
        "\n== localstack-e2e summary ==\n"
        f"artifact  sha256 {'ab' * 32}\n"
        "  synth                     12.3 s  ok\n"
        "  localstack up              3.0 s  ok\n"
        "  total                     15.3 s\n"
        "tests     10 run: 10 passed, 0 failed, 0 errors, 0 skipped\n"
        "LocalStack peak memory (process tree, with Lambda workers): 512 MiB\n"
        "teardown  destroyed\n"
        "leftovers: none (no process, no state)\n"
        "result: PASSED\n"
    )


def test_a_failed_summary_renders_problems_leftovers_and_says_no_tests_ran() -> None:
    summary = e2e.Summary(
        phases=[("deploy (terraform)", 1.0, "FAILED")],
        problems=["deploy (terraform): terraform apply failed"],
        leftovers=["/x/run still exists", "/x/state.json still exists"],
    )
    text = summary.render()
    assert "artifact  sha256 (not reached)\n" in text
    assert "tests     not run (no JUnit report)\n" in text
    assert "teardown  not reached\n" in text
    assert "leftovers: /x/run still exists; /x/state.json still exists\n" in text
    assert text.endswith("FAILED: deploy (terraform): terraform apply failed\nresult: FAILED\n")


def test_a_phase_records_its_time_and_state_and_a_failure_as_a_problem() -> None:
    summary = e2e.Summary()
    shown: list[str] = []
    with e2e.phase(summary, "up", shown.append):
        pass
    with pytest.raises(PipelineError), e2e.phase(summary, "deploy", shown.append):
        raise PipelineError("terraform apply failed (exit 1)\nlong output")
    with pytest.raises(KeyboardInterrupt), e2e.phase(summary, "tests", shown.append):
        raise KeyboardInterrupt
    assert shown == ["== up", "== deploy", "== tests"]
    assert [(name, state) for name, _, state in summary.phases] == [
        ("up", "ok"),
        ("deploy", "FAILED"),
        ("tests", "FAILED"),
    ]
    assert summary.problems == ["deploy: terraform apply failed (exit 1)", "tests: KeyboardInterrupt"]


def test_counts_of_a_run_report_a_missing_or_broken_report_once(tmp_path: Path) -> None:
    summary = e2e.Summary()
    assert e2e._counts(tmp_path / "junit.xml", summary) is None
    assert summary.problems == [f"pytest wrote no JUnit report at {tmp_path / 'junit.xml'}"]
    broken = write_junit(tmp_path / "broken.xml", "<testsuites>")
    assert e2e._counts(broken, summary) is None
    assert len(summary.problems) == 1, "a phase that failed already explains the missing report"
    fresh = e2e.Summary()
    assert e2e._counts(broken, fresh) is None and len(fresh.problems) == 1
    good = write_junit(tmp_path / "good.xml", '<testsuite tests="1"/>')
    assert e2e._counts(good, fresh) == e2e.Counts(tests=1)


def raising(exc: BaseException) -> None:
    raise exc


def test_teardown_steps_go_on_after_a_pipeline_or_os_error_only() -> None:
    with e2e._recorded():
        raising(PipelineError("terraform destroy failed"))
    with e2e._recorded():
        raising(FileNotFoundError("state"))
    with pytest.raises(KeyboardInterrupt), e2e._recorded():
        raising(KeyboardInterrupt())


def e2e_request(tmp_path: Path, junit: Path, *, destroy: bool = True) -> e2e.E2ERequest:
    deploy_request = deploy.DeployRequest(
        stack_dir=tmp_path / "stack",
        evidence=tmp_path / "evidence.json",
        lock_file=tmp_path / "lock.hcl",
        cli_config=tmp_path / "tfrc",
        terraform=tmp_path / "terraform",
    )
    return e2e.E2ERequest(
        deploy=deploy_request,
        python=Path("/venv/bin/python"),
        tests=["tests/localstack"],
        junit=junit,
        work_root=tmp_path / "e2e",
        pytest_args=["-x"],
        destroy=destroy,
    )


def test_the_suite_runs_pytest_with_a_fresh_junit_report_and_the_outputs_file(
    e2e_dir: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junit = tmp_path / "e2e-reports" / "junit.xml"
    junit.parent.mkdir()
    junit.write_text("an old report")
    calls: list[tuple[tuple[str, ...], dict[str, str], Path | None, str]] = []

    def fake_stream(
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        check: str,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> Completed:
        calls.append((tuple(str(a) for a in args), dict(env), cwd, check))
        assert not junit.exists(), "the old report is gone before pytest runs"
        on_line("1 passed")
        return Completed(tuple(str(a) for a in args), 0, "1 passed\n", "")

    monkeypatch.setattr(e2e, "stream", fake_stream)
    shown: list[str] = []
    e2e._tests(e2e_request(tmp_path, junit), e2e_dir, shown.append)

    ((argv, env, cwd, check),) = calls
    assert argv == (
        "/venv/bin/python",
        "-m",
        "pytest",
        "tests/localstack",
        f"--junitxml={junit}",
        "-p",
        "no:cacheprovider",
        "-rfEs",
        "-n",
        str(e2e.TEST_WORKERS),
        "--dist",
        "loadgroup",
        "-x",
    )
    assert env["PAYGATE_E2E_OUTPUTS"] == str(e2e_dir.localstack_dir / "outputs.json")
    assert (cwd, check) == (e2e_dir.repo_root, "the e2e suite")
    assert shown == ["1 passed"]


def test_a_failing_suite_is_one_sentence_pointing_at_the_output_above(
    e2e_dir: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_stream(
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        check: str,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> Completed:
        raise CommandFailed(check, Completed(tuple(str(a) for a in args), 1, "long pytest output", ""))

    monkeypatch.setattr(e2e, "stream", fake_stream)
    with pytest.raises(PipelineError) as caught:
        e2e._tests(e2e_request(tmp_path, tmp_path / "new" / "junit.xml"), e2e_dir, print)
    assert str(caught.value) == "the e2e suite failed (exit 1); see the output above"
    assert (tmp_path / "new").is_dir()


# --- the process tree -----------------------------------------------------------------------------------


def test_descendants_and_parents_follow_a_real_process_tree(tree: subprocess.Popen[bytes]) -> None:
    children = procs.descendants(tree.pid)
    assert len(children) == 2
    assert all(procs.stat(child).ppid == tree.pid for child in children)  # type: ignore[union-attr]
    assert procs.stat(tree.pid).ppid == os.getpid()  # type: ignore[union-attr]
    assert tree.pid in procs.descendants(os.getpid())
    assert set(children) <= set(procs.descendants(os.getpid()))
    assert procs.descendants(children[0]) == []


def test_rss_is_read_for_a_live_process_and_zero_for_a_gone_one(tree: subprocess.Popen[bytes]) -> None:
    assert procs.rss(tree.pid) > 0
    assert procs.rss(os.getpid()) > 10 * 2**20
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert procs.rss(gone.pid) == 0
    assert procs.stat(gone.pid) is None


def test_peak_memory_covers_the_process_and_its_descendants(tree: subprocess.Popen[bytes]) -> None:
    own = procs.rss(tree.pid)
    with e2e.PeakMemory(tree.pid) as memory:
        time.sleep(0.05)
    assert memory.peak > own
    assert not memory._thread.is_alive()


# --- leftovers -------------------------------------------------------------------------------------------


def test_a_clean_run_leaves_nothing(e2e_dir: Settings) -> None:
    assert e2e.leftovers(e2e_dir, None) == []
    e2e_dir.localstack_dir.mkdir()
    (e2e_dir.localstack_dir / "venv").mkdir()  # the shared venv link stays, by design
    assert e2e.leftovers(e2e_dir, None) == []


def test_a_left_run_dir_state_file_and_outputs_are_reported(e2e_dir: Settings) -> None:
    layout = localstack.Layout.of(e2e_dir)
    layout.run_dir.mkdir(parents=True)
    layout.state_file.write_text("{}")
    (e2e_dir.localstack_dir / "outputs.json").write_text("{}")
    assert e2e.leftovers(e2e_dir, None) == [
        f"{layout.run_dir} still exists",
        f"{layout.state_file} still exists",
        f"{e2e_dir.localstack_dir / 'outputs.json'} still exists",
    ]


def test_a_process_working_in_the_run_dir_is_reported(e2e_dir: Settings) -> None:
    run_dir = localstack.Layout.of(e2e_dir).run_dir
    (run_dir / "lambda").mkdir(parents=True)
    worker = subprocess.Popen(["sleep", "30"], cwd=run_dir / "lambda")
    try:
        found = e2e.leftovers(e2e_dir, None)
    finally:
        worker.kill()
        worker.wait()
    assert f"process {worker.pid} of the e2e LocalStack still runs: sleep 30" in found
    assert f"{run_dir} still exists" in found
    assert not any(f"process {worker.pid} " in line for line in e2e.leftovers(e2e_dir, None))


def test_a_process_naming_the_run_dir_or_the_instance_pid_is_reported(e2e_dir: Settings, tmp_path: Path) -> None:
    run_dir = localstack.Layout.of(e2e_dir).run_dir
    # One process that never forks (a shell running `sleep` may fork a child that shows the shell's command line,
    # naming the run dir too, until it execs: a second leftover now and then).
    named = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(run_dir / "x")], cwd=tmp_path)
    leader = subprocess.Popen(["sleep", "31"], cwd=tmp_path)
    instance = Instance(leader.pid, 4599, "http://localhost:4599", str(run_dir), str(run_dir / "localstack.log"))
    try:
        found = [line for line in e2e.leftovers(e2e_dir, instance) if line.startswith("process ")]
    finally:
        for proc in (named, leader):
            proc.kill()
            proc.wait()
    named_cmdline = f"{sys.executable} -c import time; time.sleep(30) {run_dir / 'x'}"
    assert sorted(found) == sorted(
        [
            f"process {named.pid} of the e2e LocalStack still runs: {named_cmdline[:80]}",
            f"process {leader.pid} of the e2e LocalStack still runs: sleep 31",
        ]
    )


def test_a_zombie_is_not_a_leftover(e2e_dir: Settings) -> None:
    run_dir = localstack.Layout.of(e2e_dir).run_dir
    run_dir.mkdir(parents=True)
    zombie = subprocess.Popen(["true"], cwd=run_dir)
    deadline = time.monotonic() + 5
    while (found := procs.stat(zombie.pid)) is not None and found.state != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        found = e2e.leftovers(e2e_dir, None)
    finally:
        zombie.wait()
    assert found == [f"{run_dir} still exists"]


# --- the e2e instance's settings -------------------------------------------------------------------------


def shared_venv(settings: Settings) -> Path:
    python = localstack_venv.venv_python(settings)
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    return localstack_venv.venv_dir(settings)


def test_e2e_settings_use_their_own_directory_and_link_the_shared_venv(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "localstack"))
    venv = shared_venv(settings)
    work_root = tmp_path / "build" / "localstack-e2e"

    own = e2e.e2e_settings(settings, work_root)

    assert own.localstack_dir == work_root
    assert (own.repo_root, own.environ) == (settings.repo_root, settings.environ)
    link = work_root / "venv"
    assert link.is_symlink() and link.readlink() == venv.resolve()
    assert localstack_venv.require(own) == link / "bin" / "python"
    assert e2e.e2e_settings(settings, work_root) == own, "a second run reuses the link"


def test_e2e_settings_refuse_a_venv_that_is_not_a_link(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "localstack"))
    venv = shared_venv(settings)
    work_root = tmp_path / "e2e"
    (work_root / "venv").mkdir(parents=True)
    with pytest.raises(PipelineError) as caught:
        e2e.e2e_settings(settings, work_root)
    assert str(caught.value) == f"{work_root / 'venv'} exists and is not a link to {venv}: remove it."


def test_e2e_settings_need_the_shared_venv(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "localstack"))
    with pytest.raises(PipelineError, match=r"LocalStack's virtualenv is missing .*`make localstack-venv`"):
        e2e.e2e_settings(settings, tmp_path / "e2e")
    assert not (tmp_path / "e2e").exists()


class StagedRun:
    """``e2e.run`` with every step replaced by a recorder: what ran, in which order, and what it said."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
        self.calls: list[str] = []
        self.lines: list[str] = []
        self.settings = settings
        self.tmp_path = tmp_path
        self.instance = Instance(4242, 4566, "http://localhost:4566", str(tmp_path / "run"), str(tmp_path / "ls.log"))
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(e2e.artifact, "require_evidence", lambda *_: e2e.artifact.Artifact("ab" * 32, ()))
        monkeypatch.setattr(e2e, "e2e_settings", lambda *_: settings)
        monkeypatch.setattr(localstack, "start_owned", lambda *_: (self.calls.append("up") or self.instance, None))
        self.step(deploy, "deploy", returns=deploy.Deployment(e2e.artifact.Artifact("ab" * 32, ()), {}, tmp_path))
        self.step(e2e, "_tests", "tests")
        self.step(deploy, "destroy")
        self.step(e2e, "keep_log", "keep log")
        monkeypatch.setattr(localstack, "stop", lambda settings, child=None: self.calls.append("down"))

    def step(
        self,
        module: object,
        name: str,
        label: str | None = None,
        raises: BaseException | None = None,
        returns: object = True,
    ) -> None:
        """Replace ``module.name`` by a recorder (that raises ``raises``, when given, else returns ``returns``)."""

        def recorded(*_: object) -> object:
            self.calls.append(label or name)
            if raises is not None:
                raise raises
            return returns

        self.monkeypatch.setattr(module, name, recorded)

    def run(self, *, destroy: bool = True) -> e2e.Summary:
        request = e2e_request(self.tmp_path, self.tmp_path / "junit.xml", destroy=destroy)
        return e2e.run(request, self.settings, self.lines.append)


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch, e2e_dir: Settings, tmp_path: Path) -> StagedRun:
    return StagedRun(monkeypatch, e2e_dir, tmp_path)


def test_an_interrupt_stops_the_run_but_not_its_teardown(staged: StagedRun) -> None:
    staged.step(deploy, "deploy", raises=KeyboardInterrupt())

    summary = staged.run()

    assert staged.calls == ["up", "deploy", "destroy", "keep log", "down"]
    assert not summary.ok
    assert summary.problems[-1] == "interrupted; teardown ran"
    assert [name for name, _, state in summary.phases if state == "FAILED"] == ["deploy (terraform)"]


def test_an_unprotected_deployment_is_destroyed_through_terraform_and_the_summary_says_so(staged: StagedRun) -> None:
    summary = staged.run()

    assert staged.calls == ["up", "deploy", "tests", "destroy", "keep log", "down"]
    assert summary.teardown == "destroyed"
    assert "teardown  destroyed\n" in summary.render()


def test_without_destroy_the_deployment_is_discarded_with_the_instance_and_the_summary_says_so(
    staged: StagedRun,
) -> None:
    outputs = staged.settings.localstack_dir / "outputs.json"
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text("{}")
    summary = staged.run(destroy=False)
    assert staged.calls == ["up", "deploy", "tests", "keep log", "down"]
    assert summary.teardown == e2e.NOT_DESTROYED
    assert "destroy (terraform)" not in [name for name, _, _ in summary.phases]
    assert f"teardown  {e2e.NOT_DESTROYED}" in summary.render()
    assert not outputs.exists(), "the outputs of a discarded deployment are removed, as destroy removes them"


def test_a_deployment_with_deletion_protection_is_discarded_not_destroyed_and_the_summary_says_so(
    staged: StagedRun,
) -> None:
    """Production: terraform destroy cannot delete protected tables; stopping LocalStack discards them."""
    work = deploy.work_dir(staged.instance)
    work.mkdir(parents=True)
    protected = {"aws_dynamodb_table": {"payments": {"deletion_protection_enabled": True}}}
    (work / "cdk.tf.json").write_text(json.dumps({"resource": protected}))
    outputs = deploy.outputs_file(staged.settings)
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text("{}")  # as the deploy wrote it

    summary = staged.run()

    assert staged.calls == ["up", "deploy", "tests", "keep log", "down"]
    assert summary.teardown == (
        "discarded: deletion protection (1 protected resources; the instance is stopped with its state)"
    )
    assert "destroy (terraform)" not in [name for name, _, _ in summary.phases]
    assert "not destroyed through terraform: deletion protection on aws_dynamodb_table.payments; discarding it" in (
        staged.lines
    )
    assert "teardown  discarded: deletion protection" in summary.render()
    assert not outputs.exists(), "the outputs of a discarded deployment are removed, as destroy removes them"


def test_a_failed_teardown_step_is_recorded_as_failed_and_the_next_one_still_runs(staged: StagedRun) -> None:
    staged.step(deploy, "destroy", raises=PipelineError("terraform destroy failed"))

    def stop(settings: Settings, child: object = None) -> None:
        staged.calls.append("down")
        raise PipelineError("LocalStack did not stop")

    staged.monkeypatch.setattr(localstack, "stop", stop)

    summary = staged.run()

    assert staged.calls == ["up", "deploy", "tests", "destroy", "keep log", "down"]
    assert summary.teardown == "destroy failed"
    assert summary.problems[-2:] == [
        "destroy (terraform): terraform destroy failed",
        "localstack down: LocalStack did not stop",
    ]
    states = {name: state for name, _, state in summary.phases}
    assert (states["destroy (terraform)"], states["localstack down"]) == ("FAILED", "FAILED")
    assert not summary.ok


def test_sigterm_unwinds_like_ctrl_c() -> None:
    """``python -m pipeline`` turns SIGTERM into KeyboardInterrupt, so ``finally`` blocks run."""
    script = (
        "import os, signal, sys\n"
        "from pipeline.cli import interrupt_on_sigterm\n"
        "interrupt_on_sigterm()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    signal.pause()\n"
        "except KeyboardInterrupt:\n"
        "    print('teardown ran')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "teardown ran"), done.stderr


def test_a_failed_suite_has_localstack_dump_its_threads_before_the_teardown(
    staged: StagedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stuck LocalStack explains itself in the kept log: the dump comes while the deployment still runs."""
    staged.step(e2e, "_tests", "tests", raises=PipelineError("the e2e suite failed (exit 1); see the output above"))
    monkeypatch.setattr(localstack, "dump_threads", lambda running: staged.calls.append(f"dump {running.pid}") or True)

    summary = staged.run()

    assert staged.calls == ["up", "deploy", "tests", "dump 4242", "destroy", "keep log", "down"]
    assert "LocalStack's thread stacks were written to its log" in staged.lines
    assert summary.problems[0] == "e2e tests: the e2e suite failed (exit 1); see the output above"
    assert [name for name, _, state in summary.phases if state == "FAILED"] == ["e2e tests"]


def test_dump_threads_signals_only_a_live_localstack(tmp_path: Path) -> None:
    marker = tmp_path / "dumped"
    script = (
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGUSR2, lambda *_: pathlib.Path({str(marker)!r}).write_text('stacks'))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    # Named like LocalStack's runtime in its command line, as is_localstack() checks.
    fake = subprocess.Popen([sys.executable, "-c", script, localstack.MODULE], stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert fake.stdout is not None and fake.stdout.readline().strip() == "ready"
        as_instance = Instance(fake.pid, 1, "http://localhost:1", str(tmp_path), str(tmp_path / "log"))
        assert localstack.dump_threads(as_instance)
        deadline = time.monotonic() + 5
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.read_text() == "stacks"
        assert not localstack.dump_threads(Instance(other.pid, 1, "http://localhost:1", str(tmp_path), "log"))
        assert not localstack.dump_threads(None)
        assert other.poll() is None, "a process that is not LocalStack gets no signal"
    finally:
        for proc in (fake, other):
            proc.kill()
            proc.wait()


def test_the_slowest_tests_and_the_recorded_figures_come_from_the_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" tests="3">'
        '<testcase name="fast" time="0.1"/>'
        '<testcase name="poison" time="25.5"><properties><property name="poison_seconds_to_dlq" value="18.2"/>'
        "</properties></testcase>"
        '<testcase name="middle" time="3.0"/>'
        "</testsuite></testsuites>"
    )
    slowest, recorded = e2e.junit_timings(report, shown=2)
    assert slowest == [("poison", 25.5), ("middle", 3.0)]
    assert recorded == [("poison_seconds_to_dlq", "18.2")]
    assert e2e.junit_timings(tmp_path / "missing.xml") == ([], [])
    text = e2e.Summary(counts=e2e.Counts(tests=3), slowest=slowest, recorded=recorded).render()
    assert "slowest tests (seconds; they run concurrently):\n    25.5  poison\n     3.0  middle\n" in text
    assert "recorded by the tests: poison_seconds_to_dlq = 18.2 s\n" in text
