"""What the invariants read of a deployed paygate (LocalStack or AWS), and the only code that reads it.

:class:`Deployment`: the resource names of its outputs file (stacks/constants.py ``OUTPUT_*``), region, account,
LocalStack endpoint, and the boto3 session. :class:`DeployedState`: strongly consistent reads of the payments,
audit and idempotency tables, and of the payment DLQ, the notification queue and the DLQ's alarm, through
injected clients. Items come back as the few typed fields the rules look at (:class:`StoredPayment`,
:class:`AuditEntry`, :class:`ApiRecord`).

Queues are read without deleting anything: each message received is hidden while the queue is read
(:data:`PEEK_VISIBILITY_SECONDS`) and made visible again right after.

Storage formats of lambdas/shared/store.py are written out here, not imported: of the Lambda code the pipeline
imports only ``lambdas.shared.lifecycle`` (the pipeline suite's cache key leaves out the rest of lambdas/).
tests/unit/stacks/test_invariant_formats.py holds them to what the handlers write and the stack declares.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.shared.lifecycle import Status
from pipeline.core.errors import PipelineError
from pipeline.deploy.outputs import OPERATOR_CLIENT_CONFIG, operator_session, read_flat_outputs
from stacks import constants

PUBLISHED_PREFIX = "published#"  # lambdas/shared/store.py mark_published: published#<payment_id>, attribute version
BY_MERCHANT_INDEX = "by-merchant"  # stacks/constructs/tables.py PAYMENTS: (merchant_id, created_at)
# Powertools' DynamoDBPersistenceLayer: key attribute "id", status "status", the stored answer (JSON) "data".
IDEMPOTENCY_COMPLETED = "COMPLETED"
# stacks/constructs/alarms.py names each DLQ's alarm naming.alarm(f"{purpose}-depth"), messaging.py the queue
# naming.queue(purpose); both are <prefix>-<purpose> (stacks/naming.py): the alarm is the queue's name + "-depth".
DLQ_ALARM_SUFFIX = "-depth"
STATES = frozenset(state.value for state in Status)

PEEK_VISIBILITY_SECONDS = 30  # a message read by the checker is hidden this long at most
QUEUE_WAIT_SECONDS = 1  # long polling: SQS asks all its servers, so an empty answer means an empty queue
SQS_BATCH = 10


class InvariantsError(PipelineError):
    """The invariants cannot be checked: an outputs or requests file is missing or malformed, or AWS refused
    a read. (A violated invariant is not an error: it is in the report.)"""


def _whole(value: object) -> int | None:
    """A DynamoDB number that is a whole number (int or integral Decimal), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


@dataclass(frozen=True)
class StoredPayment:
    """The parts of a payment item the invariants read; ``status``/``version`` None when not well-formed (a
    status the lifecycle does not know, a version that is not a whole number)."""

    payment_id: str
    merchant_id: str | None
    status: Status | None
    version: int | None
    raw_status: str

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StoredPayment | None:
        """A payment item; None for the helper items beside the payments (velocity counters, published markers),
        which have no ``status``."""
        if "status" not in item:
            return None
        raw = str(item["status"])
        merchant = item.get("merchant_id")
        return cls(
            payment_id=str(item["payment_id"]),
            merchant_id=str(merchant) if merchant is not None else None,
            status=Status(raw) if raw in STATES else None,
            version=_whole(item.get("version")),
            raw_status=raw,
        )

    @property
    def well_formed(self) -> bool:
        return self.status is not None and self.version is not None


@dataclass(frozen=True)
class AuditEntry:
    """One audit item: its range key, status and version (None when not a whole number)."""

    event_id: str
    status: str
    version: int | None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AuditEntry:
        return cls(str(item.get("event_id", "")), str(item.get("status", "")), _whole(item.get("version")))


@dataclass(frozen=True)
class ApiRecord:
    """A COMPLETED idempotency record of the API handler: its key (``id``) and the payment its answer names."""

    record_id: str
    payment_id: str
    merchant_id: str | None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ApiRecord | None:
        """None for a record still in progress, or another function's (the payment processor stores
        ``{"payment_id", "status"}``, not a ``payment`` resource)."""
        if item.get("status") != IDEMPOTENCY_COMPLETED or not isinstance(item.get("data"), str):
            return None
        try:
            answer = json.loads(item["data"])
        except ValueError:
            return None
        payment = answer.get("payment") if isinstance(answer, dict) else None
        if not isinstance(payment, dict) or not isinstance(payment.get("payment_id"), str):
            return None
        merchant = payment.get("merchant_id")
        return cls(str(item["id"]), payment["payment_id"], merchant if isinstance(merchant, str) else None)


