"""LocalStack answers what AWS answers, so ``terraform plan`` after an apply finds nothing to change.

The perpetual diffs measured on the deployed stack (issue 9, item 3), each asserted with AWS's answer on a
real host-mode LocalStack patched by ``localstack_ext/`` (lambda_kms, stepfunctions_configuration,
sqs_attributes), driven with boto3:

- ``GetFunction``/``GetFunctionConfiguration``/``ListFunctions`` answer ``KMSKeyArn`` (Lambda API reference);
- ``DescribeStateMachine``/``DescribeStateMachineForExecution``/``DescribeActivity`` answer
  ``encryptionConfiguration`` and ``tracingConfiguration`` (Step Functions API reference, and the answers
  LocalStack recorded from AWS in its own snapshot tests);
- ``GetQueueAttributes`` answers ``RedrivePolicy``/``RedriveAllowPolicy`` as compact JSON with
  ``maxReceiveCount`` a number (SQS API reference, AWS CLI example).

Then the drift check itself (``pipeline.deploy.apply.planned_changes``) on the real terraform, and its
place in the e2e run. A missing LocalStack venv fails with the command to run, it never skips.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed, run
from pipeline.deploy import apply as deploy
from pipeline.localstack.instance import Instance
from tests.unit.pipeline.conftest import SettingsFactory
from tests.unit.pipeline.real_localstack import client, running_in
from tests.unit.pipeline.test_e2e import StagedRun

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/drift"
PASS_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with running_in(tmp_path_factory.mktemp("localstack-drift")) as (_, running):
        yield running


@pytest.fixture(scope="module")
def keys(instance: Instance) -> tuple[str, str]:
    """Two customer-managed keys (real KMS keys of the emulator), by ARN."""
    kms = client(instance, "kms")
    return (kms.create_key()["KeyMetadata"]["Arn"], kms.create_key()["KeyMetadata"]["Arn"])


def zipped_handler() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


# -- Lambda: KMSKeyArn -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lam(instance: Instance) -> Any:
    return client(instance, "lambda")


def create_function(lam: Any, name: str, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zipped_handler()},
        Environment={"Variables": {"STAGE": "drift"}},
        **extra,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return created


def test_a_function_answers_its_customer_managed_key_as_kms_key_arn(lam: Any, keys: tuple[str, str]) -> None:
    """The reported diff: ``+ kms_key_arn`` on every aws_lambda_function, because GetFunction left it out."""
    created = create_function(lam, "with-key", KMSKeyArn=keys[0])

    assert created["KMSKeyArn"] == keys[0]
    # After the asynchronous Pending -> Active update too (it rebuilds the configuration).
    assert lam.get_function_configuration(FunctionName="with-key")["KMSKeyArn"] == keys[0]
    assert lam.get_function(FunctionName="with-key")["Configuration"]["KMSKeyArn"] == keys[0]
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert listed["with-key"]["KMSKeyArn"] == keys[0]


def test_a_function_without_a_key_answers_no_kms_key_arn(lam: Any) -> None:
    create_function(lam, "without-key")

    assert "KMSKeyArn" not in lam.get_function_configuration(FunctionName="without-key")


def test_the_key_changes_with_update_is_kept_by_a_published_version_and_an_empty_one_removes_it(
    lam: Any, keys: tuple[str, str]
) -> None:
    create_function(lam, "rekeyed", KMSKeyArn=keys[0])

    updated = lam.update_function_configuration(FunctionName="rekeyed", KMSKeyArn=keys[1])
    assert updated["KMSKeyArn"] == keys[1]
    lam.get_waiter("function_updated_v2").wait(FunctionName="rekeyed", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    # An update of something else keeps the key.
    lam.update_function_configuration(FunctionName="rekeyed", Description="still keyed")
    lam.get_waiter("function_updated_v2").wait(FunctionName="rekeyed", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    assert lam.get_function_configuration(FunctionName="rekeyed")["KMSKeyArn"] == keys[1]
    version = lam.publish_version(FunctionName="rekeyed")["Version"]

    lam.update_function_configuration(FunctionName="rekeyed", KMSKeyArn="")
    lam.get_waiter("function_updated_v2").wait(FunctionName="rekeyed", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})

    assert "KMSKeyArn" not in lam.get_function_configuration(FunctionName="rekeyed")
    assert lam.get_function_configuration(FunctionName="rekeyed", Qualifier=version)["KMSKeyArn"] == keys[1]


def test_a_kms_key_arn_outside_aws_pattern_is_refused_and_nothing_is_created(lam: Any) -> None:
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName="bad-key",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": zipped_handler()},
            KMSKeyArn="not-a-key-arn",
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "kMSKeyArn" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName="bad-key")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


# -- Step Functions: encryptionConfiguration, tracingConfiguration ------------------------------------------


@pytest.fixture(scope="module")
def sfn(instance: Instance) -> Any:
    return client(instance, "stepfunctions")


def customer_managed(key_arn: str, reuse_period_seconds: int = 300) -> dict[str, Any]:
    return {
        "type": "CUSTOMER_MANAGED_KMS_KEY",
        "kmsKeyId": key_arn,
        "kmsDataKeyReusePeriodSeconds": reuse_period_seconds,
    }


def test_a_state_machine_answers_its_encryption_and_tracing_configuration(sfn: Any, keys: tuple[str, str]) -> None:
    """The reported diff: ``encryption_configuration`` and ``tracing_configuration`` on the workflow."""
    arn = sfn.create_state_machine(
        name="encrypted-traced",
        definition=PASS_DEFINITION,
        roleArn=ROLE,
        encryptionConfiguration=customer_managed(keys[0]),
        tracingConfiguration={"enabled": True},
    )["stateMachineArn"]

    described = sfn.describe_state_machine(stateMachineArn=arn)

    assert described["encryptionConfiguration"] == customer_managed(keys[0])
    assert described["tracingConfiguration"] == {"enabled": True}
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    for_execution = sfn.describe_state_machine_for_execution(executionArn=execution)
    assert for_execution["encryptionConfiguration"] == customer_managed(keys[0])
    assert for_execution["tracingConfiguration"] == {"enabled": True}


def test_a_state_machine_without_them_answers_aws_defaults(sfn: Any) -> None:
    """AWS answers the AWS owned key and tracing off (LocalStack's snapshots recorded from AWS)."""
    arn = sfn.create_state_machine(name="plain", definition=PASS_DEFINITION, roleArn=ROLE)["stateMachineArn"]

    described = sfn.describe_state_machine(stateMachineArn=arn)

    assert described["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}
    assert described["tracingConfiguration"] == {"enabled": False}


def test_update_changes_tracing_or_encryption_alone_as_a_new_revision_that_a_version_keeps(
    sfn: Any, keys: tuple[str, str]
) -> None:
    arn = sfn.create_state_machine(
        name="updated",
        definition=PASS_DEFINITION,
        roleArn=ROLE,
        encryptionConfiguration=customer_managed(keys[0]),
        tracingConfiguration={"enabled": True},
    )["stateMachineArn"]

    first = sfn.update_state_machine(stateMachineArn=arn, tracingConfiguration={"enabled": False})
    second = sfn.update_state_machine(
        stateMachineArn=arn, encryptionConfiguration=customer_managed(keys[1], 600), publish=True
    )

    assert first["revisionId"] != second["revisionId"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["tracingConfiguration"] == {"enabled": False}
    assert described["encryptionConfiguration"] == customer_managed(keys[1], 600)
    version = sfn.describe_state_machine(stateMachineArn=second["stateMachineVersionArn"])
    assert version["encryptionConfiguration"] == customer_managed(keys[1], 600)
    assert version["tracingConfiguration"] == {"enabled": False}
    sfn.update_state_machine(stateMachineArn=arn, encryptionConfiguration={"type": "AWS_OWNED_KEY"})
    assert sfn.describe_state_machine(stateMachineArn=arn)["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}
    assert sfn.describe_state_machine(stateMachineArn=second["stateMachineVersionArn"])[
        "encryptionConfiguration"
    ] == customer_managed(keys[1], 600)


def test_a_customer_managed_key_without_a_key_id_or_with_a_bad_reuse_period_is_refused(
    sfn: Any, keys: tuple[str, str]
) -> None:
    cases = {
        "InvalidEncryptionConfiguration": {"type": "CUSTOMER_MANAGED_KMS_KEY"},
        "ValidationException": customer_managed(keys[0], 901),  # botocore itself refuses < 60
    }
    for code, configuration in cases.items():
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(
                name=f"refused-{code}", definition=PASS_DEFINITION, roleArn=ROLE, encryptionConfiguration=configuration
            )
        assert refused.value.response["Error"]["Code"] == code
    names = {machine["name"] for machine in sfn.list_state_machines()["stateMachines"]}
    assert not {name for name in names if name.startswith("refused-")}


def test_create_again_with_another_encryption_is_not_idempotent(sfn: Any, keys: tuple[str, str]) -> None:
    """AWS's CreateStateMachine idempotency compares the encryption configuration too."""
    request = {"name": "twice", "definition": PASS_DEFINITION, "roleArn": ROLE}
    arn = sfn.create_state_machine(**request, encryptionConfiguration=customer_managed(keys[0]))["stateMachineArn"]

    again = sfn.create_state_machine(**request, encryptionConfiguration=customer_managed(keys[0]))
    assert again["stateMachineArn"] == arn
    with pytest.raises(ClientError) as refused:
        sfn.create_state_machine(**request, encryptionConfiguration=customer_managed(keys[1]))

    assert refused.value.response["Error"]["Code"] == "StateMachineAlreadyExists"
    assert sfn.describe_state_machine(stateMachineArn=arn)["encryptionConfiguration"] == customer_managed(keys[0])


def test_an_activity_answers_its_encryption_configuration(sfn: Any, keys: tuple[str, str]) -> None:
    keyed = sfn.create_activity(name="keyed", encryptionConfiguration=customer_managed(keys[0]))["activityArn"]
    plain = sfn.create_activity(name="plain")["activityArn"]

    assert sfn.describe_activity(activityArn=keyed)["encryptionConfiguration"] == customer_managed(keys[0])
    assert sfn.describe_activity(activityArn=plain)["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}


# -- SQS: RedrivePolicy, RedriveAllowPolicy -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sqs(instance: Instance) -> Any:
    return client(instance, "sqs")


def queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def test_a_redrive_policy_written_with_spaces_is_answered_as_compact_json(sqs: Any) -> None:
    """The reported diff: redrive_policy "whitespace changes" on the payments and notifications queues."""
    dead_letters = queue_arn(sqs, sqs.create_queue(QueueName="drift-dlq")["QueueUrl"])
    # As stacks/constructs/messaging.py writes it: json.dumps with its default ", " and ": " separators.
    written = json.dumps({"deadLetterTargetArn": dead_letters, "maxReceiveCount": 5}, sort_keys=True)
    assert " " in written

    url = sqs.create_queue(QueueName="drift-main", Attributes={"RedrivePolicy": written})["QueueUrl"]
    answered = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"]

    assert answered == f'{{"deadLetterTargetArn":"{dead_letters}","maxReceiveCount":5}}'


def test_set_queue_attributes_answers_aws_member_order_and_a_numeric_max_receive_count(sqs: Any) -> None:
    dead_letters_url = sqs.create_queue(QueueName="drift-dlq-2")["QueueUrl"]
    dead_letters = queue_arn(sqs, dead_letters_url)
    url = sqs.create_queue(QueueName="drift-main-2")["QueueUrl"]

    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"RedrivePolicy": json.dumps({"maxReceiveCount": "3", "deadLetterTargetArn": dead_letters})},
    )
    sqs.set_queue_attributes(
        QueueUrl=dead_letters_url,
        Attributes={
            "RedriveAllowPolicy": json.dumps({"sourceQueueArns": [queue_arn(sqs, url)], "redrivePermission": "byQueue"})
        },
    )

    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert policy == f'{{"deadLetterTargetArn":"{dead_letters}","maxReceiveCount":3}}'
    allow = sqs.get_queue_attributes(QueueUrl=dead_letters_url, AttributeNames=["RedriveAllowPolicy"])["Attributes"]
    assert (
        allow["RedriveAllowPolicy"] == f'{{"redrivePermission":"byQueue","sourceQueueArns":["{queue_arn(sqs, url)}"]}}'
    )


def test_redrive_still_moves_a_message_to_the_dead_letter_queue(sqs: Any) -> None:
    """Only the answer changed: a message received maxReceiveCount times still ends in the DLQ."""
    dead_letters_url = sqs.create_queue(QueueName="drift-dlq-3")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dead_letters_url), "maxReceiveCount": 1})
    url = sqs.create_queue(QueueName="drift-main-3", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")

    moved: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while not moved and time.monotonic() < deadline:
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1)
        moved = sqs.receive_message(QueueUrl=dead_letters_url, WaitTimeSeconds=1).get("Messages", [])

    assert [message["Body"] for message in moved] == ["poison"]


