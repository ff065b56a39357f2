"""workflow_tasks: the Lambda steps of the payment lifecycle state machine, each idempotent on retry.

Errors reach the state machine by name (stacks/constructs/workflow_definition.py matches them): a payment's
refusal by a rule as ``PaymentRefused`` (the payment is marked FAILED); a capacity error the SDK gave
up on as ``ThrottlingError`` / ``TransientError`` (retried for minutes, never failing the payment);
anything else by its own type (the execution fails, the payment keeps its status for reconciliation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from contracts import WORKFLOW_STATE, WORKFLOW_TASK, validator
from lambdas.shared import aws
from lambdas.shared.errors import DomainError
from lambdas.shared.events import payment_event
from lambdas.shared.lifecycle import TRANSITIONS, Event, Status
from lambdas.shared.money import Money
from lambdas.shared.pan import refuse_pan
from lambdas.shared.payments import Payment, client_fields, iso
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.screening import screen, window_start
from lambdas.shared.store import PaymentStore, publish_event

ACTOR = "workflow_tasks"


class InvalidTaskInput(ValueError):
    """The state machine sent something outside the workflow contracts (not retried, not a payment reason)."""


class PaymentRefused(Exception):
    """A payment rule refused the payment (a ``DomainError``): the one error that marks a payment FAILED.

    The message is the domain error's stable code and safe message.
    """


@dataclass
class WorkflowRuntime:
    settings: Settings
    store: PaymentStore
    sns: Any
    clock: Clock


def build_runtime(config: Settings, *, session: Any = None, clock: Clock | None = None) -> WorkflowRuntime:
    session = session or aws.session()
    dynamodb = session.resource("dynamodb")
    return WorkflowRuntime(
        settings=config,
        store=PaymentStore(dynamodb.Table(config.payments_table), dynamodb.Table(config.audit_table)),
        sns=session.client("sns"),
        clock=clock or Clock(),
    )


@cache
def runtime() -> WorkflowRuntime:
    return build_runtime(settings())


def _state(payment: Payment, **extra: str) -> dict[str, Any]:
    return {"payment_id": payment.payment_id, "status": payment.status.value, "version": payment.version, **extra}


def _load(rt: WorkflowRuntime, payment_id: str) -> Payment:
    payment = rt.store.get(payment_id)
    if payment is None:
        raise DomainError("payment does not exist", code="PAYMENT_NOT_FOUND")
    return payment


def _advance(rt: WorkflowRuntime, state: dict[str, Any], event: Event, reason: str | None = None) -> dict[str, Any]:
    now = iso(rt.clock.now_ms())
    try:
        payment, changed = rt.store.advance(state["payment_id"], event, now=now, reason=reason)
    except LookupError:
        raise DomainError("payment does not exist", code="PAYMENT_NOT_FOUND") from None
    # Written on retries too (a throttled audit write is retried after the update landed): the entry is
    # keyed by version, so a second write is a no-op, and it carries the time of the change, not of the retry.
    rt.store.record_audit(payment, action=event.value, actor=ACTOR, at=payment.updated_at)
    logger.info("payment advanced", extra={"event": event.value, "status": payment.status.value, "changed": changed})
    return _state(payment)


def validate(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    """Re-check the stored payment (money rules, no card data) before anything acts on it."""
    payment = _load(rt, state["payment_id"])
    refuse_pan(client_fields(payment.to_resource()))
    Money.of(payment.money.amount, payment.money.currency, limit=rt.settings.max_payment_minor_units)
    return _state(payment)


def screen_task(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    """Amount and merchant-velocity rules; the state machine branches on ``decision``."""
    payment = _load(rt, state["payment_id"])
    rules = rt.settings.screening
    count = rt.store.count_for_velocity(
        payment.merchant_id, window_start(rt.clock.now_ms() // 1000, rules), payment.payment_id
    )
    result = screen(payment.money.amount, count, rules)
    logger.info("payment screened", extra={"decision": result.decision.value, "reason": result.reason})
    return _state(payment, decision=result.decision.value, reason=result.reason)


def authorize(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    return _advance(rt, state, Event.AUTHORIZE)


def record(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    """Capture the authorized payment."""
    return _advance(rt, state, Event.CAPTURE)


def decline(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    return _advance(rt, state, Event.DECLINE, reason=state.get("reason", "DECLINED"))


def notify(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    """Publish the payment's current state once per version: a retry after the publish went out skips it.

    Only a failure between the publish and its mark publishes twice (consumers de-duplicate on event_id).
    """
    payment = _load(rt, state["payment_id"])
    if rt.store.published_version(payment.payment_id) < payment.version:
        event = payment_event(payment, occurred_at=payment.updated_at)
        publish_event(rt.sns, rt.settings.require("events_topic_arn"), event)
        rt.store.mark_published(payment)
    return _state(payment)


def fail(rt: WorkflowRuntime, state: dict[str, Any]) -> dict[str, Any]:
    """Mark the payment FAILED where the lifecycle allows it (else leave it as it is), and tell subscribers.

    A retry that finds it FAILED already still publishes, once: the first attempt may have stopped there.
    """
    payment = rt.store.get(state["payment_id"])
    if payment is None:
        return {"payment_id": state["payment_id"]}
    if (payment.status, Event.FAIL) in TRANSITIONS:
        return notify(rt, _advance(rt, state, Event.FAIL, reason="WORKFLOW_ERROR"))
    if payment.status is Status.FAILED:
        return notify(rt, _state(payment))
    return _state(payment)


TASKS: dict[str, Callable[[WorkflowRuntime, dict[str, Any]], dict[str, Any]]] = {
    "validate": validate,
    "screen": screen_task,
    "authorize": authorize,
    "record": record,
    "decline": decline,
    "notify": notify,
    "fail": fail,
}


def _parse(event: Any) -> tuple[str, dict[str, Any]]:
    if not validator(WORKFLOW_TASK).is_valid(event):
        raise InvalidTaskInput("task input does not match the workflow_task contract")
    state = event["payment"]
    if not validator(WORKFLOW_STATE).is_valid(state):
        raise InvalidTaskInput("payment state does not match the workflow_state contract")
    return event["task"], state


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task, state = _parse(event)
    logger.set_correlation_id(state["payment_id"])
    logger.append_keys(task=task)
    try:
        with aws.capacity_errors_named():
            return TASKS[task](runtime(), state)
    except DomainError as refusal:
        logger.warning("payment refused", extra={"code": refusal.code})
        raise PaymentRefused(f"{refusal.code}: {refusal.message}") from refusal
