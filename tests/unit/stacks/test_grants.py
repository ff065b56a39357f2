"""Grants: each function's role holds exactly the named actions on the named resources its code calls."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constants import BATCH_PREFIX, FUNCTION_HANDLERS

Grant = tuple[str, str]  # (action, resource)


def grants_of(stack: Any, key: str) -> set[Grant]:
    """Every (action, resource) pair in the inline policies of the function's role."""
    _, function = stack.function(key)
    role_id = function["role"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
    role_ref = stack.ref("aws_iam_role", role_id, "id")
    return {
        (action, resource)
        for policy in stack.resources("aws_iam_role_policy").values()
        if policy["role"] == role_ref
        for statement in stack.statements(policy["policy"])
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
    }


def arn_of(stack: Any, rtype: str, name: str, attribute: str = "name") -> str:
    rid, _ = stack.named(rtype, name, attribute)
    return stack.ref(rtype, rid, "arn")


def table(stack: Any, purpose: str) -> str:
    return arn_of(stack, "aws_dynamodb_table", f"paygate-dev-{purpose}")


def base_grants(stack: Any, key: str) -> set[Grant]:
    """What every function gets: its own log streams, X-Ray, its dead-letter queue, the platform key."""
    _, function = stack.function(key)
    log_group = arn_of(stack, "aws_cloudwatch_log_group", f"/aws/lambda/{function['function_name']}")
    dlq = arn_of(stack, "aws_sqs_queue", "paygate-dev-function-failures-dlq")
    return {
        ("logs:CreateLogStream", f"{log_group}:*"),
        ("logs:PutLogEvents", f"{log_group}:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:SendMessage", dlq),
        *(
            (action, stack.key_arn)
            for action in ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")
        ),
    }


def expected_capabilities(stack: Any, key: str) -> set[Grant]:
    payments, audit, idempotency = table(stack, "payments"), table(stack, "audit-log"), table(stack, "idempotency")
    idempotency_crud = {(f"dynamodb:{a}", idempotency) for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")}
    events = arn_of(stack, "aws_sns_topic", "paygate-dev-payment-events")
    queue = arn_of(stack, "aws_sqs_queue", "paygate-dev-payments")
    machine_id, _ = stack.only("aws_sfn_state_machine")
    bucket_id, _ = stack.bucket("batch-files")
    append_audit = {("dynamodb:PutItem", audit)}
    return {
        "api_handler": {
            ("dynamodb:GetItem", payments),
            ("dynamodb:PutItem", payments),
            ("dynamodb:GetItem", table(stack, "callers")),  # which merchant a caller acts for: read only
            *idempotency_crud,
            *append_audit,
            ("states:StartExecution", stack.ref("aws_sfn_state_machine", machine_id, "arn")),
        },
        "payment_processor": {
            *(
                (f"sqs:{a}", queue)
                for a in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes")
            ),
            ("dynamodb:GetItem", payments),
            ("dynamodb:PutItem", payments),
            ("dynamodb:UpdateItem", payments),
            *idempotency_crud,
            *append_audit,
            ("sns:Publish", events),
        },
        "batch_processor": {
            ("s3:GetObject", f"{stack.ref('aws_s3_bucket', bucket_id, 'arn')}/{BATCH_PREFIX}*"),
            ("s3:GetObjectVersion", f"{stack.ref('aws_s3_bucket', bucket_id, 'arn')}/{BATCH_PREFIX}*"),
            *((f"dynamodb:{a}", table(stack, "batches")) for a in ("GetItem", "PutItem", "UpdateItem")),
            *append_audit,
            ("sqs:SendMessage", queue),
        },
        "workflow_tasks": {
            ("dynamodb:GetItem", payments),
            ("dynamodb:UpdateItem", payments),
            *append_audit,
            ("sns:Publish", events),
        },
        # Reads and queries only (it re-drives, the code it re-drives writes): no table write, no audit entry.
        "reconciliation": {
            ("dynamodb:GetItem", payments),
            ("dynamodb:Query", f"{payments}/index/by-status"),
            ("dynamodb:Query", f"{payments}/index/by-merchant"),
            ("dynamodb:Query", f"{table(stack, 'batches')}/index/by-status"),
            ("states:StartExecution", stack.ref("aws_sfn_state_machine", machine_id, "arn")),
            ("states:ListExecutions", stack.ref("aws_sfn_state_machine", machine_id, "arn")),
            (
                "states:DescribeExecution",
                f"arn:${{data.aws_partition.partition.partition}}:states:{stack.config.region}:${{data.aws_caller_identity.caller"
                ".account_id}:execution:paygate-dev-payment-lifecycle:*",
            ),
            ("lambda:InvokeFunction", stack.ref("aws_lambda_function", stack.function("batch_processor")[0], "arn")),
        },
    }[key]


@pytest.mark.parametrize("key", tuple(FUNCTION_HANDLERS))
def test_function_is_granted_exactly_what_its_code_calls(stack, key: str) -> None:
    assert grants_of(stack, key) == base_grants(stack, key) | expected_capabilities(stack, key)


def test_audit_log_is_append_only_for_every_role(stack) -> None:
    audit = table(stack, "audit-log")
    for policy in stack.resources("aws_iam_role_policy").values():
        for statement in stack.statements(policy["policy"]):
            if audit in statement["Resource"]:
                assert statement["Action"] == ["dynamodb:PutItem"], policy["name"]


def test_only_the_batch_function_reads_batch_files(stack) -> None:
    readers = [key for key in FUNCTION_HANDLERS if any(a.startswith("s3:") for a, _ in grants_of(stack, key))]
    assert readers == ["batch_processor"]
