"""Adapters: the only code that talks to DynamoDB, SQS, SNS and Step Functions (clients are injected)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdas.shared.lifecycle import TRANSITIONS, Event, target
from lambdas.shared.payments import Payment

CONDITION_FAILED = "ConditionalCheckFailedException"
MAX_UPDATE_ATTEMPTS = 5
SQS_BATCH = 10


class TransientError(RuntimeError):
    """Worth retrying (the workflow retries this name; SQS redelivers)."""


def _condition_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == CONDITION_FAILED)


class PaymentStore:
    """Payments (conditional writes on state + version) and the append-only audit log."""

    def __init__(self, payments: Any, audit: Any) -> None:
        self._payments = payments
        self._audit = audit

    def put_new(self, payment: Payment) -> bool:
        """Store a new payment; False when one with this id already exists (nothing is overwritten)."""
        try:
            self._payments.put_item(Item=payment.to_resource(), ConditionExpression="attribute_not_exists(payment_id)")
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def get(self, payment_id: str) -> Payment | None:
        item = self._payments.get_item(Key={"payment_id": payment_id}, ConsistentRead=True).get("Item")
        if item is None or "status" not in item:
            return None
        return Payment.from_item(item)

    def advance(self, payment_id: str, event: Event, *, now: str, reason: str | None = None) -> tuple[Payment, bool]:
        """Apply ``event`` with a conditional update on (status, version); (payment, changed).

        A retry that finds the event already applied changes nothing. A concurrent writer makes the
        condition fail: the payment is re-read and the event re-evaluated against what it now is.
        """
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = self.get(payment_id)
            if current is None:
                raise LookupError(f"payment {payment_id} does not exist")
            if _already_applied(current, event):
                return current, False
            nxt = current.advance(event, now=now, reason=reason)
            names = {"#s": "status", "#v": "version", "#u": "updated_at"}
            values: dict[str, Any] = {
                ":from": current.status.value,
                ":ver": current.version,
                ":to": nxt.status.value,
                ":next": nxt.version,
                ":now": now,
            }
            update = "SET #s = :to, #v = :next, #u = :now"
            if reason is not None:
                names["#r"] = "reason"
                values[":reason"] = reason
                update += ", #r = :reason"
            try:
                self._payments.update_item(
                    Key={"payment_id": payment_id},
                    UpdateExpression=update,
                    ConditionExpression="#s = :from AND #v = :ver",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if _condition_failed(error):
                    continue
                raise
            return nxt, True
        raise TransientError(f"payment {payment_id} kept changing; giving up after {MAX_UPDATE_ATTEMPTS} attempts")

    def record_audit(self, payment: Payment, *, action: str, actor: str, at: str) -> bool:
        """Append the audit entry of this payment version; a retry writing the same entry is a no-op."""
        item = {
            "entity_id": payment.payment_id,
            "event_id": f"{payment.version:08d}#{payment.status.value}",
            "entity_type": "payment",
            "action": action,
            "actor": actor,
            "status": payment.status.value,
            "version": payment.version,
            "at": at,
        }
        if payment.reason:
            item["reason"] = payment.reason
        try:
            self._audit.put_item(Item=item, ConditionExpression="attribute_not_exists(event_id)")
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def count_for_velocity(self, merchant_id: str, window_start: int, payment_id: str) -> int:
        """This payment's position among the merchant's payments in the window (a retry gets the same one).

        One counter item per merchant and window; each payment records the position it was given,
        so counting is idempotent per payment.
        """
        key = {"payment_id": f"velocity#{merchant_id}#{window_start}"}
        names = {"#n": "count", "#pos": f"pos_{payment_id}"}
        try:
            result = self._payments.update_item(
                Key=key,
                UpdateExpression="SET #n = if_not_exists(#n, :zero) + :one, #pos = if_not_exists(#n, :zero) + :one",
                ConditionExpression="attribute_not_exists(#pos)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":zero": 0, ":one": 1},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            item = self._payments.get_item(Key=key, ConsistentRead=True)["Item"]
            return int(item[names["#pos"]])
        return int(result["Attributes"][names["#pos"]])

    def published_version(self, payment_id: str) -> int:
        """The latest version of the payment whose event went out (0: none yet); see ``mark_published``."""
        item = self._payments.get_item(Key={"payment_id": _published_key(payment_id)}, ConsistentRead=True).get("Item")
        return int((item or {}).get("version", 0))

    def mark_published(self, payment: Payment) -> bool:
        """Record that the event of ``payment.version`` went out; False when it (or a later one) already had.

        Written after the publish, so a retry after a lost answer does not publish twice; only a failure
        between the two does (the copy carries the same event_id). Kept in an item of its own beside the
        payment (as the velocity counters are): the payment item stays exactly the contract's resource.
        """
        try:
            self._payments.update_item(
                Key={"payment_id": _published_key(payment.payment_id)},
                UpdateExpression="SET #v = :v",
                ConditionExpression="attribute_not_exists(#v) OR #v < :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": payment.version},
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True


def _published_key(payment_id: str) -> str:
    return f"published#{payment_id}"


def _already_applied(current: Payment, event: Event) -> bool:
    """Whether ``current`` is where ``event`` leads (a retry after the update landed)."""
    return current.status in target(event) and (current.status, event) not in TRANSITIONS


class BatchStore:
    """One item per batch file version: RECEIVED -> PROCESSING -> COMPLETED/FAILED."""

    def __init__(self, batches: Any) -> None:
        self._batches = batches

    def begin(self, batch_id: str, *, bucket: str, key: str, version: str, at: str) -> dict[str, Any] | None:
        """Create the batch as RECEIVED; the existing item when this object version was seen before."""
        item = {
            "batch_id": batch_id,
            "status": "RECEIVED",
            "bucket": bucket,
            "object_key": key,
            "object_version": version,
            "received_at": at,
            "enqueued_lines": 0,
        }
        try:
            self._batches.put_item(Item=item, ConditionExpression="attribute_not_exists(batch_id)")
        except ClientError as error:
            if _condition_failed(error):
                return self.get(batch_id)
            raise
        return None

    def claim(self, batch_id: str, *, owner: str, now_ms: int, until_ms: int, at: str) -> dict[str, Any] | None:
        """Take the batch's lease for one invocation: PROCESSING, held by ``owner`` until ``until_ms`` (epoch ms).

        Granted while the batch is RECEIVED or PROCESSING and no other invocation holds an unexpired lease; the
        same ``owner`` takes it again (Lambda retries an asynchronous invocation under the same request id, and
        only after the attempt ended: AWS Knowledge Center, "Lambda function duplicate invocations"). Returns the
        batch item as it now is (its saved progress), or None when the batch is final or another invocation
        holds it: a duplicate S3 event, or the reconciliation, never enqueues beside a live invocation.
        """
        try:
            result = self._batches.update_item(
                Key={"batch_id": batch_id},
                UpdateExpression="SET #s = :processing, #started = :at, #owner = :owner, #until = :until",
                ConditionExpression="#s IN (:received, :processing) AND "
                "(attribute_not_exists(#until) OR #until < :now OR #owner = :owner)",
                ExpressionAttributeNames={
                    "#s": "status",
                    "#started": "started_at",
                    "#owner": "lease_owner",
                    "#until": "lease_until_ms",
                },
                ExpressionAttributeValues={
                    ":processing": "PROCESSING",
                    ":received": "RECEIVED",
                    ":at": at,
                    ":owner": owner,
                    ":until": until_ms,
                    ":now": now_ms,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise
        item: dict[str, Any] = result["Attributes"]
        return item

    def get(self, batch_id: str) -> dict[str, Any]:
        """The batch's item as it is now (strongly consistent)."""
        item: dict[str, Any] = self._batches.get_item(Key={"batch_id": batch_id}, ConsistentRead=True)["Item"]
        return item

    def set_status(self, batch_id: str, status: str, **fields: Any) -> None:
        names = {"#s": "status", **{f"#{k}": k for k in fields}}
        values = {":s": status, **{f":{k}": v for k, v in fields.items()}}
        update = "SET " + ", ".join(["#s = :s", *(f"#{k} = :{k}" for k in fields)])
        self._batches.update_item(
            Key={"batch_id": batch_id},
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def send_in_batches(
    client: Any,
    queue_url: str,
    messages: Sequence[tuple[str, dict[str, Any]]],
    *,
    sleep: Callable[[float], None],
    max_attempts: int = 5,
) -> None:
    """SendMessageBatch in groups of 10, re-sending only the entries SQS reported as failed."""
    for start in range(0, len(messages), SQS_BATCH):
        pending = [
            {"Id": entry_id, "MessageBody": json.dumps(body, sort_keys=True, separators=(",", ":"))}
            for entry_id, body in messages[start : start + SQS_BATCH]
        ]
        for attempt in range(max_attempts):
            failed = {f["Id"] for f in client.send_message_batch(QueueUrl=queue_url, Entries=pending).get("Failed", [])}
            pending = [entry for entry in pending if entry["Id"] in failed]
            if not pending:
                break
            sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise TransientError(f"{len(pending)} messages could not be enqueued after {max_attempts} attempts")


def publish_event(client: Any, topic_arn: str, event: dict[str, Any]) -> None:
    """Publish one payment event (contract payment_event) with its type as a message attribute."""
    client.publish(
        TopicArn=topic_arn,
        Message=json.dumps(event, sort_keys=True, separators=(",", ":")),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": event["event_type"]}},
    )
