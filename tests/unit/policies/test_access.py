"""The effective-permissions check (pipeline/policy/access.py): the synthesized stack against the committed
access matrix, and mutated stacks whose roles gain access the matrix does not grant."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline import cli
from pipeline.policy.access import (
    AccessError,
    Difference,
    access_level,
    compare,
    effective_access,
    load_matrix,
    render_matrix,
    wildcard_only,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
MATRIX = REPO_ROOT / "policies" / "access_matrix.yaml"


def policy_of(doc: dict[str, Any], role_name: str) -> dict[str, Any]:
    """The first inline policy of the role named ``role_name`` (e.g. paygate-dev-api-handler-role)."""
    roles = doc["resource"]["aws_iam_role"]
    [address] = [name for name, body in roles.items() if body["name"] == role_name]
    return next(
        body
        for body in doc["resource"]["aws_iam_role_policy"].values()
        if body["role"] == f"${{aws_iam_role.{address}.id}}"
    )


def with_statement(stack: Any, statement: dict[str, Any], role: str = "paygate-dev-api-handler-role") -> dict[str, Any]:
    """A copy of the synthesized stack whose role ``role`` has one more statement."""
    doc = copy.deepcopy(stack.doc)
    body = policy_of(doc, role)
    policy = json.loads(body["policy"])
    policy["Statement"].append(statement)
    body["policy"] = json.dumps(policy)
    return doc


def table_arn(stack: Any, purpose: str) -> str:
    address, _ = stack.named("aws_dynamodb_table", f"paygate-dev-{purpose}")
    return f"${{aws_dynamodb_table.{address}.arn}}"


def test_the_stack_grants_exactly_what_the_access_matrix_grants(stack) -> None:
    assert compare(effective_access(stack.doc), load_matrix(MATRIX)) == []


def test_a_role_that_gains_another_table_is_caught_with_the_actions_that_reach_it(stack) -> None:
    doc = with_statement(
        stack, {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn(stack, "batches")}
    )
    assert compare(effective_access(doc), load_matrix(MATRIX)) == [
        Difference("gained", "api-handler", "table:batches", ("read",), ("dynamodb:GetItem",))
    ]


def test_write_gained_on_a_table_the_role_only_reads_is_caught(stack) -> None:
    doc = with_statement(
        stack, {"Effect": "Allow", "Action": "dynamodb:Update*", "Resource": table_arn(stack, "callers")}
    )
    [difference] = compare(effective_access(doc), load_matrix(MATRIX))
    assert (difference.role, difference.resource, difference.levels) == ("api-handler", "table:callers", ("write",))
    assert {"dynamodb:UpdateItem", "dynamodb:UpdateTable"} <= set(difference.actions)  # the wildcard, expanded


def test_an_arn_pattern_reaches_every_resource_of_the_stack_it_matches(stack) -> None:
    pattern = "arn:${data.aws_partition.partition.partition}:dynamodb:us-east-1:123:table/paygate-dev-*"
    doc = with_statement(stack, {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": pattern})
    querying = {
        label for label, grant in effective_access(doc)["api-handler"].items() if "dynamodb:Query" in grant.actions
    }
    assert querying == {"table:audit-log", "table:batches", "table:callers", "table:idempotency", "table:payments"}


def test_a_statement_on_a_state_machines_executions_is_access_to_the_state_machine(stack) -> None:
    """DescribeExecution takes an execution ARN (...:execution:<machine>:<name>): the reconciliation's grant on
    them must be seen, and reported if another role gains it."""
    executions = (
        "arn:${data.aws_partition.partition.partition}:states:us-east-1:123:execution:paygate-dev-payment-lifecycle:*"
    )
    doc = with_statement(stack, {"Effect": "Allow", "Action": "states:DescribeExecution", "Resource": executions})
    assert compare(effective_access(doc), load_matrix(MATRIX)) == [
        Difference("gained", "api-handler", "state-machine:payment-lifecycle", ("read",), ("states:DescribeExecution",))
    ]
    assert (
        "states:DescribeExecution"
        in effective_access(stack.doc)["reconciliation"]["state-machine:payment-lifecycle"].actions
    )


def test_a_star_resource_reaches_every_resource_of_the_service_or_the_account(stack) -> None:
    doc = with_statement(stack, {"Effect": "Allow", "Action": ["sqs:SendMessage", "kms:ListKeys"], "Resource": "*"})
    gained = {(d.resource, d.levels) for d in compare(effective_access(doc), load_matrix(MATRIX))}
    assert gained == {
        ("queue:notifications", ("write",)),
        ("queue:notifications-dlq", ("write",)),
        ("queue:payments", ("write",)),
        ("queue:payments-dlq", ("write",)),
        ("account:kms", ("read",)),  # ListKeys takes no resource: it reaches the account
    }


def test_deny_statements_do_not_reduce_the_reported_access(stack) -> None:
    doc = with_statement(
        stack, {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": table_arn(stack, "payments")}
    )
    assert compare(effective_access(doc), load_matrix(MATRIX)) == []


def test_a_managed_policy_attachment_is_a_grant_of_its_own(stack) -> None:
    doc = copy.deepcopy(stack.doc)
    role = policy_of(doc, "paygate-dev-batch-processor-role")["role"]
    doc["resource"]["aws_iam_role_policy_attachment"] = {
        "admin": {"role": role, "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    }
    assert compare(effective_access(doc), load_matrix(MATRIX)) == [
        Difference(
            "gained", "batch-processor", "managed-policy:arn:aws:iam::aws:policy/AdministratorAccess", ("attached",)
        )
    ]


def test_a_grant_the_stack_no_longer_uses_is_reported(stack, tmp_path: Path) -> None:
    matrix = load_matrix(MATRIX)
    matrix["workflow-tasks"]["table:batches"] = {"read"}
    assert compare(effective_access(stack.doc), matrix) == [
        Difference("unused", "workflow-tasks", "table:batches", ("read",))
    ]


def test_the_command_fails_on_a_mutated_stack_and_writes_its_report(stack, tmp_path: Path) -> None:
    doc = with_statement(
        stack, {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn(stack, "batches")}
    )
    stack_json = tmp_path / "cdk.tf.json"
    stack_json.write_text(json.dumps(doc))
    out, err = io.StringIO(), io.StringIO()
    argv = ["access-check", "--input", str(stack_json), "--matrix", str(MATRIX), "--out", str(tmp_path)]
    status = cli.main(argv, environ={"PATH": ""}, out=out, err=err)
    assert status == 1
    assert (
        "ACCESS GAINED: api-handler gained read on table:batches that the access matrix does not grant"
        in out.getvalue()
    )
    assert "1 difference(s)" in err.getvalue()
    assert "| `table:batches` | read | dynamodb:GetItem |" in (tmp_path / "access.md").read_text()


def test_the_readme_shows_the_committed_matrix() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- access-matrix:start -->\n", "<!-- access-matrix:end -->"
    shown = readme[readme.index(start) + len(start) : readme.index(end)]
    assert shown == render_matrix(load_matrix(MATRIX))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("api-handler: [table:payments]\n", "must map resources to access levels"),
        ("api-handler:\n  table:payments: [admin]\n", "access must be read and/or write"),
        ("api-handler:\n  table:payments: []\n", "access must be read and/or write"),
    ],
)
def test_a_malformed_matrix_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(content)
    with pytest.raises(AccessError, match=message):
        load_matrix(path)


@pytest.mark.parametrize(
    ("action", "level", "only_star"),
    [
        ("dynamodb:GetItem", "read", False),
        ("dynamodb:Query", "read", False),
        ("dynamodb:PutItem", "write", False),
        ("kms:Decrypt", "write", False),
        ("sqs:GetQueueAttributes", "read", False),
        ("xray:PutTraceSegments", "write", True),
        ("sts:NoSuchAction", "write", False),  # unknown to the database: counted as write, never dropped
    ],
)
def test_access_levels_follow_the_service_authorization_reference(action: str, level: str, only_star: bool) -> None:
    assert (access_level(action), wildcard_only(action)) == (level, only_star)
