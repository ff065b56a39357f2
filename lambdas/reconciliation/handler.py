"""reconciliation: finds payments and batch files stuck short of the end of their processing and re-drives them.

Run by an EventBridge schedule (stacks/constructs/reconciliation.py), one run at a time (reserved concurrency 1).
Nothing here changes a payment or a batch: it only gives each stuck one another run of the code that owns it,
and every step of that code is idempotent, so a re-drive of something that was not stuck after all (a run that
was about to start, a run still retrying) changes nothing.

- **Payments in flight** (``lifecycle.IN_FLIGHT``: PENDING, AUTHORIZED) created longer than the stuck age ago,
  whatever their source, and **payments whose processing ended but whose event never went out** (their latest
  workflow run FAILED, TIMED_OUT or ABORTED within the lookback): a new run of the lifecycle workflow, named by
  the execution name rule (:func:`execution_name`: ``<payment_id>`` first, as the API starts it, then
  ``<payment_id>-r<n>``), so two reconciliations (or the API's own retry) starting the same run collide on the
  name instead of starting two. The workflow resumes where the payment's status says it stopped
  (stacks/constructs/workflow_definition.py ``ResumeFrom``). A payment whose latest run is still RUNNING is left
  to it; one with ``MAX_REDRIVES`` runs after the first is left to people (it stays counted as still stuck).
- **Batch files** still RECEIVED or PROCESSING past the stuck age whose lease ran out (the batch function died
  mid-file and Lambda's own retries ended): the batch function is invoked again with the file's S3 record; it
  resumes after the last line whose progress it saved (lambdas/batch_processor/handler.py).

Each run emits its counts (found, re-driven, still stuck: contracts.RECONCILIATION_*) as CloudWatch Embedded
Metric Format; the still-stuck alarm fires on anything in flight past the alarm age.

An operator may run it for one merchant now: ``{"merchant_id": "...", "stuck_after_seconds": 0}`` as the
invocation's payload (the merchant's payments by the by-merchant index; batch files are not merchant-scoped).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from boto3.dynamodb.conditions import Attr, Key

from contracts import (
    ENTITY_TYPE_DIMENSION,
    ENVIRONMENT_DIMENSION,
    METRICS_NAMESPACE,
    RECONCILIATION_FOUND_METRIC,
    RECONCILIATION_REDRIVEN_METRIC,
    RECONCILIATION_SERVICE,
    RECONCILIATION_STILL_STUCK_METRIC,
)
from contracts.callers import MERCHANT_ID
from lambdas.shared import aws
from lambdas.shared.lifecycle import IN_FLIGHT, PROCESSING_ENDS
from lambdas.shared.payments import Payment, iso
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.store import PaymentStore

# Runs of one payment's workflow after its first: beyond them it is left to people (and alarms).
MAX_REDRIVES = 5
# Items one run looks at, per kind: the rest is found by the next run (the schedule comes back in minutes).
MAX_PER_RUN = 500
# Step Functions' closed statuses after which a payment not at the end of its processing needs another run.
CLOSED_UNFINISHED = ("FAILED", "TIMED_OUT", "ABORTED")
OPEN = ("RUNNING", "PENDING_REDRIVE")
BATCH_OPEN = ("RECEIVED", "PROCESSING")
PAYMENTS_BY_STATUS = "by-status"
PAYMENTS_BY_MERCHANT = "by-merchant"
BATCHES_BY_STATUS = "by-status"
EXECUTION_NAME = re.compile(r"(pay_[a-f0-9]{32})(?:-r([0-9]+))?")


class InvalidRequest(ValueError):
    """An on-demand invocation's payload is not {"merchant_id": str, "stuck_after_seconds": int >= 0}."""


