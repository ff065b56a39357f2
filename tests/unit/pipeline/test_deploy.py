"""pipeline.deploy.apply without LocalStack: override files, outputs, progress lines, the checked copy, teardown.

terraform itself is replaced by fakes of ``run``/``stream`` that record what they were asked to do.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from pipeline.build import artifact
from pipeline.core.errors import PipelineError
from pipeline.core.runner import Completed
from pipeline.core.settings import Settings
from pipeline.deploy import apply as deploy
from pipeline.localstack.instance import Instance

ENDPOINT = "http://localhost:4599"
SettingsFactory = Callable[..., Settings]
OUTPUTS: dict[str, dict[str, object]] = {
    "api_url": {"value": "http://api", "type": "string", "sensitive": False},
    "queue_urls": {"value": ["q1", "q2"], "type": ["list", "string"]},
    "signing_key": {"value": "s3cr3t", "type": "string", "sensitive": True},
}


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    run_dir = tmp_path / "localstack" / "run"
    run_dir.mkdir(parents=True)
    return Instance(pid=1, port=4599, endpoint=ENDPOINT, run_dir=str(run_dir), log=str(run_dir / "localstack.log"))


@pytest.fixture
def settings(make_settings: SettingsFactory, tmp_path: Path) -> Settings:
    return make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "localstack"), AWS_ACCESS_KEY_ID="real-key")


@pytest.fixture
def request_for(sqs_stack: Path, tmp_path: Path) -> deploy.DeployRequest:
    """A request for the tiny SQS stack; its evidence is not written yet (see ``passed``)."""
    (sqs_stack / "assets").mkdir()
    (sqs_stack / "assets" / "archive.zip").write_bytes(b"PK fake archive")
    stack = json.loads((sqs_stack / "cdk.tf.json").read_text())
    stack["output"] = {"archive": {"value": "assets/archive.zip"}}  # the stack names its asset, as synth does
    (sqs_stack / "cdk.tf.json").write_text(json.dumps(stack))
    lock = tmp_path / "lock.hcl"
    lock.write_text("# the committed lock file\n")
    return deploy.DeployRequest(
        stack_dir=sqs_stack,
        evidence=tmp_path / "policy" / "evidence.json",
        lock_file=lock,
        cli_config=tmp_path / "terraform.tfrc",
        terraform=tmp_path / "bin" / "terraform",
        parallelism=7,
    )


def declare_account(stack_dir: Path, account_id: str) -> None:
    """Give the stack's provider ``allowed_account_ids``, as synth does for an environment."""
    document = json.loads((stack_dir / "cdk.tf.json").read_text())
    document["provider"]["aws"][0]["allowed_account_ids"] = [account_id]
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))


def protect(stack_dir: Path) -> None:
    """Add what deletion protection synthesizes: a protected table and a bucket without force_destroy."""
    document = json.loads((stack_dir / "cdk.tf.json").read_text())
    document["resource"]["aws_dynamodb_table"] = {
        "payments": {"name": "p", "deletion_protection_enabled": True},
        "scratch": {"name": "s", "deletion_protection_enabled": False},
    }
    document["resource"]["aws_s3_bucket"] = {"batches": {"bucket": "b"}, "logs": {"bucket": "l", "force_destroy": True}}
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))


def passed(request: deploy.DeployRequest) -> str:
    """Record evidence for the request's stack, as a passing policy gate does; its digest."""
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    evidence = artifact.record_evidence(
        request.evidence.parent, request.stack_dir, [request.stack_dir / "cdk.tf.json"], when
    )
    return evidence.artifact_sha256


class FakeTerraform:
    """Stands in for ``run`` and ``stream``: records each command, prints the given lines to ``on_line``."""

    def __init__(self, lines: Mapping[str, Sequence[str]], outputs: Mapping[str, object]) -> None:
        self.lines = lines
        self.outputs = outputs
        self.calls: list[tuple[str, tuple[str, ...], dict[str, str], Path | None]] = []

    def run(
        self,
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        check: str | None = None,
        timeout: float | None = None,
    ) -> Completed:
        argv = tuple(str(a) for a in args)
        self.calls.append(("run", argv, dict(env), cwd))
        stdout = json.dumps(self.outputs) if argv[1] == "output" else ""
        return Completed(argv, 0, stdout, "")

    def stream(
        self,
        args: Sequence[str | Path],
        *,
        env: Mapping[str, str],
        cwd: Path | None = None,
        check: str,
        timeout: float,
        on_line: Callable[[str], None],
    ) -> Completed:
        argv = tuple(str(a) for a in args)
        self.calls.append(("stream", argv, dict(env), cwd))
        for line in self.lines.get(argv[1], ()):
            on_line(line)
        return Completed(argv, 0, "".join(f"{line}\n" for line in self.lines.get(argv[1], ())), "")