@dataclass(frozen=True)
class Deployment:
    """Where a deployment's resources are: names from its outputs (stacks/constants.py ``OUTPUT_*``), the region,
    the account, and ``endpoint`` (LocalStack's URL; None: AWS through the default credential chain)."""

    payments_table: str
    audit_table: str
    idempotency_table: str
    payment_dlq_url: str
    region: str
    notification_queue_url: str | None = None
    account_id: str | None = None
    endpoint: str | None = None

    @property
    def payment_dlq_name(self) -> str:
        return self.payment_dlq_url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def dlq_alarm_name(self) -> str:
        """The payment DLQ's depth alarm (see :data:`DLQ_ALARM_SUFFIX`)."""
        return self.payment_dlq_name + DLQ_ALARM_SUFFIX

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], *, endpoint: str | None = None) -> Deployment:
        """From flat outputs (``build/localstack/outputs.json``). The region is the ``region`` output, else the one
        the stack's ARNs name; the endpoint is ``endpoint``, else the ``localstack_endpoint`` output (a LocalStack
        deployment's outputs are never read as AWS's), else None.

        Raises
        ------
        InvariantsError
            Naming the outputs that are missing, or when no region can be found.
        """
        needed = (
            constants.OUTPUT_PAYMENTS_TABLE,
            constants.OUTPUT_AUDIT_TABLE,
            constants.OUTPUT_IDEMPOTENCY_TABLE,
            constants.OUTPUT_PAYMENT_DLQ_URL,
        )
        missing = [name for name in needed if not outputs.get(name)]
        if missing:
            raise InvariantsError(f"the deployment outputs lack {', '.join(missing)}: pass a paygate deployment's")
        arns = [str(value).split(":") for value in outputs.values() if str(value).startswith("arn:")]
        region = str(outputs.get("region") or next((arn[3] for arn in arns if len(arn) > 4 and arn[3]), ""))
        if not region:
            raise InvariantsError("the deployment outputs name no region (no region output, no regional ARN)")
        account = outputs.get("account_id") or next((arn[4] for arn in arns if len(arn) > 4 and arn[4]), None)
        notifications = outputs.get(constants.OUTPUT_NOTIFICATION_QUEUE_URL)
        return cls(
            payments_table=str(outputs[constants.OUTPUT_PAYMENTS_TABLE]),
            audit_table=str(outputs[constants.OUTPUT_AUDIT_TABLE]),
            idempotency_table=str(outputs[constants.OUTPUT_IDEMPOTENCY_TABLE]),
            payment_dlq_url=str(outputs[constants.OUTPUT_PAYMENT_DLQ_URL]),
            region=region,
            notification_queue_url=str(notifications) if notifications else None,
            account_id=str(account) if account else None,
            endpoint=endpoint or (str(outputs["localstack_endpoint"]) if outputs.get("localstack_endpoint") else None),
        )

    @classmethod
    def read(cls, path: Path, *, endpoint: str | None = None) -> Deployment:
        """From an outputs file: flat, or ``terraform output -json`` (``{name: {"value": ...}}``)."""
        return cls.from_outputs(read_flat_outputs(path, InvariantsError), endpoint=endpoint)

    def session(self, environ: Mapping[str, str]) -> boto3.session.Session:
        return operator_session(
            self.region, localstack=self.endpoint is not None, account_id=self.account_id, environ=environ
        )