@dataclass(frozen=True)
class Policy:
    """When something counts as stuck, in seconds since it was created (payments) or received (batch files).

    ``stuck_after_seconds``: re-driven from this age; ``alarm_after_seconds``: still in flight at this age is
    counted as still stuck (the alarm); ``lookback_seconds``: how far back failed workflow runs are read.
    Set by the stack from the environment's ``[reconciliation]`` settings (stacks/config.py).
    """

    stuck_after_seconds: int
    alarm_after_seconds: int
    lookback_seconds: int

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> Policy:
        e = os.environ if env is None else env
        return cls(
            stuck_after_seconds=int(e["RECONCILE_STUCK_AFTER_SECONDS"]),
            alarm_after_seconds=int(e["RECONCILE_ALARM_AFTER_SECONDS"]),
            lookback_seconds=int(e["RECONCILE_LOOKBACK_SECONDS"]),
        )


@dataclass
class Counts:
    found: int = 0
    redriven: int = 0
    in_progress: int = 0
    still_stuck: int = 0
    given_up: int = 0


@dataclass
class Report:
    """What one run did: counts per entity type, and the ids it re-drove (payment ids, batch ids)."""

    payments: Counts = field(default_factory=Counts)
    batches: Counts = field(default_factory=Counts)
    redriven_payments: list[str] = field(default_factory=list)
    resumed_batches: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReconciliationRuntime:
    settings: Settings
    policy: Policy
    store: PaymentStore
    payments: Any
    batches: Any
    sfn: Any
    lambda_: Any
    clock: Clock


def build_runtime(
    config: Settings, policy: Policy, *, session: Any = None, clock: Clock | None = None
) -> ReconciliationRuntime:
    session = session or aws.session()
    dynamodb = session.resource("dynamodb")
    payments = dynamodb.Table(config.payments_table)
    return ReconciliationRuntime(
        settings=config,
        policy=policy,
        store=PaymentStore(payments, dynamodb.Table(config.audit_table)),
        payments=payments,
        batches=dynamodb.Table(config.require("batches_table")),
        sfn=session.client("stepfunctions"),
        lambda_=session.client("lambda"),
        clock=clock or Clock(),
    )


@cache
def runtime() -> ReconciliationRuntime:
    return build_runtime(settings(), Policy.from_environ())


def execution_name(payment_id: str, run: int) -> str:
    """The name of a payment's ``run``-th workflow run: ``<payment_id>`` (run 0, as the API starts it), then
    ``<payment_id>-r<run>``. Step Functions refuses a second execution of a name (StartExecution,
    ExecutionAlreadyExists), so whoever starts a run second starts nothing."""
    return payment_id if run == 0 else f"{payment_id}-r{run}"


