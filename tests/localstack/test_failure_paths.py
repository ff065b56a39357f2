"""What goes wrong: a throttled task retried by the workflow; a poison message -> DLQ -> alarm."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.localstack.support import Api, Deployed, merchant, payment_request, poll, unique

RECEIVE_COUNT_DEADLINE_S = 90.0
# The DLQ alarm's period is 60 s and LocalStack evaluates it once a period; queue metrics arrive every 5 s.
ALARM_DEADLINE_S = 150.0


def workflow_tasks(deployed: Deployed) -> str:
    return str(deployed["payments_table_name"]).removesuffix("payments") + "workflow-tasks"


def history(deployed: Deployed, payment_id: str) -> list[dict[str, Any]]:
    sfn = deployed.client("stepfunctions")
    arn = deployed["state_machine_arn"].replace(":stateMachine:", ":execution:") + f":{payment_id}"
    return list(sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"])


def test_a_throttled_workflow_task_is_retried_and_the_payment_completes(api: Api, deployed: Deployed) -> None:
    """Reserved concurrency 0 makes Lambda refuse the task (TooManyRequests), a real transient failure."""
    lambda_ = deployed.client("lambda")
    name = workflow_tasks(deployed)
    reserved = lambda_.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        created = api.create(payment_request(merchant()), key=unique("key-"))
        assert created.status == 201, created.raw
        payment_id = created.body["payment_id"]
        failures = poll(
            "a throttled task attempt in the execution history",
            lambda: [e for e in history(deployed, payment_id) if e["type"] in ("TaskFailed", "LambdaFunctionFailed")],
            deadline_s=20,
        )
    finally:
        if reserved is None:
            lambda_.delete_function_concurrency(FunctionName=name)
        else:
            lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)

    details = failures[0].get("taskFailedEventDetails") or failures[0].get("lambdaFunctionFailedEventDetails") or {}
    assert details.get("error") == "Lambda.TooManyRequestsException", failures[0]
    sfn = deployed.client("stepfunctions")
    arn = deployed["state_machine_arn"].replace(":stateMachine:", ":execution:") + f":{payment_id}"
    done = poll(
        "the retried execution to finish",
        lambda: (found := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and found,
    )
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["status"] == "CAPTURED", done["output"]


def dlq_alarm(deployed: Deployed) -> dict[str, Any]:
    dlq_name = str(deployed["payment_dlq_url"]).rsplit("/", 1)[-1]
    alarms = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    found = [
        a
        for a in alarms
        if a["Namespace"] == "AWS/SQS" and {"Name": "QueueName", "Value": dlq_name} in a.get("Dimensions", [])
    ]
    assert len(found) == 1, [a["AlarmName"] for a in alarms]
    return found[0]


@pytest.mark.late
def test_a_poison_message_lands_in_the_dlq_after_max_receives_and_the_alarm_fires(
    deployed: Deployed, poison: str
) -> None:
    """The poison message was sent when the session started (conftest ``poison``); here it must have
    been refused maxReceiveCount times, be in the DLQ, and have put the DLQ depth alarm in ALARM."""
    sqs = deployed.client("sqs")

    def in_dlq() -> list[dict[str, Any]]:
        answer = sqs.receive_message(
            QueueUrl=deployed["payment_dlq_url"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [m for m in answer.get("Messages", []) if m["Body"] == poison]

    landed = poll("the poison message in the DLQ", in_dlq, deadline_s=RECEIVE_COUNT_DEADLINE_S)
    assert int(landed[0]["Attributes"]["ApproximateReceiveCount"]) >= 1
    alarm = poll(
        "the DLQ depth alarm in ALARM",
        lambda: (a := dlq_alarm(deployed))["StateValue"] == "ALARM" and a,
        deadline_s=ALARM_DEADLINE_S,
    )
    assert alarm["AlarmActions"] == [deployed["alarm_topic_arn"]]
