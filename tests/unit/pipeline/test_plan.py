"""pipeline.terraform.offline_plan: the offline plan's override files, the stack copy and the local stub."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.core.errors import PipelineError
from pipeline.terraform import offline_plan as plan


def test_overrides_point_the_provider_at_the_stub_and_the_state_at_a_local_file(tmp_path: Path) -> None:
    files = plan.overrides("http://127.0.0.1:1", tmp_path / "s.tfstate", "eu-west-1")
    assert files["backend_override.tf.json"] == {
        "terraform": {"backend": {"local": {"path": str(tmp_path / "s.tfstate")}}}
    }
    (provider,) = files["provider_override.tf.json"]["provider"]["aws"]  # type: ignore[index]
    assert provider["endpoints"] == [dict.fromkeys(("sts", "sfn", "kms"), "http://127.0.0.1:1")]
    assert (provider["region"], provider["max_retries"], provider["skip_credentials_validation"]) == (
        "eu-west-1",
        4,
        True,
    )


def test_prepare_copies_the_stack_without_terraform_state_and_leaves_it_untouched(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    (stack / ".terraform").mkdir(parents=True)
    (stack / "cdk.tf.json").write_text("{}")
    (stack / "old_override.tf.json").write_text("{}")
    (stack / "assets").mkdir()
    (stack / "assets" / "a.zip").write_text("zip")
    lock = tmp_path / "lock.hcl"
    lock.write_text("# lock")
    work = tmp_path / "work"
    (work / "stale").mkdir(parents=True)
    request = plan.PlanRequest(stack, work, lock, tmp_path / "tfrc", Path("terraform"))
    assert plan.prepare(request, "http://127.0.0.1:1") == work
    assert sorted(p.name for p in work.iterdir()) == [
        ".terraform.lock.hcl",
        "assets",
        "backend_override.tf.json",
        "cdk.tf.json",
        "provider_override.tf.json",
    ]
    assert sorted(p.name for p in stack.iterdir()) == [".terraform", "assets", "cdk.tf.json", "old_override.tf.json"]


def test_prepare_without_a_stack_is_an_error(tmp_path: Path) -> None:
    request = plan.PlanRequest(tmp_path, tmp_path / "work", tmp_path / "lock", tmp_path / "tfrc", Path("terraform"))
    with pytest.raises(PipelineError, match="synthesize the stack first"):
        plan.prepare(request, "http://127.0.0.1:1")


def post(url: str, body: bytes, target: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"X-Amz-Target": target} if target else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_stub_answers_the_two_plan_time_calls_and_refuses_others() -> None:
    with plan.plan_stub() as url:
        status, text = post(url, b"Action=GetCallerIdentity&Version=2011-06-15")
        assert status == 200 and f"<Account>{plan.STUB_ACCOUNT}</Account>" in text
        status, text = post(url, b"{}", "AWSStepFunctions.ValidateStateMachineDefinition")
        assert (status, json.loads(text)["result"]) == (200, "OK")
        status, text = post(url, b"{}", "AmazonSQS.CreateQueue")
        assert status == 400 and "does not answer" in text


def test_the_stub_answers_the_reads_of_kms_key_data_sources() -> None:
    with plan.plan_stub() as url:
        status, text = post(url, b"{}", "TrentService.ListAliases")
        aliases = {a["AliasName"]: a["TargetKeyId"] for a in json.loads(text)["Aliases"]}
        assert status == 200 and "alias/aws/s3" in aliases
        status, text = post(url, b'{"KeyId": "alias/aws/s3"}', "TrentService.DescribeKey")
        managed = json.loads(text)["KeyMetadata"]
        assert (status, managed["KeyManager"], managed["KeyId"]) == (200, "AWS", aliases["alias/aws/s3"])
        by_id = json.loads(post(url, json.dumps({"KeyId": managed["Arn"]}).encode(), "TrentService.DescribeKey")[1])
        assert by_id["KeyMetadata"]["KeyManager"] == "AWS"
        status, text = post(url, b'{"KeyId": "alias/payments"}', "TrentService.DescribeKey")
        assert (status, json.loads(text)["KeyMetadata"]["KeyManager"]) == (200, "CUSTOMER")
        status, text = post(url, b"{}", "TrentService.Encrypt")
        assert status == 400 and "does not answer" in text
