"""payment_processor: SQS consumer; each batch payment is created, screened and advanced exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from contracts import PAYMENT_MESSAGE, validator
from lambdas.shared.events import payment_event
from lambdas.shared.lifecycle import Event, Status
from lambdas.shared.payments import Payment, iso, new_payment
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.screening import Decision, screen, window_start
from lambdas.shared.store import PaymentStore, publish_event

ACTOR = "payment_processor"
IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600


class InvalidMessage(ValueError):
    """A message outside the payment_message contract: it can never succeed (ends in the DLQ)."""


@dataclass
class ProcessorRuntime:
    settings: Settings
    store: PaymentStore
    sns: Any
    clock: Clock
    idempotency: IdempotencyConfig
    process: Callable[..., dict[str, Any]]


def build_runtime(config: Settings, *, session: Any = None, clock: Clock | None = None) -> ProcessorRuntime:
    session = session or boto3.session.Session()
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

    def step(payment_id: str, event: Event, reason: str | None = None) -> Payment:
        now = iso(clock.now_ms())
        payment, _ = store.advance(payment_id, event, now=now, reason=reason)
        store.record_audit(payment, action=event.value, actor=ACTOR, at=now)
        publish_event(sns, topic, payment_event(payment, occurred_at=payment.updated_at))
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
            # Publishing it again is safe (at least once; consumers de-duplicate on event_id).
            publish_event(sns, topic, payment_event(payment, occurred_at=payment.updated_at))
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
    return ProcessorRuntime(config, store, sns, clock, idempotency, guarded)


@cache
def runtime() -> ProcessorRuntime:
    return build_runtime(settings())


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """One queue message; raising marks only this message as failed (SQS redelivers it, then the DLQ)."""
    try:
        message = json.loads(record.body)
    except ValueError:
        raise InvalidMessage("message body is not JSON") from None
    if not validator(PAYMENT_MESSAGE).is_valid(message):
        raise InvalidMessage("message does not match the payment_message contract")
    logger.set_correlation_id(message["payment_id"])
    logger.append_keys(batch_id=message["batch_id"])
    return runtime().process(message=message)


# Report every failed record (also when all failed) instead of raising: SQS then redelivers exactly those.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime().idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