@contextmanager
def _reading(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise InvariantsError(f"cannot read {what}: {error}") from None


def paginated_items(call: Callable[..., dict[str, Any]], **request: Any) -> list[dict[str, Any]]:
    """Every item of a paginated Scan or Query."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DeployedState:
    """Reads a deployment: payments, audit entries, published markers, idempotency records (boto3 DynamoDB
    resource), the payment DLQ and the notification queue (SQS client, nothing deleted), the DLQ's alarm
    (CloudWatch client). Every read is strongly consistent except the ``by-merchant`` index (a GSI).
    A refused read raises :class:`InvariantsError`.

    Parameters
    ----------
    queue_wait_seconds
        Long-polling wait of each queue receive, by default :data:`QUEUE_WAIT_SECONDS` (0 for moto).
    """

    def __init__(
        self,
        deployment: Deployment,
        *,
        dynamodb: Any,
        sqs: Any,
        cloudwatch: Any,
        queue_wait_seconds: int = QUEUE_WAIT_SECONDS,
    ) -> None:
        self.deployment = deployment
        self._payments = dynamodb.Table(deployment.payments_table)
        self._audit = dynamodb.Table(deployment.audit_table)
        self._idempotency = dynamodb.Table(deployment.idempotency_table)
        self._sqs = sqs
        self._cloudwatch = cloudwatch
        self._wait = queue_wait_seconds

    @classmethod
    def connect(cls, deployment: Deployment, session: boto3.session.Session) -> DeployedState:
        """Clients of ``session`` aimed at the deployment's endpoint (LocalStack) or AWS."""
        options = {"endpoint_url": deployment.endpoint, "config": OPERATOR_CLIENT_CONFIG}
        return cls(
            deployment,
            dynamodb=session.resource("dynamodb", **options),
            sqs=session.client("sqs", **options),
            cloudwatch=session.client("cloudwatch", **options),
        )

    def payment(self, payment_id: str) -> StoredPayment | None:
        with _reading(f"payment {payment_id} of {self.deployment.payments_table}"):
            item = self._payments.get_item(Key={"payment_id": payment_id}, ConsistentRead=True).get("Item")
        return StoredPayment.from_item(item) if item is not None else None

    def payments(self, merchant_id: str | None = None) -> list[StoredPayment]:
        """Every payment item (a paginated scan), or one merchant's (the ``by-merchant`` index)."""
        with _reading(f"the payments of {self.deployment.payments_table}"):
            if merchant_id is None:
                items = paginated_items(self._payments.scan, ConsistentRead=True)
            else:
                items = paginated_items(
                    self._payments.query,
                    IndexName=BY_MERCHANT_INDEX,
                    KeyConditionExpression="merchant_id = :m",
                    ExpressionAttributeValues={":m": merchant_id},
                )
        return [payment for item in items if (payment := StoredPayment.from_item(item)) is not None]

    def audit_entries(self, payment_id: str) -> list[AuditEntry]:
        """The payment's audit entries, in range-key (= version) order."""
        with _reading(f"the audit trail of {payment_id} in {self.deployment.audit_table}"):
            items = paginated_items(
                self._audit.query,
                KeyConditionExpression="entity_id = :id",
                ExpressionAttributeValues={":id": payment_id},
                ConsistentRead=True,
            )
        return [AuditEntry.from_item(item) for item in items]

    def published_version(self, payment_id: str) -> int:
        """The version its ``published#<id>`` item records, 0 when there is none."""
        with _reading(f"the published marker of {payment_id}"):
            key = {"payment_id": PUBLISHED_PREFIX + payment_id}
            item = self._payments.get_item(Key=key, ConsistentRead=True).get("Item") or {}
        return _whole(item.get("version")) or 0

    def api_idempotency_records(self) -> list[ApiRecord]:
        """Every COMPLETED record of the API handler in the idempotency table (a paginated scan)."""
        with _reading(f"the idempotency records of {self.deployment.idempotency_table}"):
            items = paginated_items(self._idempotency.scan, ConsistentRead=True)
        return [record for item in items if (record := ApiRecord.from_item(item)) is not None]

    def dead_lettered_payment_ids(self) -> frozenset[str]:
        """The payment ids of the messages in the payment DLQ (JSON objects with ``payment_id``; others ignored)."""
        ids = set()
        for body in self._peek(self.deployment.payment_dlq_url):
            message = _json_object(body)
            if isinstance(message.get("payment_id"), str):
                ids.add(message["payment_id"])
        return frozenset(ids)

    def dlq_alarm_state(self) -> str | None:
        """The payment DLQ depth alarm's state (OK, ALARM, INSUFFICIENT_DATA), None when it does not exist."""
        name = self.deployment.dlq_alarm_name
        with _reading(f"alarm {name}"):
            alarms = self._cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
        return str(alarms[0]["StateValue"]) if alarms else None

    def delivered_event_ids(self) -> frozenset[str]:
        """The ``event_id`` of every event on the notification queue; an SNS envelope (subscriptions without raw
        delivery) is unwrapped, though the stack's subscription delivers raw (stacks/constructs/messaging.py)."""
        url = self.deployment.notification_queue_url
        if url is None:
            raise InvariantsError(f"the deployment outputs lack {constants.OUTPUT_NOTIFICATION_QUEUE_URL}")
        ids = set()
        for body in self._peek(url):
            event = _json_object(body)
            if event.get("Type") == "Notification" and isinstance(event.get("Message"), str):
                event = _json_object(event["Message"])
            if isinstance(event.get("event_id"), str):
                ids.add(event["event_id"])
        return frozenset(ids)

    def _peek(self, queue_url: str) -> list[str]:
        """Every message body on the queue, nothing deleted: each message received is hidden for
        :data:`PEEK_VISIBILITY_SECONDS` so the next receive returns others, until one returns none new; then all
        are made visible again (a message the release misses reappears when its visibility times out)."""
        bodies: dict[str, str] = {}
        handles: list[str] = []
        try:
            with _reading(f"queue {queue_url}"):
                while True:
                    got = self._sqs.receive_message(
                        QueueUrl=queue_url,
                        MaxNumberOfMessages=SQS_BATCH,
                        VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                        WaitTimeSeconds=self._wait,
                    ).get("Messages", [])
                    handles.extend(message["ReceiptHandle"] for message in got)
                    fresh = [message for message in got if message["MessageId"] not in bodies]
                    if not fresh:
                        return list(bodies.values())
                    bodies.update((message["MessageId"], message["Body"]) for message in fresh)
        finally:
            self._release(queue_url, handles)

    def _release(self, queue_url: str, handles: Sequence[str]) -> None:
        for start in range(0, len(handles), SQS_BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + SQS_BATCH])
            ]
            with suppress(ClientError, BotoCoreError):  # those reappear after PEEK_VISIBILITY_SECONDS anyway
                self._sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
