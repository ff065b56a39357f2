"""The payment record: built from a request, stored and read back, shown as the contract's resource."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from decimal import Decimal

import pytest

from contracts import PAYMENT, validator
from lambdas.shared.errors import CardDataError, MoneyError
from lambdas.shared.lifecycle import Status
from lambdas.shared.money import Money
from lambdas.shared.payments import Payment, client_fields, iso, new_payment, payment_id_for

REQUEST = {"merchant_id": "m_abcdef12", "reference": "order-1", "amount": 1250, "currency": "EUR"}
NOW = "2026-01-01T00:00:00.000Z"
PAY_ID = "pay_" + "a" * 32
BATCH_ID = "bat_" + "b" * 32


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_790_000_000_123, "2026-09-21T14:13:20.123Z"),
        (1_790_000_000_007, "2026-09-21T14:13:20.007Z"),
        (1_790_000_000_999, "2026-09-21T14:13:20.999Z"),
    ],
)
def test_timestamps_are_utc_with_milliseconds_and_a_z(epoch_ms: int, text: str) -> None:
    assert iso(epoch_ms) == text


def test_a_batch_payment_id_is_sha256_of_batch_and_reference_and_stable() -> None:
    expected = "pay_" + hashlib.sha256(b"bat_1\x00order-1").hexdigest()[:32]
    assert payment_id_for("bat_1", "order-1") == expected
    assert payment_id_for("bat_1", "order-1") == payment_id_for("bat_1", "order-1")
    assert len({payment_id_for("bat_1", "order-2"), payment_id_for("bat_2", "order-1"), expected}) == 3
    assert payment_id_for("bat_1x", "y") != payment_id_for("bat_1", "xy")  # the separator keeps them apart


def test_client_fields_are_everything_but_the_ids_the_platform_mints() -> None:
    data = {"payment_id": "p", "batch_id": "b", "line": 7, "message_type": "m", "reference": "r", "description": "d"}
    assert client_fields(data) == {"reference": "r", "description": "d"}


def test_a_new_payment_is_pending_at_version_one_with_the_request_fields() -> None:
    payment = new_payment({**REQUEST, "description": "lunch"}, payment_id=PAY_ID, now=NOW, limit=10_000)
    assert payment == Payment(
        payment_id=PAY_ID,
        merchant_id="m_abcdef12",
        reference="order-1",
        money=Money(1250, "EUR"),
        status=Status.PENDING,
        version=1,
        source="api",
        created_at=NOW,
        updated_at=NOW,
        description="lunch",
    )
    batch = new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=10_000, source="batch", batch_id="bat_1")
    assert (batch.source, batch.batch_id, batch.description, batch.reason) == ("batch", "bat_1", None, None)


def test_a_new_payment_refuses_card_data_in_client_fields_only() -> None:
    with pytest.raises(CardDataError):
        new_payment({**REQUEST, "description": "card 4111 1111 1111 1111"}, payment_id=PAY_ID, now=NOW, limit=10**6)
    minted = {**REQUEST, "batch_id": "bat_4111111111111111", "line": 4111111111111111}
    assert new_payment(minted, payment_id=PAY_ID, now=NOW, limit=10**6).merchant_id == "m_abcdef12"


def test_a_new_payment_refuses_an_amount_over_the_limit_inclusive() -> None:
    assert new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=1250).money.amount == 1250
    with pytest.raises(MoneyError) as refused:
        new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=1249)
    assert refused.value.code == "AMOUNT_OVER_LIMIT"


def test_the_resource_holds_the_optional_fields_only_when_set_and_matches_the_contract() -> None:
    bare = new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=10**6).to_resource()
    assert bare == {
        "payment_id": PAY_ID,
        "merchant_id": "m_abcdef12",
        "reference": "order-1",
        "amount": 1250,
        "currency": "EUR",
        "status": "PENDING",
        "version": 1,
        "source": "api",
        "created_at": NOW,
        "updated_at": NOW,
    }
    validator(PAYMENT).validate(bare)
    full = new_payment(
        {**REQUEST, "description": "d"}, payment_id=PAY_ID, now=NOW, limit=10**6, source="batch", batch_id=BATCH_ID
    )
    shown = full.to_resource()
    assert {k: shown[k] for k in ("description", "batch_id", "source")} == {
        "description": "d",
        "batch_id": BATCH_ID,
        "source": "batch",
    }
    assert "reason" not in shown
    validator(PAYMENT).validate(shown)


def test_a_stored_item_reads_back_as_the_same_payment_even_with_dynamodb_decimals() -> None:
    payment = new_payment(
        {**REQUEST, "description": "d"}, payment_id=PAY_ID, now=NOW, limit=10**6, source="batch", batch_id="bat_1"
    )
    item = payment.to_resource() | {"amount": Decimal(1250), "version": Decimal(1), "reason": "why"}
    back = Payment.from_item(item)
    assert back == replace(payment, reason="why")
    assert (back.money, back.version, back.reason, back.description, back.batch_id) == (
        Money(1250, "EUR"),
        1,
        "why",
        "d",
        "bat_1",
    )
    assert isinstance(back.money.amount, int) and isinstance(back.version, int)
    assert Payment.from_item(new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=10**6).to_resource()) == (
        new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=10**6)
    )


@pytest.mark.parametrize("field", ["amount", "version"])
def test_a_stored_item_with_a_fractional_number_is_refused_naming_the_field(field: str) -> None:
    """A stored amount or version that is not a whole number is corrupt data, never truncated (12.5 -> 12)."""
    item = new_payment(REQUEST, payment_id=PAY_ID, now=NOW, limit=10**6).to_resource() | {field: Decimal("12.5")}
    with pytest.raises(MoneyError) as refused:
        Payment.from_item(item)
    assert (refused.value.field, refused.value.message) == (field, f"{field} is not a whole number")
