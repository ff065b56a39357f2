"""Payment events (contract payment_event) built from a payment: pure."""

from __future__ import annotations

from typing import Any

from lambdas.shared.payments import Payment


def payment_event(payment: Payment, *, occurred_at: str) -> dict[str, Any]:
    """The notification for the payment's current state; event_id is stable per (payment, version)."""
    event: dict[str, Any] = {
        "event_id": f"{payment.payment_id}#{payment.version}",
        "event_type": f"payment.{payment.status.value.lower()}",
        "payment_id": payment.payment_id,
        "merchant_id": payment.merchant_id,
        "reference": payment.reference,
        "status": payment.status.value,
        "version": payment.version,
        "amount": payment.money.amount,
        "currency": payment.money.currency,
        "occurred_at": occurred_at,
    }
    if payment.reason:
        event["reason"] = payment.reason
    return event