# -- the drift check itself -------------------------------------------------------------------------------


def terraform_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def applied_workspace(
    work: Path, terraform_binary: Path, value: str, state: Path | None = None
) -> tuple[Path, dict[str, str]]:
    """A stack of one built-in ``terraform_data`` resource (no provider, offline), applied with ``value``.

    Written as ``cdk.tf.json``, the file name and form of the synthesized stack the deploy step reads."""
    work.mkdir(parents=True)
    stack: dict[str, Any] = {
        "variable": {"value": {"type": "string"}, "label": {"default": "first"}},
        "resource": {"terraform_data": {"recorded": {"input": "${var.value}"}}},
        "output": {"label": {"value": "${var.label}"}},
    }
    if state is not None:
        stack["terraform"] = {"backend": {"local": {"path": str(state)}}}
    (work / "cdk.tf.json").write_text(json.dumps(stack, indent=2))
    env = terraform_env(work.parent)
    tf = str(terraform_binary)
    run([tf, "init", "-input=false", "-no-color"], env=env, cwd=work, check="terraform init", timeout=120)
    apply = [tf, "apply", "-auto-approve", "-input=false", "-no-color", f"-var=value={value}"]
    run(apply, env=env, cwd=work, check="terraform apply", timeout=120)
    return work, env


