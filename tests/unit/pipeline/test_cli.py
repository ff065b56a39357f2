"""`python -m pipeline <command>`: settings from the environment, one line per result, exit 1 with a sentence."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import runpy
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pipeline.build import artifact
from pipeline.cli import main, parser
from pipeline.core.settings import Settings
from pipeline.core.toolchain import MISSING_TERRAFORM
from pipeline.deploy import apply as deploy
from pipeline.e2e import run as e2e
from pipeline.localstack import instance as localstack
from stacks.constants import FUNCTION_HANDLERS

REPO_ROOT = Path(__file__).resolve().parents[3]
UV = REPO_ROOT / "build" / "tools" / "bin" / "uv"
ExecutableFactory = Callable[[str, str], Path]


def run_cli(*argv: str, environ: Mapping[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def machine_environ(tmp_path: Path) -> dict[str, str]:
    """This machine's environment with caches in tmp, as `make` would pass it."""
    environ = {**os.environ, "PAYGATE_UV": str(UV), "PAYGATE_CACHE_DIR": str(tmp_path / "cache")}
    environ.pop("UV_CACHE_DIR", None)
    environ.pop("TF_PROVIDER_MIRROR", None)
    return environ


def test_doctor_prints_what_it_found(machine_environ: dict[str, str]) -> None:
    code, out, err = run_cli("doctor", environ=machine_environ)
    assert (code, err) == (0, "")
    assert [line.split(":")[0] for line in out.splitlines()] == ["python", "terraform", "provider"]