def payment_of_execution(name: str) -> str | None:
    """The payment id an execution name carries (None for a name outside the rule)."""
    match = EXECUTION_NAME.fullmatch(name)
    return match.group(1) if match else None


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<partition>:states:<region>:<account>:execution:<state machine>:<name> (Step Functions ARN format)."""
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def _query(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = table.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _capped(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for n, item in enumerate(items):
        if n >= MAX_PER_RUN:
            logger.warning("more stuck items than one run takes", extra={"max_per_run": MAX_PER_RUN})
            return
        yield item


def stuck_payments(rt: ReconciliationRuntime, cutoff: str, merchant_id: str | None) -> Iterator[Payment]:
    """Payments in flight created before ``cutoff`` (ISO time), oldest first; one merchant's, or everyone's."""
    if merchant_id is not None:
        items = _query(
            rt.payments,
            IndexName=PAYMENTS_BY_MERCHANT,
            KeyConditionExpression=Key("merchant_id").eq(merchant_id) & Key("created_at").lt(cutoff),
            FilterExpression=Attr("status").is_in([s.value for s in IN_FLIGHT]),
        )
    else:
        items = (
            item
            for status in sorted(IN_FLIGHT)
            for item in _query(
                rt.payments,
                IndexName=PAYMENTS_BY_STATUS,
                KeyConditionExpression=Key("status").eq(status.value) & Key("created_at").lt(cutoff),
            )
        )
    for item in _capped(items):
        yield Payment.from_item(item)


def closed_unfinished_runs(rt: ReconciliationRuntime, since_ms: int) -> Iterator[str]:
    """Names of the workflow runs that ended FAILED, TIMED_OUT or ABORTED and started since ``since_ms`` (epoch ms).
    ListExecutions answers newest first, so each status is read only back to ``since_ms``."""
    machine = rt.settings.require("state_machine_arn")
    for status in CLOSED_UNFINISHED:
        pages = rt.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter=status)
        for execution in (e for page in pages for e in page.get("executions", [])):
            if execution["startDate"].timestamp() * 1000 < since_ms:
                break
            yield execution["name"]


def unpublished_after_failed_runs(
    rt: ReconciliationRuntime, since_ms: int, merchant_id: str | None
) -> Iterator[Payment]:
    """Payments whose processing ended but whose event did not go out, found through their workflow runs that
    ended FAILED, TIMED_OUT or ABORTED since ``since_ms`` (e.g. Notify outlasted its retry budget). A payment still
    in flight is left to :func:`stuck_payments`, which finds it once it is old enough."""
    seen: set[str] = set()
    for name in closed_unfinished_runs(rt, since_ms):
        payment_id = payment_of_execution(name)
        if payment_id is None or payment_id in seen:
            continue
        seen.add(payment_id)
        payment = rt.store.get(payment_id)
        if payment is None or payment.status not in PROCESSING_ENDS:
            continue
        if merchant_id is not None and payment.merchant_id != merchant_id:
            continue
        if rt.store.published_version(payment_id) < payment.version:
            yield payment


def redrive(rt: ReconciliationRuntime, payment_id: str) -> str:
    """Start the payment's next workflow run unless one is running: "redriven", "in_progress" or "given_up"."""
    machine = rt.settings.require("state_machine_arn")
    latest: dict[str, Any] | None = None
    run = 0
    while run <= MAX_REDRIVES:
        try:
            latest = rt.sfn.describe_execution(executionArn=execution_arn(machine, execution_name(payment_id, run)))
        except rt.sfn.exceptions.ExecutionDoesNotExist:
            break
        run += 1
    if latest is not None and latest["status"] in OPEN:
        return "in_progress"
    if run > MAX_REDRIVES:
        return "given_up"
    try:
        rt.sfn.start_execution(
            stateMachineArn=machine,
            name=execution_name(payment_id, run),
            input=json.dumps({"payment_id": payment_id}),
        )
    except rt.sfn.exceptions.ExecutionAlreadyExists:
        return "in_progress"  # another reconciliation, or the API's retry, started this run first
    return "redriven"


def _age_seconds(rt: ReconciliationRuntime, at: str) -> float:
    """Seconds from ``at`` (the contracts' ISO time) to now."""
    return rt.clock.now_ms() / 1000 - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def reconcile_payments(rt: ReconciliationRuntime, report: Report, stuck_after: int, merchant_id: str | None) -> None:
    now_ms = rt.clock.now_ms()
    cutoff = iso(now_ms - stuck_after * 1000)
    since_ms = now_ms - rt.policy.lookback_seconds * 1000
    counts = report.payments
    found = [*stuck_payments(rt, cutoff, merchant_id), *unpublished_after_failed_runs(rt, since_ms, merchant_id)]
    for payment in found:
        counts.found += 1
        outcome = redrive(rt, payment.payment_id)
        if outcome == "redriven":
            counts.redriven += 1
            report.redriven_payments.append(payment.payment_id)
        elif outcome == "in_progress":
            counts.in_progress += 1
        else:
            counts.given_up += 1
        if outcome == "given_up" or _age_seconds(rt, payment.created_at) >= rt.policy.alarm_after_seconds:
            counts.still_stuck += 1
        logger.info(
            "stuck payment",
            extra={"payment_id": payment.payment_id, "status": payment.status.value, "outcome": outcome},
        )


def batch_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """The S3 event record (the S3 event message structure) of the batch file ``item`` names: what the batch
    function is invoked with. Keys in S3 event records are URL-encoded (spaces as '+')."""
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": item["bucket"]},
            "object": {"key": quote_plus(item["object_key"], safe="/"), "versionId": item["object_version"]},
        },
    }