def test_planned_changes_is_empty_right_after_an_apply_and_names_what_would_change(
    tmp_path: Path, terraform_binary: Path
) -> None:
    work, env = applied_workspace(tmp_path / "stack", terraform_binary, "applied")

    assert deploy.planned_changes(terraform_binary, work, {**env, "TF_VAR_value": "applied"}) == []
    assert deploy.planned_changes(terraform_binary, work, {**env, "TF_VAR_value": "changed"}) == [
        "terraform_data.recorded will be updated in-place"
    ]
    assert deploy.planned_changes(
        terraform_binary, work, {**env, "TF_VAR_value": "applied", "TF_VAR_label": "2nd"}
    ) == ['outputs: ~ label = "first" -> "2nd"']


def test_planned_changes_raises_when_the_plan_itself_fails(tmp_path: Path, terraform_binary: Path) -> None:
    work, env = applied_workspace(tmp_path / "stack", terraform_binary, "applied")
    (work / "broken.tf").write_text('resource "terraform_data" "recorded" {}\n')  # a duplicate resource

    with pytest.raises(CommandFailed, match=r"terraform plan \(drift check\) .* failed \(exit 1\)"):
        deploy.planned_changes(terraform_binary, work, {**env, "TF_VAR_value": "applied"})


def test_check_no_drift_passes_after_an_apply_and_names_each_resource_that_would_change(
    tmp_path: Path, terraform_binary: Path, make_settings: SettingsFactory
) -> None:
    instance = Instance(1, 4566, "http://localhost:4566", str(tmp_path / "run"), str(tmp_path / "log"))
    (tmp_path / "tfrc").write_text("")  # an empty CLI config: terraform_data needs no provider
    request = deploy.DeployRequest(
        stack_dir=tmp_path / "stack",
        evidence=tmp_path / "evidence.json",
        lock_file=tmp_path / "lock.hcl",
        cli_config=tmp_path / "tfrc",
        terraform=terraform_binary,
    )
    said: list[str] = []
    with pytest.raises(PipelineError, match=r"nothing is deployed to LocalStack at http://localhost:4566"):
        deploy.check_no_drift(request, instance, make_settings(TF_VAR_value="applied"), said.append)
    applied_workspace(deploy.work_dir(instance), terraform_binary, "applied", state=deploy.state_file(instance))

    seconds = deploy.check_no_drift(request, instance, make_settings(TF_VAR_value="applied"), said.append)

    assert seconds > 0
    assert said[-1].startswith("no drift: terraform plan finds no changes")
    with pytest.raises(PipelineError) as drifted:
        deploy.check_no_drift(request, instance, make_settings(TF_VAR_value="changed"), said.append)
    assert str(drifted.value).startswith("drift after apply: terraform still plans changes to 1 resource(s)")
    assert str(drifted.value).endswith(": terraform_data.recorded will be updated in-place")