def test_doctor_exits_1_with_one_sentence_per_missing_prerequisite(
    machine_environ: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = run_cli("doctor", environ={**machine_environ, "PATH": str(tmp_path)})
    assert code == 1
    assert "terraform" not in out
    assert MISSING_TERRAFORM in err.splitlines()


def test_tf_config_renders_the_mirror_config(
    machine_environ: dict[str, str], tmp_path: Path, provider_mirror: Path
) -> None:
    target = tmp_path / "out" / "terraform.tfrc"
    code, out, _ = run_cli("tf-config", "--out", str(target), environ=machine_environ)
    assert code == 0
    assert f'path    = "{provider_mirror}"' in target.read_text()
    assert out == f"terraform CLI config {target}: hashicorp/aws from filesystem mirror {provider_mirror} (detected)\n"


def test_tf_lock_regenerates_the_committed_lock_file_offline(machine_environ: dict[str, str], tmp_path: Path) -> None:
    committed = (REPO_ROOT / "terraform" / ".terraform.lock.hcl").read_text()
    target = tmp_path / "lock.hcl"
    target.write_text(committed)
    code, out, _ = run_cli("tf-lock", "--out", str(target), environ=machine_environ)
    assert code == 0 and out.startswith(f"{target}: unchanged (hashicorp/aws from filesystem mirror")
    assert target.read_text() == committed


def test_tf_lock_from_the_registry_asks_terraform_for_every_platform(
    machine_environ: dict[str, str], make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    # A stand-in terraform: the real one would download from registry.terraform.io, unreachable here.
    make_executable(
        "terraform",
        """\
        if [ "$1" = version ]; then echo '{"terraform_version": "1.11.4"}'; exit 0; fi
        echo "$@" > .terraform.lock.hcl
        """,
    )
    target = tmp_path / "lock.hcl"
    environ = {**machine_environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{machine_environ['PATH']}"}
    argv = ("tf-lock", "--registry", "--platform", "linux_amd64", "--platform", "darwin_arm64", "--out", str(target))
    code, out, _ = run_cli(*argv, environ=environ)
    assert code == 0 and out == f"{target}: updated (hashicorp/aws from registry.terraform.io)\n"
    assert target.read_text() == "providers lock -no-color -platform=linux_amd64 -platform=darwin_arm64\n"


def test_package_builds_every_function_then_skips_them_when_unchanged(
    machine_environ: dict[str, str],
    scratch_repo: Path,
    make_settings: Callable[..., Settings],
    uv_project: Callable[..., None],
    function_code: Callable[[Path, Mapping[str, str]], None],
) -> None:
    uv_project(scratch_repo, make_settings(UV_OFFLINE="1"))
    function_code(scratch_repo, FUNCTION_HANDLERS)
    environ = {
        **machine_environ,
        "PAYGATE_REPO_ROOT": str(scratch_repo),
        "PAYGATE_PYTHON": sys.executable,
        "UV_OFFLINE": "1",
    }
    code, out, err = run_cli("package", "--out", "dist", environ=environ)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in (scratch_repo / "dist").iterdir()) == sorted(
        [f"{key}.zip" for key in FUNCTION_HANDLERS] + ["manifest.json"]
    )
    assert out.count(": written,") == len(FUNCTION_HANDLERS)
    code, out, _ = run_cli("package", "--out", "dist", environ=environ)
    assert code == 0 and out.count(": unchanged,") == len(FUNCTION_HANDLERS)


def test_validate_checks_a_stack_offline_with_the_committed_lock_file(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path
) -> None:
    config = tmp_path / "rendered.tfrc"
    argv = ("validate", "--stack-dir", str(sqs_stack), "--tf-config", str(config))
    code, out, err = run_cli(*argv, environ=machine_environ)
    assert (code, err) == (0, "")
    assert f"{sqs_stack}: Success! The configuration is valid." in out
    assert "filesystem_mirror" in config.read_text()
    committed = REPO_ROOT / "terraform" / ".terraform.lock.hcl"
    assert (sqs_stack / ".terraform.lock.hcl").read_text() == committed.read_text()


def test_validate_of_a_missing_stack_exits_1(machine_environ: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run_cli("validate", "--stack-dir", str(tmp_path), environ=machine_environ)
    assert code == 1
    assert err == f"error: {tmp_path / 'cdk.tf.json'} does not exist: synthesize the stack first (`make synth`).\n"


def test_an_unknown_command_is_a_usage_error(machine_environ: dict[str, str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli("deploy", environ=machine_environ)
    assert caught.value.code == 2


def test_python_dash_m_pipeline_runs_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shutil.which("terraform"), "terraform must be on PATH"
    monkeypatch.setattr(sys, "argv", ["pipeline", "doctor"])
    monkeypatch.chdir(REPO_ROOT)
    with pytest.raises(SystemExit) as caught:
        runpy.run_module("pipeline", run_name="__main__")
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("python:")


def test_plan_then_policy_gate_on_both_inputs_fails_on_a_non_compliant_stack(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.json"
    argv = ("plan", "--stack-dir", str(sqs_stack), "--out", str(plan_file), "--work-dir", str(tmp_path / "work"))
    code, out, err = run_cli(*argv, "--tf-config", str(tmp_path / "rendered.tfrc"), environ=machine_environ)
    assert (code, err) == (0, "")
    assert f"{plan_file}: plan JSON written" in out
    assert not list(sqs_stack.glob("*_override.tf.json")), "the synthesized stack stays untouched"
    stack_file = sqs_stack / "cdk.tf.json"
    reports_dir = tmp_path / "reports"
    code, out, err = run_cli(
        "policy-gate",
        "--input",
        str(stack_file),
        "--input",
        str(plan_file),
        "--out",
        str(reports_dir),
        environ=machine_environ,
    )
    assert code == 1
    assert "policy gate failed: failed checks: " in err and "CKV_PAY_003" in err
    assert "FAILED high     CKV_PAY_003  aws_sqs_queue.payments [terraform_json, terraform_plan]" in out
    assert (reports_dir / "pci_coverage.md").is_file()


def test_policy_gate_on_a_missing_input_exits_1(machine_environ: dict[str, str], tmp_path: Path) -> None:
    # Reports into tmp: the default build/policy is the checkout's, and a gate run forgets its evidence.json.
    argv = ("policy-gate", "--input", str(tmp_path / "nope.json"), "--out", str(tmp_path / "policy"))
    code, _, err = run_cli(*argv, environ=machine_environ)
    assert code == 1
    assert err == f"error: no such input: {tmp_path / 'nope.json'}\n"


# --- the artifact's evidence and the LocalStack commands ---------------------------------------------


def checkov_printing(tmp_path: Path, result: str) -> Path:
    """A stand-in Checkov reporting one pack check with ``result`` on the SQS stack's queue."""
    item = {
        "check_id": "CKV_PAY_003",
        "check_name": "Ensure SQS queues are encrypted",
        "resource": "aws_sqs_queue.payments",
        "file_path": "/cdk.tf.json",
    }
    outcome = {"passed": "passed_checks", "failed": "failed_checks"}[result]
    report = {"check_type": "terraform_json", "results": {outcome: [item], "parsing_errors": []}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    checkov = tmp_path / "fake-checkov"
    checkov.write_text(f"#!/bin/sh\ncat {tmp_path / 'report.json'}\n")
    checkov.chmod(0o755)
    return checkov


def gate_environ(machine_environ: dict[str, str], tmp_path: Path, result: str) -> dict[str, str]:
    """The CLI's environment for a policy gate whose (stand-in) Checkov reports ``result``."""
    return {
        **machine_environ,
        "PAYGATE_REPO_ROOT": str(REPO_ROOT),
        "PAYGATE_CHECKOV": str(checkov_printing(tmp_path, result)),
    }


def gate_argv(stack_file: Path, out: Path, waivers: Path) -> tuple[str, ...]:
    return ("policy-gate", "--input", str(stack_file), "--out", str(out), "--waivers", str(waivers))


@pytest.fixture
def no_waivers(tmp_path: Path) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers: []\n")
    return path


def test_a_passing_policy_gate_records_evidence_for_the_stack_dir(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path, no_waivers: Path
) -> None:
    environ = gate_environ(machine_environ, tmp_path, "passed")
    out_dir = tmp_path / "policy"
    code, out, err = run_cli(*gate_argv(sqs_stack / "cdk.tf.json", out_dir, no_waivers), environ=environ)
    assert (code, err) == (0, "")
    evidence = json.loads((out_dir / "evidence.json").read_text())
    assert evidence["artifact_sha256"] == artifact.digest(sqs_stack).sha256
    assert evidence["stack_dir"] == str(sqs_stack)
    assert [name for name, _ in evidence["inputs"]] == [str(sqs_stack / "cdk.tf.json")]
    assert out.endswith(f"evidence: artifact {evidence['artifact_sha256']} passed -> {out_dir / 'evidence.json'}\n")
    assert artifact.require_evidence(out_dir / "evidence.json", sqs_stack).sha256 == evidence["artifact_sha256"]


def test_a_policy_gate_on_an_input_not_named_cdk_tf_json_records_no_evidence(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path, no_waivers: Path
) -> None:
    environ = gate_environ(machine_environ, tmp_path, "passed")
    renamed = tmp_path / "stack.json"
    shutil.copyfile(sqs_stack / "cdk.tf.json", renamed)
    out_dir = tmp_path / "policy"
    code, out, err = run_cli(*gate_argv(renamed, out_dir, no_waivers), environ=environ)
    assert (code, err) == (0, "")
    assert "evidence:" not in out
    assert not (out_dir / "evidence.json").exists()


def test_a_failing_policy_gate_forgets_the_old_evidence(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path, no_waivers: Path
) -> None:
    environ = gate_environ(machine_environ, tmp_path, "failed")
    out_dir = tmp_path / "policy"
    artifact.record_evidence(out_dir, sqs_stack, [sqs_stack / "cdk.tf.json"], dt.datetime.now(dt.UTC))
    code, _, err = run_cli(*gate_argv(sqs_stack / "cdk.tf.json", out_dir, no_waivers), environ=environ)
    assert code == 1 and "policy gate failed: failed checks: CKV_PAY_003" in err
    assert not (out_dir / "evidence.json").exists()


def test_a_policy_gate_on_a_missing_input_forgets_the_old_evidence(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "policy"
    artifact.record_evidence(out_dir, sqs_stack, [sqs_stack / "cdk.tf.json"], dt.datetime.now(dt.UTC))
    argv = ("policy-gate", "--input", str(tmp_path / "nope.json"), "--out", str(out_dir))
    code, _, err = run_cli(*argv, environ=machine_environ)
    assert code == 1 and err.startswith("error: no such input:")
    assert not (out_dir / "evidence.json").exists()


def test_localstack_deploy_without_evidence_exits_1_before_starting_anything(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("LocalStack was started without evidence")

    monkeypatch.setattr(localstack, "start", must_not_start)
    monkeypatch.setattr(deploy, "deploy", must_not_start)
    environ = {**machine_environ, "PAYGATE_LOCALSTACK_DIR": str(tmp_path / "localstack")}
    evidence = tmp_path / "policy" / "evidence.json"
    argv = ("localstack-deploy", "--stack-dir", str(sqs_stack), "--evidence", str(evidence))
    code, _, err = run_cli(*argv, "--tf-config", str(tmp_path / "tfrc"), environ=environ)
    assert code == 1
    assert err == (
        f"error: no policy evidence at {evidence}: the artifact has not passed the policy gate (`make policy`).\n"
    )
    assert not (tmp_path / "localstack").exists()


def test_localstack_e2e_takes_earlier_phases_as_name_equals_seconds() -> None:
    args = parser().parse_args(
        ["localstack-e2e", "--stack-dir", "s", "--phase", "synth=12.5", "--phase", "policy gate=3", "--phase", "a=b=1"]
    )
    assert args.phase == [("synth", 12.5), ("policy gate", 3.0), ("a=b", 1.0)]
    assert parser().parse_args(["localstack-e2e", "--stack-dir", "s"]).phase is None


@pytest.mark.parametrize("value", ["synth", "synth=", "synth=fast"])
def test_localstack_e2e_refuses_a_phase_without_seconds(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parser().parse_args(["localstack-e2e", "--stack-dir", "s", "--phase", value])
    assert caught.value.code == 2
    assert f"--phase wants NAME=SECONDS, not {value!r}" in capsys.readouterr().err


def test_localstack_e2e_prints_the_summary_and_exits_by_its_verdict(
    machine_environ: dict[str, str], sqs_stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests: list[e2e.E2ERequest] = []
    summaries = iter(
        [
            e2e.Summary(artifact_sha256="a" * 64, counts=e2e.Counts(tests=3)),
            e2e.Summary(counts=e2e.Counts(tests=3, skipped=1), leftovers=["/x/run still exists"]),
            e2e.Summary(),
        ]
    )

    def fake_run(request: e2e.E2ERequest, settings: Settings, progress: Callable[[str], None]) -> e2e.Summary:
        requests.append(request)
        return next(summaries)

    monkeypatch.setattr(e2e, "run", fake_run)
    summary = tmp_path / "summary.json"
    argv = (
        "localstack-e2e",
        "--stack-dir",
        str(sqs_stack),
        "--tf-config",
        str(tmp_path / "tfrc"),
        "--summary",
        str(summary),
    )
    code, out, err = run_cli(*argv, "--phase", "synth=2", "--pytest-arg=-x", environ=machine_environ)
    assert (code, err) == (0, "")
    assert out.endswith("result: PASSED\n")
    assert json.loads(summary.read_text())["artifactSha256"] == "a" * 64  # for the evidence (pipeline/evidence)
    (request,) = requests
    assert (request.prior_phases, request.pytest_args, request.tests) == (
        [("synth", 2.0)],
        ["-x"],
        ["tests/localstack"],
    )
    assert request.python == Path(sys.executable)
    assert request.deploy.stack_dir == sqs_stack
    code, out, err = run_cli(*argv, environ=machine_environ)
    assert code == 1 and out.endswith("result: FAILED\n")
    assert err == "error: localstack-e2e failed: /x/run still exists\n"
    code, _, err = run_cli(*argv, environ=machine_environ)
    assert err == "error: localstack-e2e failed: see above\n"
