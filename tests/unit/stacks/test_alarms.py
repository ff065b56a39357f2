"""PlatformAlarms: stuck or failing money raises an alarm, and every alarm reaches the (encrypted) alarm topic."""

from __future__ import annotations

import json
from typing import Any


def alarms(stack: Any) -> list[dict[str, Any]]:
    return list(stack.resources("aws_cloudwatch_metric_alarm").values())


def alarms_on(stack: Any, namespace: str, metric: str) -> list[dict[str, Any]]:
    return [a for a in alarms(stack) if a["namespace"] == namespace and a["metric_name"] == metric]


def dead_letter_queue_ids(stack: Any) -> set[str]:
    """Queues something dead-letters into: redrive targets and Lambda failure destinations."""
    arns = {
        json.loads(q["redrive_policy"])["deadLetterTargetArn"]
        for q in stack.resources("aws_sqs_queue").values()
        if "redrive_policy" in q
    }
    arns |= {f["dead_letter_config"]["target_arn"] for f in stack.resources("aws_lambda_function").values()}
    arns |= {
        c["destination_config"]["on_failure"]["destination"]
        for c in stack.resources("aws_lambda_function_event_invoke_config").values()
    }
    return {arn.removeprefix("${aws_sqs_queue.").removesuffix(".arn}") for arn in arns}


def alarm_topic_arn(stack: Any) -> str:
    topic_id, _ = stack.topic("alarms")
    return stack.ref("aws_sns_topic", topic_id, "arn")


def test_platform_has_at_least_four_alarms(stack) -> None:
    assert len(alarms(stack)) >= 4


def test_every_dead_letter_queue_has_a_depth_alarm(stack) -> None:
    dlqs = dead_letter_queue_ids(stack)
    watched = {a["dimensions"]["QueueName"] for a in alarms_on(stack, "AWS/SQS", "ApproximateNumberOfMessagesVisible")}

    assert len(dlqs) == 3
    assert watched == {stack.ref("aws_sqs_queue", rid, "name") for rid in dlqs}
    for alarm in alarms_on(stack, "AWS/SQS", "ApproximateNumberOfMessagesVisible"):
        assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)


def test_every_function_has_error_and_throttle_alarms(stack) -> None:
    names = {stack.ref("aws_lambda_function", rid, "function_name") for rid in stack.resources("aws_lambda_function")}
    for metric in ("Errors", "Throttles"):
        watched = [a["dimensions"] for a in alarms_on(stack, "AWS/Lambda", metric)]
        assert sorted(d["FunctionName"] for d in watched) == sorted(names), metric


def test_api_server_errors_raise_an_alarm(stack) -> None:
    api_id, _ = stack.only("aws_api_gateway_rest_api")
    (alarm,) = alarms_on(stack, "AWS/ApiGateway", "5XXError")
    _, stage = stack.only("aws_api_gateway_stage")
    assert alarm["dimensions"] == {
        "ApiName": stack.ref("aws_api_gateway_rest_api", api_id, "name"),
        "Stage": stage["stage_name"],
    }


def test_failed_workflow_executions_raise_an_alarm(stack) -> None:
    machine_id, _ = stack.only("aws_sfn_state_machine")
    (alarm,) = alarms_on(stack, "AWS/States", "ExecutionsFailed")
    assert alarm["dimensions"] == {"StateMachineArn": stack.ref("aws_sfn_state_machine", machine_id, "arn")}


def test_every_alarm_notifies_the_alarm_topic(stack) -> None:
    for alarm in alarms(stack):
        assert alarm["alarm_actions"] == [alarm_topic_arn(stack)], alarm["alarm_name"]
        assert alarm["alarm_name"].startswith("paygate-dev-")


def test_alarm_names_are_unique(stack) -> None:
    names = [a["alarm_name"] for a in alarms(stack)]
    assert len(set(names)) == len(names)


def test_alarm_topic_lets_cloudwatch_of_this_account_publish(stack) -> None:
    topic_arn = alarm_topic_arn(stack)
    (policy,) = [p for p in stack.resources("aws_sns_topic_policy").values() if p["arn"] == topic_arn]
    (statement,) = [
        s for s in stack.statements(policy["policy"]) if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["sns:Publish"]
    assert statement["Resource"] == [topic_arn]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": stack.ACCOUNT}}


def test_encrypted_alarm_topic_key_admits_cloudwatch(stack) -> None:
    # An alarm cannot publish to a KMS-encrypted topic unless the key policy lets CloudWatch use the key.
    _, topic = stack.topic("alarms")
    _, key = stack.only("aws_kms_key")
    assert topic["kms_master_key_id"] == stack.key_arn
    (statement,) = [
        s for s in stack.statements(key["policy"]) if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(statement["Action"])


def test_events_topic_has_no_service_publishers(stack) -> None:
    topic_id, _ = stack.topic("payment-events")
    arn = stack.ref("aws_sns_topic", topic_id, "arn")
    (policy,) = [p for p in stack.resources("aws_sns_topic_policy").values() if p["arn"] == arn]
    assert not [s for s in stack.statements(policy["policy"]) if "Service" in s.get("Principal", {})]


def test_failed_workflow_starts_raise_an_alarm_on_the_metric_the_handler_emits(stack) -> None:
    """api_handler counts WorkflowStartFailed in Embedded Metric Format (tests/unit/lambdas/test_api_handler.py
    reads the document it prints); the alarm watches the (service, Environment) dimension set of it."""
    (alarm,) = alarms_on(stack, "paygate", "WorkflowStartFailed")
    assert alarm["dimensions"] == {"service": "api_handler", "Environment": "dev"}
    assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == ("Sum", "GreaterThanThreshold", 0)
    assert alarm["treat_missing_data"] == "notBreaching"
    assert alarm["alarm_actions"] == [alarm_topic_arn(stack)]
    # No reference to the function: CKV_PAY_036 ("every function has an alarm") must still see only its
    # Errors/Throttles alarms, so dropping those still fails the gate.
    assert "aws_lambda_function" not in json.dumps(alarm)
