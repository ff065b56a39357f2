"""batch_processor: S3 ObjectCreated -> validate the CSV (streamed) -> enqueue accepted payments -> batch status.

A file belongs to the merchant whose folder holds it (``incoming/<merchant_id>/<name>.csv``): a file outside a
merchant's folder fails whole (MERCHANT_FOLDER_REQUIRED), a line naming another merchant is refused with its
line number (MERCHANT_MISMATCH). The bucket policy already holds a merchant's principals to their folder; this
is the second check, and the only one for principals the policy does not tag.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from lambdas.shared import aws
from lambdas.shared.batch_csv import BatchLimits, BatchParser, BatchRow, FileError, LineError, file_too_large
from lambdas.shared.merchants import batch_file_merchant
from lambdas.shared.payments import iso, payment_id_for
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.store import BatchStore, send_in_batches

MAX_REPORTED_ERRORS = 20
CHUNK_BYTES = 1024 * 1024
# Progress is saved after this many messages: a redelivery resumes after the last saved line.
PROGRESS_EVERY = 100
# A lease outlives its invocation by this margin (clock skew between the function and DynamoDB's condition).
LEASE_MARGIN_MS = 5_000
# The lease of a call without a Lambda context: the batch function's default timeout (stacks/config.py) and margin.
DEFAULT_LEASE_MS = 300_000 + LEASE_MARGIN_MS
FINAL = ("COMPLETED", "FAILED")
NO_MERCHANT_FOLDER = FileError("MERCHANT_FOLDER_REQUIRED", "batch files go under incoming/<merchant_id>/")


@dataclass
class BatchRuntime:
    settings: Settings
    batches: BatchStore
    s3: Any
    sqs: Any
    clock: Clock
    limits: BatchLimits
    sleep: Callable[[float], None]


def build_runtime(
    config: Settings,
    *,
    session: Any = None,
    clock: Clock | None = None,
    limits: BatchLimits | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchRuntime:
    session = session or aws.session()
    return BatchRuntime(
        settings=config,
        batches=BatchStore(session.resource("dynamodb").Table(config.require("batches_table"))),
        s3=session.client("s3"),
        sqs=session.client("sqs"),
        clock=clock or Clock(),
        limits=limits or BatchLimits(amount_limit=config.max_payment_minor_units),
        sleep=sleep,
    )


@cache
def runtime() -> BatchRuntime:
    return build_runtime(settings())


def batch_id_for(bucket: str, key: str, version: str) -> str:
    """One batch per object version: a redelivered event names the same batch."""
    return "bat_" + hashlib.sha256(f"{bucket}\x00{key}\x00{version}".encode()).hexdigest()[:32]


def _chunks(rt: BatchRuntime, bucket: str, key: str, version: str | None) -> Iterator[bytes]:
    extra = {"VersionId": version} if version else {}
    body = rt.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"]
    yield from body.iter_chunks(CHUNK_BYTES)


def _message(batch_id: str, row: BatchRow) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_type": "payment.requested",
        "payment_id": payment_id_for(batch_id, row.reference),
        "batch_id": batch_id,
        "line": row.line,
        "merchant_id": row.merchant_id,
        "reference": row.reference,
        "amount": row.amount,
        "currency": row.currency,
    }
    if row.description:
        message["description"] = row.description
    return message


def process_object(
    rt: BatchRuntime, record: dict[str, Any], *, owner: str = "direct", lease_ms: int = DEFAULT_LEASE_MS
) -> dict[str, Any]:
    """Two streamed passes: validate the whole file first (a refused file enqueues nothing), then enqueue.

    The batch is processed under a lease (``BatchStore.claim``) held by ``owner`` (the invocation's request id)
    for ``lease_ms`` milliseconds (the invocation's remaining time and a margin): while it holds, another
    invocation for the same file (a duplicate S3 event, the reconciliation's resume) enqueues nothing and
    answers the batch's current status.
    """
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])
    version = record["s3"]["object"].get("versionId")
    batch_id = batch_id_for(bucket, key, version or record["s3"]["object"].get("eTag", ""))
    logger.set_correlation_id(batch_id)
    now_ms = rt.clock.now_ms()
    now = iso(now_ms)
    existing = rt.batches.begin(batch_id, bucket=bucket, key=key, version=version or "", at=now)
    if existing is not None and existing["status"] in FINAL:
        logger.info("batch already processed", extra={"status": existing["status"]})
        return _summary(batch_id, existing)
    claimed = rt.batches.claim(batch_id, owner=owner, now_ms=now_ms, until_ms=now_ms + lease_ms, at=now)
    if claimed is None:
        current = rt.batches.get(batch_id)
        if current["status"] in FINAL:
            return _summary(batch_id, current)
        logger.info("batch held by another invocation", extra={"lease_until_ms": int(current["lease_until_ms"])})
        return {"batch_id": batch_id, "status": current["status"], "accepted": 0, "rejected": 0, "errors": []}
    # The item as the lease found it: a batch seen before resumes after its last saved line.
    resume_after = int(claimed["enqueued_lines"])

    accepted = rejected = 0
    errors: list[dict[str, Any]] = []
    size = int(record["s3"]["object"].get("size", 0))
    merchant = batch_file_merchant(key)
    if merchant is None:
        return _finish(rt, batch_id, "FAILED", 0, 0, [], _file_failure(NO_MERCHANT_FOLDER))
    if size > rt.limits.max_bytes:
        return _finish(rt, batch_id, "FAILED", 0, 0, [], _file_failure(file_too_large(rt.limits)))
    parser = BatchParser(rt.limits, merchant_id=merchant)
    for item in parser.parse(_chunks(rt, bucket, key, version)):
        if isinstance(item, BatchRow):
            accepted += 1
        elif isinstance(item, LineError):
            rejected += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"line": item.line, "code": item.code, "message": item.message})
        else:
            return _finish(rt, batch_id, "FAILED", 0, rejected, errors, _file_failure(item))

    pending: list[tuple[str, dict[str, Any]]] = []
    for item in parser.parse(_chunks(rt, bucket, key, version)):
        if isinstance(item, BatchRow) and item.line > resume_after:
            pending.append((f"l{item.line}", _message(batch_id, item)))
            if len(pending) >= PROGRESS_EVERY:
                _enqueue(rt, batch_id, pending)
                pending = []
    _enqueue(rt, batch_id, pending)
    return _finish(rt, batch_id, "COMPLETED", accepted, rejected, errors, None)


def _file_failure(error: FileError) -> str:
    return f"{error.code}: {error.message}" + (f" (line {error.line})" if error.line else "")


def _enqueue(rt: BatchRuntime, batch_id: str, pending: list[tuple[str, dict[str, Any]]]) -> None:
    if not pending:
        return
    send_in_batches(rt.sqs, rt.settings.require("payment_queue_url"), pending, sleep=rt.sleep)
    rt.batches.set_status(batch_id, "PROCESSING", enqueued_lines=pending[-1][1]["line"])


def _finish(
    rt: BatchRuntime,
    batch_id: str,
    status: str,
    accepted: int,
    rejected: int,
    errors: list[dict[str, Any]],
    failure: str | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "accepted": accepted,
        "rejected": rejected,
        "errors": errors,
        "finished_at": iso(rt.clock.now_ms()),
    }
    if failure:
        fields["failure"] = failure[:300]
    rt.batches.set_status(batch_id, status, **fields)
    logger.info("batch finished", extra={"status": status, "accepted": accepted, "rejected": rejected})
    return _summary(batch_id, {"status": status, **fields})


def _summary(batch_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """The batch_status contract view of a finished batch item (``_finish`` writes the counts and errors with
    the final status, so an item without them is broken: KeyError, never a made-up 0)."""
    summary: dict[str, Any] = {
        "batch_id": batch_id,
        "status": item["status"],
        "accepted": int(item["accepted"]),
        "rejected": int(item["rejected"]),
        "errors": [{"line": int(e["line"]), "code": e["code"], "message": e["message"]} for e in item["errors"]],
    }
    if item.get("failure"):
        summary["failure"] = item["failure"]
    return summary


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = runtime()
    lease_ms = context.get_remaining_time_in_millis() + LEASE_MARGIN_MS
    owner = context.aws_request_id
    return {
        "batches": [process_object(rt, record, owner=owner, lease_ms=lease_ms) for record in event.get("Records", [])]
    }
