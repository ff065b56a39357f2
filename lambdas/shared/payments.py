"""The payment record: built from a validated request, advanced along the lifecycle, shown as the resource."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lambdas.shared.lifecycle import INITIAL, Event, Status, transition
from lambdas.shared.money import Money, whole_number
from lambdas.shared.pan import refuse_pan

OPTIONAL_FIELDS = ("description", "reason", "batch_id")
# Ids the platform mints (hex digests may hold long digit runs); everything else came from a client.
PLATFORM_FIELDS = frozenset({"payment_id", "batch_id", "line", "message_type"})


def client_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The client-supplied part of a request or message (what is screened for card data)."""
    return {key: value for key, value in data.items() if key not in PLATFORM_FIELDS}


def iso(epoch_ms: int) -> str:
    """UTC timestamp in the contracts' format (millisecond precision, Z suffix)."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def payment_id_for(batch_id: str, reference: str) -> str:
    """Deterministic id of a batch payment: a redelivered line names the same payment."""
    return "pay_" + hashlib.sha256(f"{batch_id}\x00{reference}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment; ``version`` grows by one with every state change (optimistic concurrency)."""

    payment_id: str
    merchant_id: str
    reference: str
    money: Money
    status: Status
    version: int
    source: str
    created_at: str
    updated_at: str
    description: str | None = None
    reason: str | None = None
    batch_id: str | None = None

    def advance(self, event: Event, *, now: str, reason: str | None = None) -> Payment:
        """The payment after ``event`` (TransitionError when the lifecycle forbids it)."""
        return replace(
            self,
            status=transition(self.status, event),
            version=self.version + 1,
            updated_at=now,
            reason=reason if reason is not None else self.reason,
        )

    def to_resource(self) -> dict[str, Any]:
        """The contract's payment resource (also the stored item)."""
        item: dict[str, Any] = {
            "payment_id": self.payment_id,
            "merchant_id": self.merchant_id,
            "reference": self.reference,
            "amount": self.money.amount,
            "currency": self.money.currency,
            "status": self.status.value,
            "version": self.version,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        for name in OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Payment:
        """Read back a stored item; amount/version come back from DynamoDB as Decimal and must be whole
        (MoneyError otherwise: ``int()`` would silently truncate a fraction)."""
        return cls(
            payment_id=item["payment_id"],
            merchant_id=item["merchant_id"],
            reference=item["reference"],
            money=Money(whole_number(item["amount"], field="amount"), item["currency"]),
            status=Status(item["status"]),
            version=whole_number(item["version"], field="version"),
            source=item["source"],
            created_at=item["created_at"],
            updated_at=item["updated_at"],
            description=item.get("description"),
            reason=item.get("reason"),
            batch_id=item.get("batch_id"),
        )


def new_payment(
    request: dict[str, Any],
    *,
    payment_id: str,
    now: str,
    limit: int,
    source: str = "api",
    batch_id: str | None = None,
) -> Payment:
    """A PENDING payment from a schema-valid request; refuses card data, unknown currencies, amounts over limit."""
    refuse_pan(client_fields(request))
    money = Money.of(request["amount"], request["currency"], limit=limit)
    return Payment(
        payment_id=payment_id,
        merchant_id=request["merchant_id"],
        reference=request["reference"],
        money=money,
        status=INITIAL,
        version=1,
        source=source,
        created_at=now,
        updated_at=now,
        description=request.get("description"),
        batch_id=batch_id,
    )
