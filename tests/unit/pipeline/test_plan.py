"""pipeline.terraform.offline_plan: the offline plan's override files, the stack copy, the local stub, the account."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed
from pipeline.core.settings import Settings
from pipeline.core.toolchain import ProviderSource
from pipeline.terraform import offline_plan as plan
from pipeline.terraform.tfconfig import render

REPO_ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "222222222222"


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


def test_overrides_keep_the_stack_region_and_never_touch_its_allowed_accounts(tmp_path: Path) -> None:
    (provider,) = plan.overrides("http://127.0.0.1:1", tmp_path / "s.tfstate")["provider_override.tf.json"]["provider"][
        "aws"
    ]  # type: ignore[index]
    assert "region" not in provider and "allowed_account_ids" not in provider


def write_stack(directory: Path, provider: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cdk.tf.json").write_text(json.dumps({"provider": {"aws": [provider]}}))
    return directory


def test_the_stack_target_is_its_default_provider_region_and_allowed_account(tmp_path: Path) -> None:
    stack = write_stack(tmp_path, {"region": "eu-west-1", "allowed_account_ids": [ACCOUNT]})
    assert plan.stack_target(stack) == plan.StackTarget("eu-west-1", ACCOUNT)
    aliased = {"provider": {"aws": [{"alias": "dr", "region": "us-west-2"}, {"region": "eu-west-1"}]}}
    (tmp_path / "cdk.tf.json").write_text(json.dumps(aliased))
    assert plan.stack_target(tmp_path) == plan.StackTarget("eu-west-1", None)
    (tmp_path / "cdk.tf.json").write_text("{}")
    assert plan.stack_target(tmp_path) == plan.StackTarget(None, None)


@pytest.mark.parametrize(
    "accounts",
    [[], [ACCOUNT, "111111111111"], [222222222222], ["2222"], ["22222222222a"], "222222222222"],
    ids=["none", "two", "a-number", "short", "not-digits", "not-a-list"],
)
def test_allowed_accounts_that_name_no_single_account_are_refused(tmp_path: Path, accounts: object) -> None:
    stack = write_stack(tmp_path, {"region": "eu-west-1", "allowed_account_ids": accounts})
    with pytest.raises(PipelineError, match=r"allowed_account_ids .* is not one 12-digit account id"):
        plan.stack_target(stack)


def test_an_unreadable_stack_has_no_target(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="synthesize the stack first"):
        plan.stack_target(tmp_path)
    (tmp_path / "cdk.tf.json").write_text("{not json")
    with pytest.raises(PipelineError, match="cannot be read"):
        plan.stack_target(tmp_path)


def test_prepare_plans_in_the_stack_region_or_the_stub_one_for_a_stack_without(tmp_path: Path) -> None:
    lock = tmp_path / "lock.hcl"
    lock.write_text("# lock")

    def provider_of(stack: Path) -> dict[str, object]:
        request = plan.PlanRequest(stack, tmp_path / "work", lock, tmp_path / "tfrc", Path("terraform"))
        work = plan.prepare(request, "http://127.0.0.1:1")
        (provider,) = json.loads((work / "provider_override.tf.json").read_text())["provider"]["aws"]
        return dict(provider)

    assert "region" not in provider_of(write_stack(tmp_path / "a", {"region": "eu-west-1"}))
    assert provider_of(write_stack(tmp_path / "b", {}))["region"] == plan.STUB_REGION


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


def test_the_stub_answers_as_the_account_it_is_given() -> None:
    with plan.plan_stub(ACCOUNT) as url:
        status, text = post(url, b"Action=GetCallerIdentity&Version=2011-06-15")
        assert status == 200 and f"<Account>{ACCOUNT}</Account>" in text and plan.STUB_ACCOUNT not in text
        key = json.loads(post(url, b'{"KeyId": "alias/payments"}', "TrentService.DescribeKey")[1])["KeyMetadata"]
        assert (key["AWSAccountId"], key["Arn"].split(":")[4]) == (ACCOUNT, ACCOUNT)
        aliases = json.loads(post(url, b"{}", "TrentService.ListAliases")[1])["Aliases"]
        assert {alias["AliasArn"].split(":")[4] for alias in aliases} == {ACCOUNT}


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


# --- the provider's account check, with the real terraform ---------------------------------------------


@pytest.fixture
def account_stack(tmp_path: Path) -> Path:
    """A stack of one environment: its provider allows one account and reads who the credentials are."""
    stack = tmp_path / "stack"
    stack.mkdir()
    document = {
        "terraform": {"required_providers": {"aws": {"source": "aws", "version": "5.100.0"}}},
        "provider": {"aws": [{"region": "eu-west-1", "allowed_account_ids": [ACCOUNT]}]},
        "data": {"aws_caller_identity": {"caller": {}}},
        "output": {"account": {"value": "${data.aws_caller_identity.caller.account_id}"}},
    }
    (stack / "cdk.tf.json").write_text(json.dumps(document))
    return stack


@pytest.fixture
def plan_request(
    account_stack: Path, tmp_path: Path, provider_mirror: Path, terraform_binary: Path
) -> plan.PlanRequest:
    cli_config = tmp_path / "terraform.tfrc"
    cli_config.write_text(render(ProviderSource(provider_mirror, "detected"), REPO_ROOT / "terraform"))
    lock = REPO_ROOT / "terraform" / ".terraform.lock.hcl"
    return plan.PlanRequest(account_stack, tmp_path / "work", lock, cli_config, terraform_binary)


def test_credentials_of_another_account_fail_the_plan_before_any_change(
    plan_request: plan.PlanRequest, machine_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stub answering as 111111111111 stands for credentials of the wrong account.

    (The right account passes: `make plan` plans every environment's stack so, and the e2e deploys it.)
    """
    monkeypatch.setattr(plan, "stack_target", lambda _: plan.StackTarget("eu-west-1", "111111111111"))
    with pytest.raises(CommandFailed) as failed:
        plan.plan_json(plan_request, tmp_path / "plan.json", machine_settings)
    assert "111111111111" in failed.value.result.stderr and "not allowed" in failed.value.result.stderr
    assert not (tmp_path / "plan.json").exists()