@pytest.fixture
def fake_terraform(monkeypatch: pytest.MonkeyPatch) -> FakeTerraform:
    fake = FakeTerraform(
        {
            "apply": [
                "Plan: 2 to add, 0 to change, 0 to destroy.",
                "aws_sqs_queue.payments: Creating...",
                "aws_sqs_queue.payments: Creation complete after 25s [id=http://q]",
                "aws_kms_key.k: Creation complete after 1s [id=k]",
                "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.",
            ],
            "destroy": [
                "Plan: 0 to add, 0 to change, 2 to destroy.",
                "aws_sqs_queue.payments: Destruction complete after 0s",
            ],
        },
        OUTPUTS,
    )
    monkeypatch.setattr(deploy, "run", fake.run)
    monkeypatch.setattr(deploy, "stream", fake.stream)
    return fake


# --- override files ----------------------------------------------------------------------------------


def test_the_backend_override_keeps_state_in_a_local_file(tmp_path: Path) -> None:
    state = tmp_path / "deploy" / "terraform.tfstate"
    files = deploy.overrides(ENDPOINT, state)
    assert sorted(files) == ["backend_override.tf.json", "provider_override.tf.json"]
    assert files["backend_override.tf.json"] == {"terraform": {"backend": {"local": {"path": str(state)}}}}


def test_the_provider_override_sends_every_service_to_localstack_with_fake_credentials(tmp_path: Path) -> None:
    provider = deploy.overrides(ENDPOINT, tmp_path / "state")["provider_override.tf.json"]
    (aws,) = provider["provider"]["aws"]  # type: ignore[index]
    (endpoints,) = aws.pop("endpoints")
    assert endpoints == dict.fromkeys(deploy.ENDPOINT_SERVICES, ENDPOINT)
    assert {"apigateway", "dynamodb", "iam", "kms", "lambda", "s3", "sqs", "sts"} <= set(endpoints)
    assert aws == {
        "access_key": "000000000000",
        "secret_key": "test",
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "skip_requesting_account_id": False,
        "s3_use_path_style": True,
        "max_retries": deploy.MAX_RETRIES,
    }
    assert deploy.MAX_RETRIES < 25


def test_the_credentials_name_the_account_to_act_in(tmp_path: Path) -> None:
    """LocalStack takes a 12-digit access key id as the account id (docs.localstack.cloud, Credentials)."""
    provider = deploy.overrides(ENDPOINT, tmp_path / "state", "222222222222")["provider_override.tf.json"]
    (aws,) = provider["provider"]["aws"]  # type: ignore[index]
    assert (aws["access_key"], "allowed_account_ids" in aws) == ("222222222222", False)


def test_the_account_is_the_one_the_stack_allows_else_localstack_default(sqs_stack: Path) -> None:
    assert deploy.account_of(sqs_stack) == "000000000000"
    declare_account(sqs_stack, "222222222222")
    assert deploy.account_of(sqs_stack) == "222222222222"


# --- outputs and progress ----------------------------------------------------------------------------


def test_flat_outputs_are_name_to_value_without_sensitive_ones() -> None:
    assert deploy.flat_outputs(OUTPUTS) == {"api_url": "http://api", "queue_urls": ["q1", "q2"]}
    assert deploy.flat_outputs({}) == {}


def test_apply_progress_counts_created_resources_against_the_plan_total() -> None:
    shown: list[str] = []
    progress = deploy.ApplyProgress(shown.append, "created")
    for line in (
        "Terraform will perform the following actions:",
        "Plan: 2 to add, 1 to change, 5 to destroy.",
        "aws_sqs_queue.payments: Creating...",
        "aws_sqs_queue.payments: Still creating... [10s elapsed]",
        "aws_sqs_queue.payments: Creation complete after 25s [id=http://q]",
        "aws_iam_role.r: Modifications complete after 2s [id=r]",
        "Error: creating KMS Key: timeout",
        "│ Error: reading SQS Queue: 500  ",
        "Apply complete! Resources: 1 added, 1 changed, 0 destroyed.",
    ):
        progress(line)
    assert shown == [
        "  Plan: 2 to add, 1 to change, 5 to destroy.",
        "  [1/3] aws_sqs_queue.payments created after 25s",
        "  [2/3] aws_iam_role.r created after 2s",
        "  Error: creating KMS Key: timeout",
        "  │ Error: reading SQS Queue: 500",
    ]
    assert (progress.done, progress.total) == (2, 3)


def test_destroy_progress_takes_its_total_from_to_destroy() -> None:
    shown: list[str] = []
    progress = deploy.ApplyProgress(shown.append, "destroyed")
    progress("Plan: 0 to add, 0 to change, 2 to destroy.")
    progress("module.api.aws_lambda_function.f: Destruction complete after 3s")
    assert shown[-1] == "  [1/2] module.api.aws_lambda_function.f destroyed after 3s"
    assert progress.total == 2


