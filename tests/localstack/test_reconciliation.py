"""Reconciliation on the deployed stack (issue 11): a payment left PENDING by a failed workflow start ends
terminal once the reconciliation runs; the schedule that runs it is deployed as the stack declares."""

from __future__ import annotations

import json
from typing import Any

from pipeline.reliability.deployed import DeployedState, Deployment
from pipeline.reliability.invariants import check_invariants
from tests.localstack.conftest import Inbox
from tests.localstack.support import (
    Api,
    Deployed,
    DeploymentLock,
    assert_contract,
    create_while_the_workflow_cannot_start,
    deployed_stack,
    payment_request,
    poll,
    unique,
)
from tests.localstack.test_payments_api import audit_of


def reconcile(deployed: Deployed, merchant_id: str) -> dict[str, Any]:
    """Run the deployed reconciliation function now for one merchant, as an operator would (synchronously)."""
    answer = deployed.client("lambda").invoke(
        FunctionName=deployed["reconciliation_function_name"],
        Payload=json.dumps({"merchant_id": merchant_id, "stuck_after_seconds": 0}).encode(),
    )
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    report: dict[str, Any] = body
    return report


def test_a_payment_whose_workflow_never_started_ends_captured_once_the_reconciliation_runs(
    api: Api,
    deployed: Deployed,
    tables: dict[str, Any],
    notifications: Inbox,
    api_path: DeploymentLock,
    workflow_tasks: DeploymentLock,
) -> None:
    """The 202 path left alone by its client: the payment is stored PENDING, no workflow runs. The reconciliation
    starts the run the API would have started (same execution name), the payment ends CAPTURED, audited and
    notified; a second reconciliation finds nothing; the client's late retry with the same key answers 201."""
    request, key = payment_request(api.merchant_id), unique("key-")
    first = create_while_the_workflow_cannot_start(deployed, api, api_path, request, key)
    with workflow_tasks.read(), api_path.read():
        assert first.status == 202, first.raw
        payment_id = first.body["payment_id"]
        assert [e for e in deployed.executions() if e["name"] == payment_id] == []

        report = reconcile(deployed, api.merchant_id)

        assert report["redriven_payments"] == [payment_id], report
        assert report["payments"]["found"] == report["payments"]["redriven"] == 1, report
        execution = deployed.finished_execution(payment_id)
        assert execution["status"] == "SUCCEEDED", execution
        stored = tables["payments"].get_item(Key={"payment_id": payment_id}, ConsistentRead=True)["Item"]
        assert (stored["status"], int(stored["version"])) == ("CAPTURED", 3)
        assert [(int(a["version"]), a["status"]) for a in audit_of(tables, payment_id)] == [
            (1, "PENDING"),
            (2, "AUTHORIZED"),
            (3, "CAPTURED"),
        ]
        captured = poll(
            "the CAPTURED event on the notifications queue",
            lambda: [e for e in notifications.of(payment_id) if e["status"] == "CAPTURED"],
        )
        assert_contract("payment_event", captured[0])

        again = reconcile(deployed, api.merchant_id)
        assert (again["payments"]["found"], again["redriven_payments"]) == (0, []), again

        retried = api.create(request, key=key)  # the client comes back: the run exists, the answer is 201
        assert retried.status == 201, retried.raw
        assert retried.body["payment_id"] == payment_id
        assert len([e for e in deployed.executions() if e["name"].startswith(payment_id)]) == 1
        # The invariant checker on the deployed tables (python -m pipeline invariants): final, audited, one
        # payment for its key, notified.
        state = DeployedState(
            Deployment.from_outputs(deployed.outputs),
            dynamodb=deployed.resource("dynamodb"),
            sqs=deployed.client("sqs"),
            cloudwatch=deployed.client("cloudwatch"),
        )
        invariants = check_invariants(state, merchant_id=api.merchant_id)
        assert invariants.ok, invariants.render()
        assert {name: count["checked"] for name, count in invariants.counts().items()} == {
            "final_state_or_dead_letter": 1,
            "audit_trail": 1,
            "one_payment_per_idempotency_key": 1,
            "notification_per_final_transition": 1,
        }, invariants.render()


def test_the_reconciliation_runs_on_the_schedule_the_deployed_artifact_declares(deployed: Deployed) -> None:
    """The rule is enabled with the artifact's rate, targets the function, and only it may invoke the function on
    EventBridge's behalf (the permission's SourceArn)."""
    [declared] = deployed_stack(deployed)["resource"]["aws_cloudwatch_event_rule"].values()
    events, lambda_ = deployed.client("events"), deployed.client("lambda")
    rule = events.describe_rule(Name=declared["name"])
    assert (rule["State"], rule["ScheduleExpression"]) == ("ENABLED", declared["schedule_expression"]), rule
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    function = lambda_.get_function(FunctionName=deployed["reconciliation_function_name"])["Configuration"]
    assert target["Arn"] == function["FunctionArn"]
    [statement] = json.loads(lambda_.get_policy(FunctionName=function["FunctionName"])["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
