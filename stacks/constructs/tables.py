"""DynamoDB tables: payments, batches, the append-only audit log, Powertools idempotency and the callers
(which caller identity acts for which merchant)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTableGlobalSecondaryIndex,
)
from constructs import Construct

from stacks.constructs.encryption import PlatformKey
from stacks.context import StackContext

# Powertools DynamoDBPersistenceLayer defaults: partition key "id", expiry attribute "expiration".
IDEMPOTENCY_KEY_ATTR = "id"
IDEMPOTENCY_TTL_ATTR = "expiration"


@dataclass(frozen=True)
class TableSpec:
    """Key schema of one table; GSIs as (name, hash, range)."""

    purpose: str
    hash_key: str
    range_key: str | None = None
    indexes: Sequence[tuple[str, str, str]] = ()
    ttl_attribute: str | None = None
    classification: str = "confidential"

    def attributes(self) -> list[DynamodbTableAttribute]:
        names = [self.hash_key, *([self.range_key] if self.range_key else [])]
        for _, hash_key, range_key in self.indexes:
            names += [hash_key, range_key]
        return [DynamodbTableAttribute(name=n, type="S") for n in dict.fromkeys(names)]


PAYMENTS = TableSpec(
    purpose="payments",
    hash_key="payment_id",
    indexes=(("by-merchant", "merchant_id", "created_at"), ("by-status", "status", "created_at")),
)
# by-status: the batch files still RECEIVED or PROCESSING past their time (lambdas/reconciliation resumes them).
BATCHES = TableSpec(purpose="batches", hash_key="batch_id", indexes=(("by-status", "status", "received_at"),))
AUDIT = TableSpec(purpose="audit-log", hash_key="entity_id", range_key="event_id")
# Caller identity -> merchant (one item per API key id or IAM principal ARN; lambdas/shared/merchants.py),
# written only by the admin command (`python -m pipeline merchant-bind`); by-merchant lists a merchant's callers.
CALLERS = TableSpec(purpose="callers", hash_key="caller_id", indexes=(("by-merchant", "merchant_id", "bound_at"),))
IDEMPOTENCY = TableSpec(
    purpose="idempotency", hash_key=IDEMPOTENCY_KEY_ATTR, ttl_attribute=IDEMPOTENCY_TTL_ATTR, classification="internal"
)


class PaymentTables(Construct):
    """On-demand, point-in-time-recoverable, CMK-encrypted tables."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: StackContext, key: PlatformKey) -> None:
        super().__init__(scope, construct_id)
        self._ctx = ctx
        self._key = key
        self.payments = self._table(PAYMENTS)
        self.batches = self._table(BATCHES)
        self.audit = self._table(AUDIT)
        self.idempotency = self._table(IDEMPOTENCY)
        self.callers = self._table(CALLERS)

    def _table(self, spec: TableSpec) -> DynamodbTable:
        options: dict[str, Any] = {}
        if spec.range_key:
            options["range_key"] = spec.range_key
        if spec.indexes:
            options["global_secondary_index"] = [
                DynamodbTableGlobalSecondaryIndex(name=name, hash_key=h, range_key=r, projection_type="ALL")
                for name, h, r in spec.indexes
            ]
        if spec.ttl_attribute:
            options["ttl"] = {"attribute_name": spec.ttl_attribute, "enabled": True}
        return DynamodbTable(
            self,
            spec.purpose,
            name=self._ctx.naming.table(spec.purpose),
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.hash_key,
            attribute=spec.attributes(),
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True, "kms_key_arn": self._key.arn},
            deletion_protection_enabled=self._ctx.config.deletion_protection,
            tags={"DataClassification": spec.classification},
            **options,
        )