def test_progress_without_a_plan_line_counts_without_a_total() -> None:
    shown: list[str] = []
    progress = deploy.ApplyProgress(shown.append, "created")
    progress("aws_sns_topic.t: Creation complete after 0s [id=arn]")
    progress("  aws_sns_topic.t: Creation complete after 0s")  # indented: not terraform's progress line
    assert shown == ["  [1] aws_sns_topic.t created after 0s"]


# --- the checked copy ---------------------------------------------------------------------------------


def test_prepare_refuses_without_evidence_and_copies_nothing(
    request_for: deploy.DeployRequest, instance: Instance
) -> None:
    with pytest.raises(PipelineError, match=r"no policy evidence at .*`make policy`"):
        deploy.prepare(request_for, instance)
    assert not deploy.work_dir(instance).exists()


def test_prepare_refuses_an_artifact_changed_after_the_gate(
    request_for: deploy.DeployRequest, instance: Instance
) -> None:
    passed(request_for)
    (request_for.stack_dir / "assets" / "archive.zip").write_bytes(b"PK rebuilt")
    with pytest.raises(PipelineError, match="is not the one the policy gate passed"):
        deploy.prepare(request_for, instance)
    assert not deploy.work_dir(instance).exists()


def test_prepare_copies_the_checked_artifact_into_the_run_dir_with_overrides_and_lock(
    request_for: deploy.DeployRequest, instance: Instance
) -> None:
    digest = passed(request_for)
    source_files = sorted(p.name for p in request_for.stack_dir.rglob("*"))

    work, copied = deploy.prepare(request_for, instance)

    assert work == Path(instance.run_dir) / "deploy" / "stack"
    assert copied.sha256 == digest
    assert artifact.digest(work).sha256 == digest, "override and lock files are not part of the artifact"
    assert artifact.require_evidence(request_for.evidence, work) == copied
    state = Path(instance.run_dir) / "deploy" / "terraform.tfstate"
    assert state.parent.is_dir() and not state.exists()
    for name, content in deploy.overrides(ENDPOINT, state).items():
        assert json.loads((work / name).read_text()) == content
    assert (work / ".terraform.lock.hcl").read_text() == "# the committed lock file\n"
    assert sorted(p.name for p in request_for.stack_dir.rglob("*")) == source_files, "the stack stays untouched"


def test_region_is_read_from_the_stack_provider(tmp_path: Path) -> None:
    (tmp_path / "cdk.tf.json").write_text(json.dumps({"provider": {"aws": [{"region": "eu-west-1"}]}}))
    assert deploy._region(tmp_path) == "eu-west-1"


@pytest.mark.parametrize(
    "stack",
    [
        {},
        {"provider": {}},
        {"provider": {"aws": []}},
        {"provider": {"aws": [{}]}},
        {"provider": {"aws": [{"region": 1}]}},
    ],
    ids=["no-provider", "no-aws", "empty-aws", "no-region", "region-not-a-string"],
)
def test_a_stack_without_a_region_is_refused(tmp_path: Path, stack: dict[str, object]) -> None:
    (tmp_path / "cdk.tf.json").write_text(json.dumps(stack))
    with pytest.raises(PipelineError) as caught:
        deploy._region(tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'cdk.tf.json'} sets no provider region: the stack must name its region.")


# --- deploy and destroy with a fake terraform ---------------------------------------------------------


