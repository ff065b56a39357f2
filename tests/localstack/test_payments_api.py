"""POST /payments -> Lambda -> DynamoDB -> Step Functions -> SNS, and GET /payments/{id}, on the deployed stack."""

from __future__ import annotations

import json
from typing import Any

from tests.localstack.conftest import Inbox
from tests.localstack.support import (
    Api,
    Deployed,
    assert_contract,
    merchant,
    payment_request,
    payments_of,
    poll,
    unique,
)


def audit_of(tables: dict[str, Any], payment_id: str) -> list[dict[str, Any]]:
    answer = tables["audit"].query(
        KeyConditionExpression="entity_id = :id", ExpressionAttributeValues={":id": payment_id}, ConsistentRead=True
    )
    return list(answer["Items"])


def test_a_payment_is_created_processed_by_the_workflow_audited_and_notified(
    api: Api, deployed: Deployed, tables: dict[str, Any], notifications: Inbox
) -> None:
    request = payment_request(merchant())
    created = api.create(request, key=unique("key-"))

    assert created.status == 201, created.raw
    assert_contract("payment", created.body)
    payment = created.body
    assert (payment["status"], payment["amount"], payment["currency"], payment["source"]) == (
        "PENDING",
        1250,
        "EUR",
        "api",
    )
    assert created.headers["Location"] == f"/payments/{payment['payment_id']}"

    execution = deployed.finished_execution(payment["payment_id"])
    assert execution["status"] == "SUCCEEDED", execution
    stored = tables["payments"].get_item(Key={"payment_id": payment["payment_id"]}, ConsistentRead=True)["Item"]
    assert stored["status"] == "CAPTURED"
    trail = [(entry["status"], int(entry["version"])) for entry in audit_of(tables, payment["payment_id"])]
    assert trail == [("PENDING", 1), ("AUTHORIZED", 2), ("CAPTURED", 3)]

    events = poll(
        "the CAPTURED event on the notifications queue",
        lambda: [e for e in notifications.of(payment["payment_id"]) if e["status"] == "CAPTURED"],
    )
    for event in notifications.of(payment["payment_id"]):
        assert_contract("payment_event", event)
    assert events[0]["amount"] == 1250 and events[0]["merchant_id"] == request["merchant_id"]


def test_get_returns_the_stored_payment(api: Api) -> None:
    created = api.create(payment_request(merchant()), key=unique("key-"))
    assert created.status == 201, created.raw

    found = api.get(created.body["payment_id"])

    assert found.status == 200, found.raw
    assert_contract("payment", found.body)
    assert found.body["payment_id"] == created.body["payment_id"]
    assert found.body["reference"] == created.body["reference"]


def test_get_of_an_unknown_payment_is_404_with_the_contract_error(api: Api) -> None:
    answer = api.get("pay_" + "0" * 32)

    assert answer.status == 404, answer.raw
    assert_contract("error", answer.body)
    assert answer.body["error"]["code"] == "PAYMENT_NOT_FOUND"


def test_a_request_without_the_api_key_is_refused_with_403(api: Api, tables: dict[str, Any]) -> None:
    """API keys are enforced by LocalStack (``apiKeyRequired``); AWS_IAM signing is accepted but not checked there."""
    request = payment_request(merchant())

    answer = api.create(request, key=unique("key-"), with_key=False)

    assert answer.status == 403, answer.raw
    assert payments_of(tables, request["merchant_id"]) == []


def test_a_screened_out_payment_ends_declined_and_is_notified(
    api: Api, deployed: Deployed, tables: dict[str, Any], notifications: Inbox
) -> None:
    """Above the screening threshold (PAYGATE_SCREENING_MAX_MINOR_UNITS, below the hard maximum) -> DECLINED."""
    created = api.create(payment_request(merchant(), amount=5_000_000, currency="USD"), key=unique("key-"))
    assert created.status == 201, created.raw
    payment_id = created.body["payment_id"]

    execution = deployed.finished_execution(payment_id)

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    stored = tables["payments"].get_item(Key={"payment_id": payment_id}, ConsistentRead=True)["Item"]
    assert (stored["status"], stored.get("reason")) == ("DECLINED", "AMOUNT_LIMIT_EXCEEDED"), output
    declined = poll(
        "the DECLINED event on the notifications queue",
        lambda: [e for e in notifications.of(payment_id) if e["status"] == "DECLINED"],
    )
    assert_contract("payment_event", declined[0])
    assert declined[0]["reason"] == "AMOUNT_LIMIT_EXCEEDED"
