"""payment_processor: SQS consumer; each batch payment is created, screened and advanced exactly once.

A capacity error (a throttle or transient AWS error the SDK gave up on) never sends a valid payment
towards the dead-letter queue quickly: the message is reported failed (partial batch response) and
its redelivery delayed by an exponential backoff with jitter (``ChangeMessageVisibility``), and the
rest of the batch waits with it instead of hammering the throttled service. With the payment queue's
maxReceiveCount of 5 that gives a capacity error 1-2 hours (``capacity_budget_seconds``) before the
message reaches the DLQ, where its alarm fires and a redrive resumes it. A message that can never
succeed (``InvalidMessage``) keeps the queue's own visibility timeout and reaches the DLQ as before.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.exceptions import BotoCoreError, ClientError

from contracts import PAYMENT_MESSAGE, validator
from lambdas.shared import aws
from lambdas.shared.events import payment_event
from lambdas.shared.lifecycle import Event, Status
from lambdas.shared.payments import Payment, iso, new_payment
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.screening import Decision, screen, window_start
from lambdas.shared.store import PaymentStore, TransientError, publish_event

ACTOR = "payment_processor"
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600
# Redelivery after a capacity error on receive n: a visibility of up to 60 * 3 ** (n - 1) s, at least half
# of it (equal jitter), so 30-60 s, 90-180 s, 270-540 s, 810-1620 s, 2430-4860 s.
CAPACITY_BACKOFF_BASE_SECONDS = 60
CAPACITY_BACKOFF_FACTOR = 3
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600  # ChangeMessageVisibility's limit
# A record is started only with this much of the invocation left: the SDK's retries of one call may take
# 7 s (lambdas/shared/aws.py), and a timed-out invocation would return the whole batch undelayed.
RECORD_TIME_RESERVE_MS = 10_000


class InvalidMessage(ValueError):
    """A message outside the payment_message contract: it can never succeed (ends in the DLQ)."""


class RedeliveryDeferred(Exception):
    """The record was not processed in this invocation (a capacity error before it, or too little time left)."""


def redelivery_delay_seconds(receive_count: int, *, rand: Callable[[], float] = random.random) -> int:
    """Seconds until a message whose ``receive_count``-th receive met a capacity error is delivered again.

    Exponential backoff with equal jitter (half fixed, half uniform): redeliveries of a throttled batch
    spread out instead of coming back together (AWS Architecture Blog, "Exponential Backoff And Jitter").
    """
    ceiling = min(
        SQS_MAX_VISIBILITY_SECONDS, CAPACITY_BACKOFF_BASE_SECONDS * CAPACITY_BACKOFF_FACTOR ** (receive_count - 1)
    )
    return int(ceiling / 2 + rand() * ceiling / 2)


def capacity_budget_seconds(max_receive_count: int) -> tuple[int, int]:
    """(least, most) seconds a message keeps being retried on capacity errors before the DLQ takes it.

    Every one of its ``max_receive_count`` receives is followed by a backoff; the next receive moves it.
    """
    receives = range(1, max_receive_count + 1)
    return (
        sum(redelivery_delay_seconds(n, rand=lambda: 0.0) for n in receives),
        sum(redelivery_delay_seconds(n, rand=lambda: 1.0) for n in receives),
    )


@dataclass
class ProcessorRuntime:
    settings: Settings
    store: PaymentStore
    sns: Any
    idempotency: IdempotencyConfig
    process: Callable[..., dict[str, Any]]
    sqs: Any


def build_runtime(config: Settings, *, session: Any = None, clock: Clock | None = None) -> ProcessorRuntime:
    session = session or aws.session()
    dynamodb = session.resource("dynamodb")
    store = PaymentStore(dynamodb.Table(config.payments_table), dynamodb.Table(config.audit_table))
    sns = session.client("sns")
    topic = config.require("events_topic_arn")
    clock = clock or Clock()
    idempotency = IdempotencyConfig(
        event_key_jmespath="payment_id",
        payload_validation_jmespath="[merchant_id, reference, amount, currency]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=config.require("idempotency_table"), boto3_client=session.client("dynamodb")
    )

    def publish(payment: Payment) -> None:
        """The event of the payment's version, unless it went out already (a retry after the publish)."""
        if store.published_version(payment.payment_id) < payment.version:
            publish_event(sns, topic, payment_event(payment, occurred_at=payment.updated_at))
            store.mark_published(payment)

    def step(payment_id: str, event: Event, reason: str | None = None) -> Payment:
        now = iso(clock.now_ms())
        payment, _ = store.advance(payment_id, event, now=now, reason=reason)
        store.record_audit(payment, action=event.value, actor=ACTOR, at=payment.updated_at)
        publish(payment)
        return payment

    def process(message: dict[str, Any]) -> dict[str, Any]:
        """Resume from the stored state: create if absent, screen while PENDING, capture once AUTHORIZED."""
        now = iso(clock.now_ms())
        fresh = new_payment(
            message,
            payment_id=message["payment_id"],
            now=now,
            limit=config.max_payment_minor_units,
            source="batch",
            batch_id=message["batch_id"],
        )
        if store.put_new(fresh):
            store.record_audit(fresh, action="CREATED", actor=ACTOR, at=now)
        payment = store.get(fresh.payment_id) or fresh
        if payment.status is not Status.PENDING:
            # A retry after a failure: the event of the state found may never have gone out.
            publish(payment)
        if payment.status is Status.PENDING:
            rules = config.screening
            count = store.count_for_velocity(
                payment.merchant_id, window_start(clock.now_ms() // 1000, rules), payment.payment_id
            )
            result = screen(payment.money.amount, count, rules)
            if result.decision is Decision.APPROVE:
                payment = step(payment.payment_id, Event.AUTHORIZE)
            else:
                payment = step(payment.payment_id, Event.DECLINE, reason=result.reason)
        if payment.status is Status.AUTHORIZED:
            payment = step(payment.payment_id, Event.CAPTURE)
        logger.info("payment processed", extra={"status": payment.status.value})
        return {"payment_id": payment.payment_id, "status": payment.status.value}

    guarded = idempotent_function(data_keyword_argument="message", persistence_store=persistence, config=idempotency)(
        process
    )
    return ProcessorRuntime(config, store, sns, idempotency, guarded, session.client("sqs"))


@cache
def runtime() -> ProcessorRuntime:
    return build_runtime(settings())


@dataclass
class Invocation:
    """What one invocation learnt about capacity: after a capacity error the rest of its batch waits too."""

    capacity_error: bool = False


invocation = Invocation()


def _delay_redelivery(record: SQSRecord) -> None:
    """Hide the message for its backoff; if SQS refuses, the queue's visibility timeout applies instead."""
    delay = redelivery_delay_seconds(int(record.attributes.approximate_receive_count))
    try:
        runtime().sqs.change_message_visibility(
            QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
        )
    except (ClientError, BotoCoreError) as error:
        logger.warning("redelivery not delayed", extra={"error": type(error).__name__})
    else:
        logger.info("redelivery delayed", extra={"delay_seconds": delay})


def record_handler(record: SQSRecord, lambda_context: Any) -> dict[str, Any]:
    """One queue message; raising marks only this message as failed (SQS redelivers it, then the DLQ)."""
    try:
        message = json.loads(record.body)
    except ValueError:
        raise InvalidMessage("message body is not JSON") from None
    if not validator(PAYMENT_MESSAGE).is_valid(message):
        raise InvalidMessage("message does not match the payment_message contract")
    logger.set_correlation_id(message["payment_id"])
    logger.append_keys(batch_id=message["batch_id"])
    if invocation.capacity_error or lambda_context.get_remaining_time_in_millis() < RECORD_TIME_RESERVE_MS:
        _delay_redelivery(record)
        raise RedeliveryDeferred("not processed in this invocation; redelivered after a backoff")
    try:
        with aws.capacity_errors_named():
            return runtime().process(message=message)
    except TransientError:
        invocation.capacity_error = True
        _delay_redelivery(record)
        raise
    except IdempotencyAlreadyInProgressError:  # another invocation holds this payment right now
        _delay_redelivery(record)
        raise


# Report every failed record (also when all failed) instead of raising: SQS then redelivers exactly those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    invocation.capacity_error = False
    runtime().idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