def test_deploy_inits_applies_and_writes_the_flat_outputs(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    digest = passed(request_for)
    shown: list[str] = []

    result = deploy.deploy(request_for, instance, settings, shown.append)

    work = deploy.work_dir(instance)
    tf = str(request_for.terraform)
    assert [(kind, argv[1]) for kind, argv, _, _ in fake_terraform.calls] == [
        ("run", "init"),
        ("stream", "apply"),
        ("run", "output"),
    ]
    assert all(cwd == work for _, _, _, cwd in fake_terraform.calls)
    assert "-lockfile=readonly" in fake_terraform.calls[0][1]
    assert "-parallelism=7" in fake_terraform.calls[1][1]
    env = fake_terraform.calls[1][2]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("000000000000", "test")
    assert env["TF_CLI_CONFIG_FILE"] == str(request_for.cli_config)
    assert (env["TF_INPUT"], env["AWS_EC2_METADATA_DISABLED"]) == ("0", "true")
    assert shown == [
        f"terraform apply of artifact {digest[:12]} to LocalStack at {ENDPOINT}, account 000000000000",
        "  Plan: 2 to add, 0 to change, 0 to destroy.",
        "  [1/2] aws_sqs_queue.payments created after 25s",
        "  [2/2] aws_kms_key.k created after 1s",
    ]
    expected = {
        "api_url": "http://api",
        "queue_urls": ["q1", "q2"],
        "localstack_endpoint": ENDPOINT,
        "artifact_sha256": digest,
        "region": "us-east-1",
        "account_id": "000000000000",
    }
    assert result.outputs == expected
    assert result.outputs_file == settings.localstack_dir / "outputs.json"
    assert json.loads(result.outputs_file.read_text()) == expected
    assert result.artifact.sha256 == digest
    assert sorted(result.timings) == ["apply", "init"]
    assert {argv[0] for _, argv, _, _ in fake_terraform.calls} == {tf}


def test_deploy_acts_in_the_account_the_artifact_allows(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    declare_account(request_for.stack_dir, "222222222222")
    passed(request_for)

    result = deploy.deploy(request_for, instance, settings, print)

    assert {env["AWS_ACCESS_KEY_ID"] for _, _, env, _ in fake_terraform.calls} == {"222222222222"}
    written = json.loads((deploy.work_dir(instance) / "provider_override.tf.json").read_text())
    assert written["provider"]["aws"][0]["access_key"] == "222222222222"
    assert result.outputs["account_id"] == "222222222222"


def test_deletion_protected_lists_the_resources_terraform_destroy_fails_on(sqs_stack: Path, tmp_path: Path) -> None:
    assert deploy.deletion_protected(sqs_stack) == ()
    assert deploy.deletion_protected(tmp_path / "nothing") == ()
    protect(sqs_stack)
    assert deploy.deletion_protected(sqs_stack) == ("aws_dynamodb_table.payments", "aws_s3_bucket.batches")


def test_destroy_of_a_protected_deployment_runs_no_terraform_and_says_why(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    protect(request_for.stack_dir)
    passed(request_for)
    deploy.deploy(request_for, instance, settings, print)
    deploy.state_file(instance).write_text("{}")
    fake_terraform.calls.clear()

    with pytest.raises(deploy.DeletionProtected) as refused:
        deploy.destroy(instance, settings, request_for, print)
    assert str(refused.value) == (
        "the deployment has deletion protection on 2 resources (aws_dynamodb_table.payments, "
        "aws_s3_bucket.batches): terraform destroy would delete the rest and fail on those, so it is not run; "
        "stopping LocalStack (`make localstack-down`) discards the deployment with its state"
    )
    assert fake_terraform.calls == []


def test_deploy_without_evidence_runs_no_terraform(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    with pytest.raises(PipelineError, match="no policy evidence"):
        deploy.deploy(request_for, instance, settings, print)
    assert fake_terraform.calls == []
    assert not deploy.outputs_file(settings).exists()


def test_destroy_when_nothing_was_deployed_is_false_and_removes_the_outputs(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    outputs = deploy.outputs_file(settings)
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text("{}")

    assert deploy.destroy(instance, settings, request_for, print) is False
    assert not outputs.exists()
    assert fake_terraform.calls == []


def test_destroy_without_a_stack_copy_is_false_even_with_state(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    deploy.state_file(instance).parent.mkdir(parents=True)
    deploy.state_file(instance).write_text("{}")
    assert deploy.destroy(instance, settings, request_for, print) is False
    assert fake_terraform.calls == []


def test_destroy_after_a_deploy_runs_terraform_destroy_and_inits_only_when_needed(
    request_for: deploy.DeployRequest, instance: Instance, settings: Settings, fake_terraform: FakeTerraform
) -> None:
    passed(request_for)
    deploy.deploy(request_for, instance, settings, print)
    deploy.state_file(instance).write_text("{}")  # terraform apply would have written it
    fake_terraform.calls.clear()
    shown: list[str] = []

    assert deploy.destroy(instance, settings, request_for, shown.append) is True
    assert [(kind, argv[1]) for kind, argv, _, _ in fake_terraform.calls] == [("run", "init"), ("stream", "destroy")]
    assert "-parallelism=7" in fake_terraform.calls[1][1]
    assert shown == [
        "  Plan: 0 to add, 0 to change, 2 to destroy.",
        "  [1/2] aws_sqs_queue.payments destroyed after 0s",
    ]
    assert not deploy.outputs_file(settings).exists()

    (deploy.work_dir(instance) / ".terraform").mkdir()
    fake_terraform.calls.clear()
    assert deploy.destroy(instance, settings, request_for, print) is True
    assert [(kind, argv[1]) for kind, argv, _, _ in fake_terraform.calls] == [("stream", "destroy")]


def test_work_dir_and_state_live_in_the_instance_run_dir(instance: Instance, settings: Settings) -> None:
    run_dir = Path(instance.run_dir)
    assert deploy.work_dir(instance).is_relative_to(run_dir)
    assert deploy.state_file(instance).is_relative_to(run_dir)
    assert deploy.outputs_file(settings) == settings.localstack_dir / "outputs.json"
