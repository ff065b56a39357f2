"""Fixtures for the handler tests: moto-backed AWS (in process), a fixed clock, captured logs.

The table key schemas come from ``tables.json``; ``tests/unit/stacks/test_lambda_wiring.py`` proves
the synthesized stack declares the same ones, so these tests exercise the tables that get deployed.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.shared import runtime as runtime_module
from lambdas.shared.runtime import Clock, Settings

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TABLES: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "tables.json").read_text())
MAX_AMOUNT = 100_000_000_000
# One session for the whole run: it caches the service models every client loads (~50 ms each).
# Credentials are resolved on first use, after the fixture set the fake ones.
_SESSION = boto3.session.Session(region_name=REGION)
T0_MS = 1_790_000_000_000


class FixedClock:
    """Deterministic time (advances 1 ms a call, thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks = itertools.count()

    def now_ms(self) -> int:
        with self._lock:
            return T0_MS + next(self._ticks)

    def clock(self) -> Clock:
        return Clock(now_ms=self.now_ms)


@dataclass
class FakeContext:
    """The parts of the Lambda context Powertools reads."""

    function_name: str = "paygate-dev-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:paygate-dev-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/paygate-dev-test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Aws:
    """Names of the moto resources and a session bound to them."""

    session: Any
    tables: dict[str, str]
    queue_url: str
    topic_arn: str
    events_queue_url: str
    bucket: str
    state_machine_arn: str
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = Settings(
            environment="test",
            payments_table=self.tables["payments"],
            audit_table=self.tables["audit-log"],
            max_payment_minor_units=MAX_AMOUNT,
            idempotency_table=self.tables["idempotency"],
            callers_table=self.tables["callers"],
            state_machine_arn=self.state_machine_arn,
            events_topic_arn=self.topic_arn,
            batches_table=self.tables["batches"],
            payment_queue_url=self.queue_url,
        )

    def table(self, purpose: str) -> Any:
        return self.session.resource("dynamodb").Table(self.tables[purpose])

    def bind(self, caller_id: str, merchant_id: str) -> None:
        """A callers-table binding, as ``python -m pipeline merchant-bind`` writes it."""
        item = {"caller_id": caller_id, "merchant_id": merchant_id, "bound_at": "2026-12-01T00:00:00.000Z"}
        self.table("callers").put_item(Item={**item, "bound_by": "tests"})

    def items(self, purpose: str) -> list[dict[str, Any]]:
        return list(self.table(purpose).scan(ConsistentRead=True)["Items"])

    def payments(self) -> list[dict[str, Any]]:
        return [item for item in self.items("payments") if "status" in item]

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message body on the queue (SNS envelopes unwrapped), deleting them."""
        sqs = self.session.client("sqs")
        bodies = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return bodies
            for message in got:
                body = json.loads(message["Body"])
                bodies.append(json.loads(body["Message"]) if body.get("Type") == "Notification" else body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _create_table(client: Any, name: str, spec: dict[str, Any]) -> None:
    keys = [{"AttributeName": spec["hash_key"], "KeyType": "HASH"}]
    if "range_key" in spec:
        keys.append({"AttributeName": spec["range_key"], "KeyType": "RANGE"})
    indexes = [
        {
            "IndexName": index,
            "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index, (h, r) in spec.get("indexes", {}).items()
    ]
    attributes = dict.fromkeys(
        [k["AttributeName"] for k in keys] + [a for h_r in spec.get("indexes", {}).values() for a in h_r]
    )
    client.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        BillingMode="PAY_PER_REQUEST",
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    if "ttl_attribute" in spec:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl_attribute"]}
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = _SESSION
        dynamodb = session.client("dynamodb")
        tables = {purpose: f"paygate-test-{purpose}" for purpose in TABLES}
        for purpose, spec in TABLES.items():
            _create_table(dynamodb, tables[purpose], spec)
        sqs = session.client("sqs")
        queue_url = sqs.create_queue(QueueName="paygate-test-payments")["QueueUrl"]
        events_queue_url = sqs.create_queue(QueueName="paygate-test-notifications")["QueueUrl"]
        events_queue_arn = sqs.get_queue_attributes(QueueUrl=events_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns = session.client("sns")
        topic_arn = sns.create_topic(Name="paygate-test-payment-events")["TopicArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=events_queue_arn)
        s3 = session.client("s3")
        bucket = "paygate-test-batches"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        sfn = session.client("stepfunctions")
        state_machine_arn = sfn.create_state_machine(
            name="paygate-test-lifecycle",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/paygate-test-workflow",
        )["stateMachineArn"]
        yield Aws(session, tables, queue_url, topic_arn, events_queue_url, bucket, state_machine_arn)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the shared logger writes during the test (JSON lines)."""
    stream = io.StringIO()
    handler = runtime_module.logger.registered_handler
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


class Failing:
    """A table or client whose ``method`` raises ``error`` on its first ``times`` calls, then works."""

    def __init__(self, real: Any, method: str, error: Exception, times: int = 1) -> None:
        self._real, self._method, self._error, self._left = real, method, error, times

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._left > 0:
                self._left -= 1
                raise self._error
            return attribute(*args, **kwargs)

        return call
