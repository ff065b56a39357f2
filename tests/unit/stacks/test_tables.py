"""PaymentTables: on-demand, point-in-time recoverable tables with the keys the handlers (and Powertools) use."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constructs.tables import AUDIT, BATCHES, IDEMPOTENCY, PAYMENTS, TableSpec


def table(stack: Any, purpose: str) -> dict[str, Any]:
    _, body = stack.named("aws_dynamodb_table", f"{stack.config.prefix}-{purpose}")
    return body


def test_platform_has_payments_batches_audit_and_idempotency_tables(stack) -> None:
    names = {body["name"] for body in stack.resources("aws_dynamodb_table").values()}
    assert len(names) >= 4
    assert {"paygate-dev-payments", "paygate-dev-batches", "paygate-dev-audit-log", "paygate-dev-idempotency"} <= names


def test_every_table_is_on_demand_with_point_in_time_recovery(stack) -> None:
    for body in stack.resources("aws_dynamodb_table").values():
        assert body["billing_mode"] == "PAY_PER_REQUEST", body["name"]
        assert body["point_in_time_recovery"] == {"enabled": True}, body["name"]
        assert "read_capacity" not in body
        assert "write_capacity" not in body


def test_every_table_declares_exactly_its_key_attributes(stack) -> None:
    # DynamoDB refuses attribute definitions that no key or index uses, and keys without a definition.
    for body in stack.resources("aws_dynamodb_table").values():
        keys = {body["hash_key"], body.get("range_key")}
        for index in body.get("global_secondary_index", []):
            keys |= {index["hash_key"], index.get("range_key")}
        keys.discard(None)
        declared = [attribute["name"] for attribute in body["attribute"]]
        assert sorted(declared) == sorted(keys), body["name"]


def test_payments_can_be_listed_by_merchant_and_by_status_in_time_order(stack) -> None:
    payments = table(stack, "payments")
    indexes = {(i["hash_key"], i["range_key"]): i for i in payments["global_secondary_index"]}

    assert payments["hash_key"] == "payment_id"
    assert set(indexes) == {("merchant_id", "created_at"), ("status", "created_at")}
    assert all(index["projection_type"] == "ALL" for index in indexes.values())


def test_audit_log_is_keyed_by_entity_and_event(stack) -> None:
    audit = table(stack, "audit-log")
    assert (audit["hash_key"], audit["range_key"]) == ("entity_id", "event_id")


def test_idempotency_table_has_the_powertools_schema(stack) -> None:
    # aws_lambda_powertools DynamoDBPersistenceLayer defaults: key_attr="id", expiry_attr="expiration".
    idempotency = table(stack, "idempotency")

    assert idempotency["hash_key"] == "id"
    assert "range_key" not in idempotency
    assert idempotency["attribute"] == [{"name": "id", "type": "S"}]
    assert idempotency["ttl"] == {"attribute_name": "expiration", "enabled": True}


def test_callers_are_keyed_by_identity_and_listed_by_merchant(stack) -> None:
    """One item per caller identity (apikey:<id> / iam:<arn>) -> merchant; the by-merchant index lists a merchant's
    callers for the admin command (pipeline/merchants.py)."""
    callers = table(stack, "callers")
    assert (callers["hash_key"], callers.get("range_key")) == ("caller_id", None)
    [index] = callers["global_secondary_index"]
    assert (index["name"], index["hash_key"], index["range_key"]) == ("by-merchant", "merchant_id", "bound_at")


def test_only_the_idempotency_table_expires_items(stack) -> None:
    with_ttl = [body["name"] for body in stack.resources("aws_dynamodb_table").values() if "ttl" in body]
    assert with_ttl == ["paygate-dev-idempotency"]


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_deletion_protection_follows_the_config(fixture: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(fixture)
    for body in synthesized.resources("aws_dynamodb_table").values():
        assert body["deletion_protection_enabled"] is synthesized.config.deletion_protection


def test_table_spec_declares_each_attribute_once() -> None:
    spec = TableSpec(purpose="x", hash_key="a", range_key="b", indexes=(("i1", "b", "c"), ("i2", "a", "c")))
    assert [a.name for a in spec.attributes()] == ["a", "b", "c"]
    assert [a.name for a in PAYMENTS.attributes()] == ["payment_id", "merchant_id", "created_at", "status"]
    assert [a.name for a in BATCHES.attributes()] == ["batch_id", "status", "received_at"]
    assert [a.name for a in AUDIT.attributes()] == ["entity_id", "event_id"]
    assert IDEMPOTENCY.classification == "internal"
