"""The storage formats the invariant checker (pipeline/reliability) writes out instead of importing them are the ones
the handlers write and the stack declares: the pipeline suite may import only lambdas.shared.lifecycle of the
Lambda code, so this suite (which reads both) holds them together."""

from __future__ import annotations

from typing import Any

from lambdas.shared.events import payment_event
from lambdas.shared.payments import new_payment
from lambdas.shared.store import PaymentStore
from pipeline.reliability import deployed, invariants
from stacks.constructs.tables import PAYMENTS


class Recorder:
    """A DynamoDB table that keeps what it is given."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> None:
        self.puts.append(kwargs["Item"])

    def update_item(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)


PAYMENT = new_payment(
    {"merchant_id": "m_abcdef12", "reference": "order-1", "amount": 1250, "currency": "EUR"},
    payment_id="pay_" + "a" * 32,
    now="2026-01-01T00:00:00.000Z",
    limit=10**11,
)


def test_the_audit_entry_and_the_published_marker_are_keyed_as_the_store_writes_them() -> None:
    payments, audit = Recorder(), Recorder()
    store = PaymentStore(payments, audit)
    store.record_audit(PAYMENT, action="CREATED", actor="tests", at=PAYMENT.created_at)
    store.mark_published(PAYMENT)
    [entry] = audit.puts
    assert entry["event_id"] == invariants.audit_event_id(PAYMENT.version, PAYMENT.status.value)
    [marker] = payments.updates
    assert marker["Key"] == {"payment_id": deployed.PUBLISHED_PREFIX + PAYMENT.payment_id}
    assert marker["ExpressionAttributeNames"] == {"#v": "version"}


def test_the_event_id_is_the_one_the_handlers_publish() -> None:
    event = payment_event(PAYMENT, occurred_at=PAYMENT.updated_at)
    assert event["event_id"] == invariants.event_id(PAYMENT.payment_id, PAYMENT.version)


def test_the_merchant_index_and_the_dlq_alarm_name_are_the_stacks(stack) -> None:
    assert deployed.BY_MERCHANT_INDEX in {name for name, _, _ in PAYMENTS.indexes}
    queue_id, queue = stack.queue("payments-dlq")
    names = (queue["name"], stack.ref("aws_sqs_queue", queue_id, "name"))
    [alarm] = [
        a
        for a in stack.resources("aws_cloudwatch_metric_alarm").values()
        if a.get("dimensions", {}).get("QueueName") in names
    ]
    assert alarm["alarm_name"] == queue["name"] + deployed.DLQ_ALARM_SUFFIX