def test_the_e2e_run_checks_drift_after_the_suite_and_a_drift_fails_it(staged: StagedRun) -> None:
    staged.step(deploy, "check_no_drift", "drift", raises=PipelineError("drift after apply: 1 resource(s)"))

    summary = staged.run()

    assert staged.calls == ["up", "deploy", "tests", "drift", "destroy", "keep log", "down"]
    assert [name for name, _, state in summary.phases if state == "FAILED"] == ["drift (terraform plan)"]
    assert summary.problems[0] == "drift (terraform plan): drift after apply: 1 resource(s)"
    assert not summary.ok


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory, tmp_path: Path) -> StagedRun:
    return StagedRun(monkeypatch, make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "e2e")), tmp_path)


# -- CloudWatch: alarms evaluated on their window every few seconds (localstack_ext/alarm_evaluation.py) --------


def test_a_breaching_alarm_with_a_60_s_period_fires_within_seconds_not_at_its_next_period(instance: Instance) -> None:
    """Stock LocalStack first evaluates this alarm 60 s after its creation; patched, every 2 s on the same window."""
    cloudwatch = client(instance, "cloudwatch")
    name = f"breach-{time.monotonic_ns()}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="paygate/test",
        MetricName="Depth",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    created = time.monotonic()
    cloudwatch.put_metric_data(Namespace="paygate/test", MetricData=[{"MetricName": "Depth", "Value": 1.0}])
    state = ""
    while time.monotonic() - created < DEADLINE_S:
        state = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
        if state == "ALARM":
            break
        time.sleep(0.25)
    assert state == "ALARM", f"not in ALARM {DEADLINE_S:.0f} s after the breach (60 s period)"
    assert time.monotonic() - created < 10.0, "evaluated at the next period, not every 2 s"
