"""pipeline.policy.checkov: reading inputs, running Checkov, turning its report into findings and problems."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.settings import Settings
from pipeline.policy import checkov as policy


def report(
    check_type: str, passed: list[dict[str, str]], failed: list[dict[str, str]], errors: list[str]
) -> dict[str, object]:
    return {
        "check_type": check_type,
        "results": {"passed_checks": passed, "failed_checks": failed, "parsing_errors": errors},
    }


def item(check: str, resource: str, file_path: str = "/cdk.tf.json") -> dict[str, str]:
    return {"check_id": check, "check_name": f"Ensure {check}", "resource": resource, "file_path": file_path}


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps({"resource": {"aws_sqs_queue": {"q": {}}, "aws_sns_topic": {"t": {}}}}))
    return path


def test_the_framework_follows_the_input(tmp_path: Path, stack_file: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "planned_values": {}}))
    assert policy.framework_for(plan) == policy.TERRAFORM_PLAN
    assert policy.framework_for(stack_file) == policy.TERRAFORM_JSON


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"variable": {}}'])
def test_an_input_that_is_neither_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(PipelineError):
        policy.framework_for(path)


def test_python_check_ids_get_their_type_back() -> None:
    types = {"q": "aws_sqs_queue"}
    assert policy.address("resource.q", types) == "aws_sqs_queue.q"
    assert policy.address("resource.unknown", types) == "resource.unknown"
    assert policy.address("aws_s3_bucket.b", types) == "aws_s3_bucket.b"


def test_data_source_ids_get_their_type_back(tmp_path: Path) -> None:
    stack = tmp_path / "cdk.tf.json"
    doc = {"data": {"aws_iam_policy_document": {"d": {}}}, "resource": {"aws_sqs_queue": {"d": {}}}}
    stack.write_text(json.dumps(doc))
    types = policy.resource_types(stack)
    assert policy.address("data.d", types) == "data.aws_iam_policy_document.d"
    assert policy.address("resource.d", types) == "aws_sqs_queue.d"
    assert policy.address("data.other", types) == "data.other"


def test_command_scans_a_file_or_a_directory(tmp_path: Path, stack_file: Path) -> None:
    checkov = Path("checkov")
    file_args = [str(a) for a in policy.command(checkov, stack_file, "terraform_json", tmp_path)]
    assert file_args[1:3] == ["--file", str(stack_file)]
    assert "--soft-fail" in file_args and "--skip-download" in file_args and "--check" not in file_args
    dir_args = [str(a) for a in policy.command(checkov, tmp_path, "terraform_json", tmp_path, ["CKV_PAY_001"])]
    assert dir_args[1:5] == ["--directory", str(tmp_path), "--check", "CKV_PAY_001"]


def test_a_python_console_script_runs_under_its_interpreter_with_the_heap_frozen_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "checkov"
    script.write_text(
        f"#!{sys.executable}\nimport gc, sys\nimport atexit\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "if __name__ == '__main__':\n    print('argv:', sys.argv[1:])\n    sys.exit(3)\n"
    )
    script.chmod(0o755)
    argv = policy.launcher(script)
    assert argv[0] == Path(sys.executable) and argv[-1] == script
    done = subprocess.run([*argv, "--file", "x.tf.json"], capture_output=True, text=True, check=False)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["argv: ['--file', 'x.tf.json']", "frozen at exit: True"]


@pytest.mark.parametrize("first_line", ["#!/bin/sh", "#!/usr/bin/env python3", "\x7fELF", ""])
def test_anything_else_runs_as_it_is(tmp_path: Path, first_line: str) -> None:
    script = tmp_path / "checkov"
    script.write_text(first_line + "\n")
    assert policy.launcher(script) == [script]
    assert policy.launcher(tmp_path / "missing") == [tmp_path / "missing"]


def test_parse_reads_every_result_of_the_right_framework(stack_file: Path) -> None:
    stdout = json.dumps(
        [
            report("terraform_json", [item("CKV_PAY_003", "resource.q")], [item("CKV_AWS_1", "aws_sns_topic.t")], []),
            report("secrets", [], [item("CKV_SECRET_1", "x")], []),
        ]
    )
    stderr = "2026 ERROR Cannot load external check 'broken' from x.py\nunrelated"
    (scan,) = policy.parse(stdout, stderr, target=stack_file, framework="terraform_json").values()
    assert [(f.check_id, f.resource, f.result) for f in scan.findings] == [
        ("CKV_PAY_003", "aws_sqs_queue.q", "passed"),
        ("CKV_AWS_1", "aws_sns_topic.t", "failed"),
    ]
    assert scan.load_errors == ("2026 ERROR Cannot load external check 'broken' from x.py",)
    assert scan.resources == {"aws_sqs_queue.q", "aws_sns_topic.t"}
    assert [f.check_id for f in scan.pack_findings] == ["CKV_PAY_003"]
    assert any("failed to load" in p for p in scan.problems())


def test_parse_splits_a_directory_scan_per_file(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "main.tf.json").write_text(json.dumps({"resource": {"aws_sqs_queue": {name: {}}}}))
    stdout = json.dumps(
        report(
            "terraform_json",
            [item("CKV_PAY_003", "resource.a", "/a/main.tf.json")],
            [item("CKV_PAY_003", "resource.b", "/b/main.tf.json")],
            [],
        )
    )
    scans = policy.parse(stdout, "", target=tmp_path, framework="terraform_json")
    assert {p.parent.name: [f.resource for f in s.findings] for p, s in scans.items()} == {
        "a": ["aws_sqs_queue.a"],
        "b": ["aws_sqs_queue.b"],
    }


def test_an_empty_report_is_zero_resources_scanned(stack_file: Path) -> None:
    (scan,) = policy.parse("", "", target=stack_file, framework="terraform_json").values()
    assert scan.problems() == [f"{stack_file}: Checkov scanned 0 resources (terraform_json)"]


def test_no_pack_result_and_parse_errors_are_problems(stack_file: Path) -> None:
    stdout = json.dumps(report("terraform_json", [item("CKV_AWS_1", "aws_sns_topic.t")], [], ["/cdk.tf.json"]))
    (scan,) = policy.parse(stdout, "", target=stack_file, framework="terraform_json").values()
    problems = scan.problems()
    assert f"{stack_file}: parse error in /cdk.tf.json" in problems
    assert any("the policy pack produced no result" in p for p in problems)


def test_text_that_is_not_a_report_is_an_error(stack_file: Path) -> None:
    with pytest.raises(PipelineError, match="no JSON report"):
        policy.parse("Traceback (most recent call last)", "", target=stack_file, framework="terraform_json")


def fake_checkov(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-checkov"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def settings_with(settings: Settings, checkov: Path) -> Settings:
    return Settings(repo_root=settings.repo_root, environ=settings.environ, checkov=checkov)


def test_a_checkov_that_crashes_is_an_error(machine_settings: Settings, tmp_path: Path, stack_file: Path) -> None:
    settings = settings_with(machine_settings, fake_checkov(tmp_path, "echo boom >&2; exit 2"))
    with pytest.raises(PipelineError, match=r"Checkov failed .* boom"):
        policy.scan(stack_file, tmp_path, settings)


def test_a_non_zero_exit_with_a_report_is_a_parse_problem(
    machine_settings: Settings, tmp_path: Path, stack_file: Path
) -> None:
    printed = json.dumps(report("terraform_json", [item("CKV_PAY_003", "resource.q")], [], []))
    settings = settings_with(machine_settings, fake_checkov(tmp_path, f"echo '{printed}'; echo parse >&2; exit 1"))
    scan = policy.scan(stack_file, tmp_path, settings)
    assert [f.resource for f in scan.findings] == ["aws_sqs_queue.q"]
    assert any("Checkov exited 1: parse" in p for p in scan.problems())


def test_a_configuration_under_any_file_name_is_scanned(machine_settings: Settings, tmp_path: Path) -> None:
    """Checkov's terraform_json runner skips files not named *.tf.json; the gate scans a copy instead."""
    mutated = tmp_path / "mutated-stack.json"
    mutated.write_text(json.dumps({"resource": {"aws_sns_topic": {"fail_plain_topic": {"name": "t"}}}}))
    checks = machine_settings.repo_root / "policies" / "checks"

    scan = policy.scan(mutated, checks, machine_settings)

    assert scan.input == mutated
    assert scan.resources == {"aws_sns_topic.fail_plain_topic"}
    failed = {f.check_id for f in scan.findings if f.result == "failed"}
    assert "CKV_PAY_004" in failed
    assert not list(tmp_path.glob("*.tf.json"))  # the copy lived in its own temporary folder
