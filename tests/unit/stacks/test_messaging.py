"""Messaging: queues redrive to DLQs, the events topic fans out to the notification queue, TLS-only policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constants import PAYMENT_QUEUE_MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_FACTOR


def queue_policy(stack: Any, queue_id: str) -> list[dict[str, Any]]:
    return stack.statements(stack.resources("aws_sqs_queue")[queue_id]["policy"])


def queue_arn(stack: Any, queue_id: str) -> str:
    """The ARN a queue's inline policy names: built from its name (it cannot reference itself)."""
    name = stack.resources("aws_sqs_queue")[queue_id]["name"]
    partition, account = "${data.aws_partition.partition.partition}", "${data.aws_caller_identity.caller.account_id}"
    return f"arn:{partition}:sqs:{stack.config.region}:{account}:{name}"


@pytest.mark.parametrize(("queue", "dlq"), [("payments", "payments-dlq"), ("notifications", "notifications-dlq")])
def test_work_queue_redrives_to_its_dead_letter_queue(stack, queue: str, dlq: str) -> None:
    _, body = stack.queue(queue)
    dlq_id, dlq_body = stack.queue(dlq)
    redrive = json.loads(body["redrive_policy"])

    assert redrive == {
        "deadLetterTargetArn": stack.ref("aws_sqs_queue", dlq_id, "arn"),
        "maxReceiveCount": PAYMENT_QUEUE_MAX_RECEIVE_COUNT,
    }
    # A message must not expire in the DLQ before it would have expired in the source queue.
    assert dlq_body["message_retention_seconds"] >= body["message_retention_seconds"]
    assert "redrive_policy" not in dlq_body


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_payment_queue_visibility_is_at_least_six_times_the_consumer_timeout(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized = request.getfixturevalue(fixture)
    _, queue = synthesized.queue("payments")
    timeout = synthesized.config.limits("payment_processor").timeout_seconds
    _, consumer = synthesized.function("payment_processor")

    assert consumer["timeout"] == timeout
    assert queue["visibility_timeout_seconds"] >= VISIBILITY_TIMEOUT_FACTOR * timeout
    assert VISIBILITY_TIMEOUT_FACTOR >= 6


def test_dead_letter_queues_keep_messages_for_fourteen_days(stack) -> None:
    for name in ("payments-dlq", "notifications-dlq", "function-failures-dlq"):
        _, body = stack.queue(name)
        assert body["message_retention_seconds"] == 14 * 24 * 3600, name


def test_every_queue_policy_denies_requests_without_tls(stack) -> None:
    queues = stack.resources("aws_sqs_queue")
    assert not stack.resources("aws_sqs_queue_policy")  # inline: one resource, no second propagation wait
    assert len(queues) == 5
    for queue_id in queues:
        deny = [s for s in queue_policy(stack, queue_id) if s["Effect"] == "Deny"]
        assert deny == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["sqs:*"],
                "Resource": [queue_arn(stack, queue_id)],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]


def test_notification_queue_accepts_messages_only_from_the_events_topic(stack) -> None:
    queue_id, _ = stack.queue("notifications")
    topic_id, _ = stack.topic("payment-events")
    allows = [s for s in queue_policy(stack, queue_id) if s["Effect"] == "Allow"]

    assert allows == [
        {
            "Sid": "AllowPaymentEventsTopicDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": ["sqs:SendMessage"],
            "Resource": [queue_arn(stack, queue_id)],
            "Condition": {"ArnEquals": {"aws:SourceArn": stack.ref("aws_sns_topic", topic_id, "arn")}},
        }
    ]


def test_events_topic_fans_out_to_the_notification_queue(stack) -> None:
    queue_id, _ = stack.queue("notifications")
    topic_id, _ = stack.topic("payment-events")
    _, subscription = stack.only("aws_sns_topic_subscription")

    assert subscription == {
        **subscription,
        "topic_arn": stack.ref("aws_sns_topic", topic_id, "arn"),
        "protocol": "sqs",
        "endpoint": stack.ref("aws_sqs_queue", queue_id, "arn"),
        "raw_message_delivery": True,
    }


def test_payment_processor_consumes_the_payment_queue_with_partial_batch_failures(stack) -> None:
    queue_id, _ = stack.queue("payments")
    function_id, _ = stack.function("payment_processor")
    _, mapping = stack.only("aws_lambda_event_source_mapping")

    assert mapping["event_source_arn"] == stack.ref("aws_sqs_queue", queue_id, "arn")
    assert mapping["function_name"] == stack.ref("aws_lambda_function", function_id, "function_name")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["scaling_config"]["maximum_concurrency"] >= 2


def test_event_source_mapping_waits_for_the_consumer_permissions(stack) -> None:
    # Lambda checks sqs:ReceiveMessage etc. when the mapping is created.
    _, mapping = stack.only("aws_lambda_event_source_mapping")
    (dependency,) = mapping["depends_on"]
    rtype, rid = dependency.split(".")
    policy = stack.resources(rtype)[rid]
    actions = {a for s in stack.statements(policy["policy"]) for a in s["Action"]}
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= actions


def test_every_topic_policy_denies_requests_without_tls(stack) -> None:
    topics = stack.resources("aws_sns_topic")
    policies = stack.resources("aws_sns_topic_policy").values()
    assert sorted(p["arn"] for p in policies) == sorted(stack.ref("aws_sns_topic", rid, "arn") for rid in topics)
    for policy in policies:
        statement = stack.statement(policy["policy"], "DenyInsecureTransport")
        assert statement["Effect"] == "Deny"
        assert statement["Action"] == ["sns:*"]  # SNS refuses a bare "*" in topic policies
        assert statement["Resource"] == [policy["arn"]]
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topics_are_tagged_with_their_data_classification(stack) -> None:
    assert stack.topic("payment-events")[1]["tags"]["DataClassification"] == "confidential"
    assert stack.topic("alarms")[1]["tags"]["DataClassification"] == "internal"