def reconcile_batches(rt: ReconciliationRuntime, report: Report, stuck_after: int) -> None:
    now_ms = rt.clock.now_ms()
    cutoff = iso(now_ms - stuck_after * 1000)
    counts = report.batches
    items = (
        item
        for status in BATCH_OPEN
        for item in _query(
            rt.batches,
            IndexName=BATCHES_BY_STATUS,
            KeyConditionExpression=Key("status").eq(status) & Key("received_at").lt(cutoff),
        )
    )
    for item in _capped(items):
        counts.found += 1
        if int(item.get("lease_until_ms", 0)) > now_ms:
            counts.in_progress += 1  # an invocation holds the file: it may still be enqueuing
        elif not item.get("object_version"):
            counts.given_up += 1  # an unversioned object cannot be read again as the one received
        else:
            rt.lambda_.invoke(
                FunctionName=rt.settings.require("batch_function_name"),
                InvocationType="Event",
                Payload=json.dumps({"Records": [batch_record(item)]}).encode(),
            )
            counts.redriven += 1
            report.resumed_batches.append(item["batch_id"])
        if _age_seconds(rt, item["received_at"]) >= rt.policy.alarm_after_seconds or not item.get("object_version"):
            counts.still_stuck += 1
        logger.info("stuck batch", extra={"batch_id": item["batch_id"], "status": item["status"]})


def emit_metrics(environment: str, report: Report) -> None:
    """The run's counts as Embedded Metric Format lines (CloudWatch Logs turns them into metrics; no API call)."""
    for entity, counts in (("payment", report.payments), ("batch", report.batches)):
        metrics = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE)
        metrics.set_default_dimensions(**{"service": RECONCILIATION_SERVICE, ENVIRONMENT_DIMENSION: environment})
        metrics.add_dimensions(**{ENTITY_TYPE_DIMENSION: entity})
        for name, value in (
            (RECONCILIATION_FOUND_METRIC, counts.found),
            (RECONCILIATION_REDRIVEN_METRIC, counts.redriven),
            (RECONCILIATION_STILL_STUCK_METRIC, counts.still_stuck),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.flush_metrics()


def parse_request(event: Any, policy: Policy) -> tuple[int, str | None]:
    """(stuck age in seconds, merchant or None) of an invocation: a scheduled event (EventBridge's "Scheduled
    Event") takes the policy's age for everyone; an operator's {"merchant_id", "stuck_after_seconds"} one
    merchant's payments at the age it gives. InvalidRequest for anything else."""
    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        return policy.stuck_after_seconds, None
    if not isinstance(event, dict) or set(event) != {"merchant_id", "stuck_after_seconds"}:
        raise InvalidRequest('expected a scheduled event or {"merchant_id": ..., "stuck_after_seconds": ...}')
    merchant, age = event["merchant_id"], event["stuck_after_seconds"]
    if not isinstance(merchant, str) or not MERCHANT_ID.fullmatch(merchant):
        raise InvalidRequest("merchant_id must be a merchant id (m_ and 6-32 lowercase letters or digits)")
    if not isinstance(age, int) or isinstance(age, bool) or age < 0:
        raise InvalidRequest("stuck_after_seconds must be a whole number of seconds >= 0")
    return age, merchant


def reconcile(rt: ReconciliationRuntime, event: Any) -> Report:
    stuck_after, merchant_id = parse_request(event, rt.policy)
    report = Report()
    reconcile_payments(rt, report, stuck_after, merchant_id)
    if merchant_id is None:
        reconcile_batches(rt, report, stuck_after)
    emit_metrics(rt.settings.environment, report)
    logger.info(
        "reconciliation finished", extra={"payments": asdict(report.payments), "batches": asdict(report.batches)}
    )
    return report


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with aws.capacity_errors_named():
        return reconcile(runtime(), event).as_dict()
