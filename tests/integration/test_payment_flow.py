"""One live payment through the deployed API to its terminal state, with its audit trail (PCI DSS 10.2.1:
audit logs capture every change of a payment), and its retry answered once (no double charge)."""

from __future__ import annotations

import json
from typing import Any

from tests.localstack.support import Api, Deployed, assert_contract, payment_request, payments_of, poll, unique


def audit_trail(tables: dict[str, Any], payment_id: str) -> list[tuple[str, int]]:
    answer = tables["audit"].query(
        KeyConditionExpression="entity_id = :id", ExpressionAttributeValues={":id": payment_id}, ConsistentRead=True
    )
    return [(entry["status"], int(entry["version"])) for entry in answer["Items"]]


def test_a_payment_flows_through_the_api_to_captured_with_its_audit_trail(
    api: Api, deployed: Deployed, tables: dict[str, Any]
) -> None:
    request = payment_request(api.merchant_id, description="integration check")

    created = api.create(request, key=unique("key-"))

    assert created.status == 201, created.raw
    assert_contract("payment", created.body)
    payment_id = created.body["payment_id"]
    assert created.body["status"] == "PENDING"
    execution = deployed.finished_execution(payment_id)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["status"] == "CAPTURED", execution["output"]
    found = poll(
        "the payment as CAPTURED through the API",
        lambda: (got := api.get(payment_id)).body.get("status") == "CAPTURED" and got,
    )
    assert_contract("payment", found.body)
    assert (found.body["amount"], found.body["currency"], found.body["reference"]) == (
        request["amount"],
        request["currency"],
        request["reference"],
    )
    assert audit_trail(tables, payment_id) == [("PENDING", 1), ("AUTHORIZED", 2), ("CAPTURED", 3)]


def test_a_retried_create_with_the_same_idempotency_key_answers_the_same_payment_once(
    api: Api, tables: dict[str, Any]
) -> None:
    request, key = payment_request(api.merchant_id), unique("key-")

    first = api.create(request, key=key)
    again = api.create(request, key=key)

    assert (first.status, again.status) == (201, 201), (first.raw, again.raw)
    assert again.body["payment_id"] == first.body["payment_id"]
    assert [payment["payment_id"] for payment in payments_of(tables, request["merchant_id"])] == [
        first.body["payment_id"]
    ]
