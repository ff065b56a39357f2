"""Payment events (contract payment_event) built from a payment."""

from __future__ import annotations

from dataclasses import replace

from contracts import PAYMENT_EVENT, validator
from lambdas.shared.events import payment_event
from lambdas.shared.lifecycle import Status
from lambdas.shared.payments import new_payment

PAYMENT = new_payment(
    {"merchant_id": "m_abcdef12", "reference": "order-1", "amount": 1250, "currency": "EUR"},
    payment_id="pay_" + "c" * 32,
    now="2026-01-01T00:00:00.000Z",
    limit=10**6,
)


def test_an_event_names_the_payment_its_state_and_when() -> None:
    captured = replace(PAYMENT, status=Status.CAPTURED, version=3)
    event = payment_event(captured, occurred_at="2026-01-01T00:00:05.000Z")
    assert event == {
        "event_id": "pay_" + "c" * 32 + "#3",
        "event_type": "payment.captured",
        "payment_id": "pay_" + "c" * 32,
        "merchant_id": "m_abcdef12",
        "reference": "order-1",
        "status": "CAPTURED",
        "version": 3,
        "amount": 1250,
        "currency": "EUR",
        "occurred_at": "2026-01-01T00:00:05.000Z",
    }
    validator(PAYMENT_EVENT).validate(event)


def test_a_reason_is_carried_when_the_payment_has_one() -> None:
    declined = replace(PAYMENT, status=Status.DECLINED, version=2, reason="AMOUNT_LIMIT_EXCEEDED")
    event = payment_event(declined, occurred_at="2026-01-01T00:00:05.000Z")
    assert (event["event_type"], event["reason"]) == ("payment.declined", "AMOUNT_LIMIT_EXCEEDED")
    validator(PAYMENT_EVENT).validate(event)
    assert "reason" not in payment_event(replace(PAYMENT, reason=""), occurred_at="2026-01-01T00:00:05.000Z")
