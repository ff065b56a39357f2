"""pipeline/reliability (invariants, deployed) and `python -m pipeline invariants`: each invariant reported on a
deployment seeded with a real violation of it, and silent on a clean one (moto's DynamoDB, SQS, SNS, CloudWatch).

The tables have the stack's key schemas (stacks/constructs/tables.py, written out: this suite never reads the
stack's constructs). Items are written as the handlers write them (lambdas/shared/store.py); idempotency records
are written by Powertools' own idempotency layer, and events go through an SNS topic to the notification queue.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from moto import mock_aws

from pipeline import cli
from pipeline.reliability.deployed import DeployedState, Deployment, InvariantsError, paginated_items
from pipeline.reliability.invariants import (
    AUDIT_TRAIL,
    FINAL_STATE,
    IDEMPOTENCY,
    NOTIFICATION,
    AcceptedRequest,
    InvariantReport,
    check_invariants,
    read_requests,
)
from stacks import constants

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PREFIX = "paygate-test"
MERCHANT = "m_merchanta1"
OTHER_MERCHANT = "m_merchantb1"
NOW = "2026-12-01T10:00:00.000Z"
# The lifecycle paths the handlers take (lambdas/shared/lifecycle.py TRANSITIONS).
CAPTURED = ("PENDING", "AUTHORIZED", "CAPTURED")
DECLINED = ("PENDING", "DECLINED")
# One session for the module: it caches the service models every client loads (~50 ms each); credentials are
# resolved on first use, after the fixture set the fake ones.
SESSION = boto3.session.Session(region_name=REGION)


def pay(n: int) -> str:
    return "pay_" + hashlib.sha256(str(n).encode()).hexdigest()[:32]


# The stack's key schemas (stacks/constructs/tables.py TableSpec): hash, range, GSIs as (name, hash, range).
TABLES: dict[str, tuple[str, str | None, tuple[tuple[str, str, str], ...]]] = {
    "payments": (
        "payment_id",
        None,
        (("by-merchant", "merchant_id", "created_at"), ("by-status", "status", "created_at")),
    ),
    "audit-log": ("entity_id", "event_id", ()),
    "idempotency": ("id", None, ()),
}


def create_table(client: Any, purpose: str) -> str:
    hash_key, range_key, indexes = TABLES[purpose]
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    keys += [{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else []
    names = dict.fromkeys([hash_key, *([range_key] if range_key else []), *(n for _, h, r in indexes for n in (h, r))])
    options: dict[str, Any] = {}
    if indexes:
        options["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, h, r in indexes
        ]
    name = f"{PREFIX}-{purpose}"
    client.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in names],
        BillingMode="PAY_PER_REQUEST",
        **options,
    )
    return name


@dataclass
class World:
    """A deployment in moto and the writes the handlers make to it."""

    deployment: Deployment
    topic_arn: str
    api_create: Callable[..., dict[str, Any]]
    processor_process: Callable[..., dict[str, Any]]
    dynamodb: Any = field(default_factory=lambda: SESSION.resource("dynamodb"))
    sqs: Any = field(default_factory=lambda: SESSION.client("sqs"))
    sns: Any = field(default_factory=lambda: SESSION.client("sns"))
    cloudwatch: Any = field(default_factory=lambda: SESSION.client("cloudwatch"))

    @property
    def state(self) -> DeployedState:
        return DeployedState(
            self.deployment, dynamodb=self.dynamodb, sqs=self.sqs, cloudwatch=self.cloudwatch, queue_wait_seconds=0
        )

    def table(self, name: str) -> Any:
        return self.dynamodb.Table(name)

    def payment(
        self,
        payment_id: str,
        statuses: Sequence[str],
        *,
        merchant: str = MERCHANT,
        source: str = "api",
        audit: Sequence[tuple[int, str]] | None = None,
        published: int | None = None,
    ) -> dict[str, Any]:
        """A payment at the last of ``statuses`` (version = their number), with one audit entry per version
        (``audit``: other (version, status) entries) and its events published up to its version (``published``)."""
        item = {
            "payment_id": payment_id,
            "merchant_id": merchant,
            "reference": f"ref-{payment_id[-6:]}",
            "amount": 1250,
            "currency": "EUR",
            "status": statuses[-1],
            "version": len(statuses),
            "source": source,
            "created_at": NOW,
            "updated_at": NOW,
        }
        self.table(self.deployment.payments_table).put_item(Item=item)
        for version, status in audit if audit is not None else enumerate(statuses, start=1):
            self.audit(payment_id, version, status)
        marker = len(statuses) if published is None else published
        if marker:
            key = {"payment_id": f"published#{payment_id}"}
            self.table(self.deployment.payments_table).put_item(Item={**key, "version": marker})
        return item

    def audit(self, payment_id: str, version: int, status: str, event_id: str | None = None) -> None:
        """One audit entry as PaymentStore.record_audit writes it."""
        item = {
            "entity_id": payment_id,
            "event_id": event_id or f"{version:08d}#{status}",
            "entity_type": "payment",
            "action": "CREATED" if version == 1 else status,
            "actor": "tests",
            "status": status,
            "version": version,
            "at": NOW,
        }
        self.table(self.deployment.audit_table).put_item(Item=item)

    def api_answer(self, key: str, payment: dict[str, Any]) -> None:
        """The API handler's idempotency record: Powertools stores the create operation's answer."""
        self.api_create(request={"key": f"apikey:k1\x00{key}", "body": payment})

    def processor_answer(self, payment: dict[str, Any]) -> None:
        self.processor_process(message={"payment_id": payment["payment_id"], "status": payment["status"]})

    def dead_letter(self, payment_id: str) -> None:
        body = {"payment_id": payment_id, "batch_id": "b1", "merchant_id": MERCHANT, "reference": "r", "amount": 1}
        self.sqs.send_message(QueueUrl=self.deployment.payment_dlq_url, MessageBody=json.dumps(body))

    def set_alarm(self, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.deployment.dlq_alarm_name, StateValue=state, StateReason="tests")

    def subscribe(self, *, raw: bool) -> None:
        """The notification queue on the events topic (the stack's subscription delivers raw)."""
        arn = self.sqs.get_queue_attributes(
            QueueUrl=self.deployment.notification_queue_url, AttributeNames=["QueueArn"]
        )
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )

    def publish(self, payment: dict[str, Any]) -> None:
        """The payment's event (contract payment_event) on the events topic."""
        version, status = payment["version"], payment["status"]
        event = {
            "event_id": f"{payment['payment_id']}#{version}",
            "event_type": f"payment.{status.lower()}",
            "payment_id": payment["payment_id"],
            "merchant_id": payment["merchant_id"],
            "status": status,
            "version": version,
            "occurred_at": NOW,
        }
        self.sns.publish(TopicArn=self.topic_arn, Message=json.dumps(event))

    def visible(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def check(self, **options: Any) -> InvariantReport:
        return check_invariants(self.state, **options)

    def outputs(self) -> dict[str, str]:
        d = self.deployment
        return {
            constants.OUTPUT_PAYMENTS_TABLE: d.payments_table,
            constants.OUTPUT_AUDIT_TABLE: d.audit_table,
            constants.OUTPUT_IDEMPOTENCY_TABLE: d.idempotency_table,
            constants.OUTPUT_PAYMENT_DLQ_URL: d.payment_dlq_url,
            constants.OUTPUT_NOTIFICATION_QUEUE_URL: str(d.notification_queue_url),
            constants.OUTPUT_EVENTS_TOPIC_ARN: self.topic_arn,
        }


class Invocation:
    """The part of a Lambda context Powertools' idempotency reads."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws():
        dynamodb = SESSION.client("dynamodb")
        tables = {purpose: create_table(dynamodb, purpose) for purpose in TABLES}
        sqs = SESSION.client("sqs")
        dlq_url = sqs.create_queue(QueueName=f"{PREFIX}-payments-dlq")["QueueUrl"]
        notifications_url = sqs.create_queue(QueueName=f"{PREFIX}-notifications")["QueueUrl"]
        topic_arn = SESSION.client("sns").create_topic(Name=f"{PREFIX}-payment-events")["TopicArn"]
        SESSION.client("cloudwatch").put_metric_alarm(
            AlarmName=f"{PREFIX}-payments-dlq-depth",  # as stacks/constructs/alarms.py names and defines it
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": f"{PREFIX}-payments-dlq"}],
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
        persistence = DynamoDBPersistenceLayer(table_name=tables["idempotency"], boto3_client=dynamodb)

        # The API handler's and the payment processor's idempotent operations (their configs, their answers),
        # inside an invocation (the handlers register its context).
        api_config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body")
        processor_config = IdempotencyConfig(event_key_jmespath="payment_id")
        for config in (api_config, processor_config):
            config.register_lambda_context(Invocation())

        @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=api_config)
        def create(request: dict[str, Any]) -> dict[str, Any]:
            return {"status": 201, "payment": request["body"]}

        @idempotent_function(
            data_keyword_argument="message",
            persistence_store=DynamoDBPersistenceLayer(table_name=tables["idempotency"], boto3_client=dynamodb),
            config=processor_config,
        )
        def process(message: dict[str, Any]) -> dict[str, Any]:
            return dict(message)

        deployment = Deployment(
            payments_table=tables["payments"],
            audit_table=tables["audit-log"],
            idempotency_table=tables["idempotency"],
            payment_dlq_url=dlq_url,
            region=REGION,
            notification_queue_url=notifications_url,
        )
        yield World(deployment, topic_arn, create, process)


def kinds(report: InvariantReport, invariant: str) -> list[tuple[str, str]]:
    """(payment id, kind) of each violation of ``invariant``."""
    return [(v.payment_id, v.kind) for v in report.result(invariant).violations]


def only(report: InvariantReport, invariant: str) -> list[tuple[str, str]]:
    """The violations of ``invariant``, asserting that no other invariant has any."""
    others = [v for v in report.violations if v.invariant != invariant]
    assert others == [], others
    return kinds(report, invariant)


def seed_clean(world: World) -> list[dict[str, Any]]:
    """An API payment captured, a batch payment declined, the helper items beside them, their records."""
    captured = world.payment(pay(1), CAPTURED)
    declined = world.payment(pay(2), DECLINED, source="batch")
    world.api_answer("key-1", {**captured, "status": "PENDING", "version": 1})  # the 201 answer: as created
    world.processor_answer(declined)
    world.table(world.deployment.payments_table).put_item(
        Item={"payment_id": f"velocity#{MERCHANT}#1790000000", "count": 1, f"pos_{pay(2)}": 1}
    )
    return [captured, declined]


# --- a clean deployment ------------------------------------------------------------------------------------------


def test_a_clean_deployment_holds_every_invariant_and_helper_items_are_not_payments(world: World) -> None:
    seed_clean(world)
    report = world.check()
    assert report.ok and report.violations == ()
    assert report.counts() == {
        FINAL_STATE: {"checked": 2, "violations": 0},
        AUDIT_TRAIL: {"checked": 2, "violations": 0},
        IDEMPOTENCY: {"checked": 1, "violations": 0},  # the API's record; the processor's is not an API record
        NOTIFICATION: {"checked": 2, "violations": 0},
    }
    assert report.scope["selection"] == "table" and report.scope["payments"] == 2


def test_accepted_requests_with_their_keys_are_checked_as_given(world: World) -> None:
    seed_clean(world)
    requests = [AcceptedRequest(pay(1), "key-1"), AcceptedRequest(pay(1), "key-1"), AcceptedRequest(pay(2))]
    report = world.check(requests=requests)
    assert report.ok
    assert report.counts()[FINAL_STATE] == {"checked": 2, "violations": 0}  # a retried request: one payment
    assert report.counts()[IDEMPOTENCY] == {"checked": 2, "violations": 0}  # one key, one record
    assert report.scope == {
        "selection": "requests",
        "merchant_id": None,
        "accepted_requests": 3,
        "payments": 2,
        "notifications_from_queue": False,
    }


# --- 1. one final state or a dead letter -------------------------------------------------------------------------


def test_an_accepted_payment_that_does_not_exist_is_missing(world: World) -> None:
    seed_clean(world)
    # A helper item under the id is no payment either.
    world.table(world.deployment.payments_table).put_item(Item={"payment_id": pay(9), "count": 1})
    report = world.check(requests=[AcceptedRequest(pay(1)), AcceptedRequest(pay(3)), AcceptedRequest(pay(9))])
    assert only(report, FINAL_STATE) == [(pay(3), "missing"), (pay(9), "missing")]
    assert report.counts()[FINAL_STATE] == {"checked": 3, "violations": 2}
    assert report.counts()[AUDIT_TRAIL]["checked"] == 1  # only what exists has a trail to check


def test_a_payment_in_flight_without_a_dead_letter_is_stuck(world: World) -> None:
    seed_clean(world)
    world.payment(pay(3), ("PENDING", "AUTHORIZED"))
    world.dead_letter(pay(4))  # someone else's dead letter
    world.set_alarm("ALARM")
    report = world.check()
    assert only(report, FINAL_STATE) == [(pay(3), "in_flight_without_dead_letter")]
    assert "in flight (AUTHORIZED) and not in paygate-test-payments-dlq: stuck" in report.violations[0].problem


def test_a_dead_lettered_payment_is_accepted_only_while_its_alarm_is_raised(world: World) -> None:
    seed_clean(world)
    world.payment(pay(3), ("PENDING",), source="batch")
    world.dead_letter(pay(3))
    assert only(world.check(), FINAL_STATE) == [(pay(3), "dead_letter_alarm_not_raised")]
    assert "alarm paygate-test-payments-dlq-depth is OK" in world.check().violations[0].problem

    world.set_alarm("ALARM")
    report = world.check()
    assert report.ok and report.counts()[FINAL_STATE] == {"checked": 3, "violations": 0}
    # The dead letter was read, not taken: it is still on the queue, visible.
    assert world.visible(world.deployment.payment_dlq_url) == 1


def test_a_dead_letter_without_its_alarm_is_reported(world: World) -> None:
    world.payment(pay(3), ("PENDING",), source="batch")
    world.dead_letter(pay(3))
    world.cloudwatch.delete_alarms(AlarmNames=[world.deployment.dlq_alarm_name])
    report = world.check()
    assert only(report, FINAL_STATE) == [(pay(3), "dead_letter_alarm_not_raised")]
    assert report.violations[0].problem.endswith("alarm paygate-test-payments-dlq-depth does not exist")


def test_a_payment_with_a_status_outside_the_lifecycle_is_malformed(world: World) -> None:
    world.payment(pay(3), ("PENDING", "REFUNDED"))
    report = world.check()
    assert only(report, FINAL_STATE) == [(pay(3), "malformed_payment")]
    assert report.counts()[AUDIT_TRAIL]["checked"] == 0


# --- 2. audit trail ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "audit", "expected"),
    [
        pytest.param(CAPTURED, [], ["no_audit_trail"], id="no-entries"),
        pytest.param(CAPTURED, [(1, "PENDING"), (3, "CAPTURED")], ["versions_not_contiguous"], id="gap"),
        pytest.param(
            CAPTURED,
            [(1, "PENDING"), (2, "AUTHORIZED"), (2, "DECLINED"), (3, "CAPTURED")],
            ["versions_not_contiguous", "undeclared_transition"],  # DECLINED -> CAPTURED, after the repeat
            id="repeated-version",
        ),
        pytest.param(
            ("PENDING", "CAPTURED"), [(1, "PENDING"), (2, "CAPTURED")], ["undeclared_transition"], id="skipped-state"
        ),
        pytest.param(
            ("AUTHORIZED", "CAPTURED"),
            [(1, "AUTHORIZED"), (2, "CAPTURED")],
            ["first_entry_not_initial"],
            id="first-not-pending",
        ),
        pytest.param(
            CAPTURED, [(1, "PENDING"), (2, "AUTHORIZED")], ["trail_disagrees_with_payment"], id="trail-behind"
        ),
    ],
)
def test_an_audit_trail_that_breaks_the_lifecycle_is_reported(
    world: World, statuses: tuple[str, ...], audit: list[tuple[int, str]], expected: list[str]
) -> None:
    seed_clean(world)
    world.payment(pay(3), statuses, audit=audit)
    report = world.check()
    assert only(report, AUDIT_TRAIL) == [(pay(3), kind) for kind in expected]
    assert report.counts()[AUDIT_TRAIL] == {"checked": 3, "violations": len(expected)}


def test_an_audit_entry_whose_key_is_not_its_version_and_status_is_malformed(world: World) -> None:
    world.payment(pay(3), DECLINED, audit=[(1, "PENDING")])
    world.audit(pay(3), 2, "DECLINED", event_id="00000002#FAILED")
    report = world.check()
    assert only(report, AUDIT_TRAIL) == [(pay(3), "malformed_entry")]
    assert "audit entry '00000002#FAILED' holds version 2 DECLINED" in report.violations[0].problem


def test_the_trail_problems_say_what_is_wrong(world: World) -> None:
    world.payment(pay(3), CAPTURED, audit=[(1, "PENDING"), (3, "CAPTURED"), (3, "CAPTURED")])
    world.audit(pay(3), 3, "CAPTURED", event_id="x-CAPTURED")
    problems = [v.problem for v in world.check().violations]
    assert "audit versions [1, 3, 3] are not 1..n: version 2 missing; version 3 recorded 2 times" in problems


# --- 3. one payment per idempotency key --------------------------------------------------------------------------


def test_an_idempotency_key_accepted_for_two_payments_is_reported(world: World) -> None:
    seed_clean(world)
    world.payment(pay(3), CAPTURED)
    requests = [AcceptedRequest(pay(1), "key-1"), AcceptedRequest(pay(3), "key-1"), AcceptedRequest(pay(2), "k2")]
    report = world.check(requests=requests)
    assert only(report, IDEMPOTENCY) == [(min(pay(1), pay(3)), "key_names_two_payments")]
    assert "idempotency key 'key-1' was accepted for 2 payments" in report.violations[0].problem


def test_an_api_idempotency_record_naming_a_payment_that_does_not_exist_is_reported(world: World) -> None:
    seed_clean(world)
    ghost = {"payment_id": pay(5), "merchant_id": MERCHANT, "status": "PENDING", "version": 1}
    world.api_answer("key-5", ghost)
    report = world.check()
    assert only(report, IDEMPOTENCY) == [(pay(5), "record_names_missing_payment")]
    assert report.counts()[IDEMPOTENCY] == {"checked": 2, "violations": 1}


def test_two_api_idempotency_records_naming_one_payment_are_reported(world: World) -> None:
    captured, _ = seed_clean(world)
    world.api_answer("key-1-again", captured)
    report = world.check()
    assert only(report, IDEMPOTENCY) == [(pay(1), "payment_named_by_two_records")]
    assert report.violations[0].problem.startswith("named by 2 API idempotency records: ")


# --- 4. notification per final transition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("published", "said"),
    [(0, "published#{} does not exist"), (2, "published#{} records version 2")],
    ids=["never", "an-earlier-version"],
)
def test_a_final_payment_whose_event_was_not_published_is_reported(world: World, published: int, said: str) -> None:
    seed_clean(world)
    world.payment(pay(3), CAPTURED, published=published)
    report = world.check()
    assert only(report, NOTIFICATION) == [(pay(3), "event_not_published")]
    assert report.violations[0].problem == f"CAPTURED at version 3, but {said.format(pay(3))}"
    assert report.counts()[NOTIFICATION] == {"checked": 3, "violations": 1}


def test_payments_in_flight_need_no_notification_yet(world: World) -> None:
    world.payment(pay(3), ("PENDING",), published=0)
    world.dead_letter(pay(3))
    world.set_alarm("ALARM")
    report = world.check()
    assert report.ok and report.counts()[NOTIFICATION] == {"checked": 0, "violations": 0}


@pytest.mark.parametrize("raw", [True, False], ids=["raw-delivery", "sns-envelope"])
def test_final_events_are_found_on_the_notification_queue_and_left_there(world: World, raw: bool) -> None:
    world.subscribe(raw=raw)
    captured, declined = seed_clean(world)
    world.publish({**captured, "status": "AUTHORIZED", "version": 2})  # an earlier event does not count
    world.publish(declined)
    report = world.check(notifications_from_queue=True)
    assert only(report, NOTIFICATION) == [(pay(1), "event_not_delivered")]
    assert report.violations[0].problem == f"event {pay(1)}#3 (CAPTURED) is not on the notification queue"

    world.publish(captured)
    assert world.check(notifications_from_queue=True).ok
    assert world.visible(str(world.deployment.notification_queue_url)) == 3


# --- selection -----------------------------------------------------------------------------------------------


def test_a_merchant_is_checked_alone_through_the_by_merchant_index(world: World) -> None:
    seed_clean(world)
    world.payment(pay(3), CAPTURED, merchant=OTHER_MERCHANT, published=0)
    world.api_answer("key-other", {"payment_id": pay(6), "merchant_id": OTHER_MERCHANT})  # names no payment
    report = world.check(merchant_id=MERCHANT)
    assert report.ok
    assert report.counts()[FINAL_STATE]["checked"] == 2 and report.counts()[IDEMPOTENCY]["checked"] == 1
    other = world.check(merchant_id=OTHER_MERCHANT)
    assert [(v.invariant, v.payment_id, v.kind) for v in other.violations] == [
        (IDEMPOTENCY, pay(6), "record_names_missing_payment"),
        (NOTIFICATION, pay(3), "event_not_published"),
    ]
    # With requests: those of another merchant's payments are left out; a missing one is kept.
    requests = [AcceptedRequest(pay(1)), AcceptedRequest(pay(3)), AcceptedRequest(pay(7))]
    mixed = world.check(requests=requests, merchant_id=MERCHANT)
    assert only(mixed, FINAL_STATE) == [(pay(7), "missing")] and mixed.scope["payments"] == 2


def test_requests_are_read_from_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "accepted.jsonl"
    path.write_text(f'{{"payment_id": "{pay(1)}", "idempotency_key": "k1"}}\n\n{{"payment_id": "{pay(2)}"}}\n')
    assert read_requests(path) == (AcceptedRequest(pay(1), "k1"), AcceptedRequest(pay(2)))
    path.write_text(f'{{"payment_id": "{pay(1)}"}}\n{{"idempotency_key": "k1"}}\n')
    with pytest.raises(InvariantsError, match=r"accepted.jsonl:2: wants an object with a payment_id string"):
        read_requests(path)
    path.write_text("not json\n")
    with pytest.raises(InvariantsError, match=r"accepted.jsonl:1: not JSON"):
        read_requests(path)
    with pytest.raises(InvariantsError, match="no requests file at"):
        read_requests(tmp_path / "missing.jsonl")


# --- the deployment ----------------------------------------------------------------------------------------------


def test_terraform_output_json_gives_names_and_the_region_of_the_arns(tmp_path: Path) -> None:
    outputs = {
        constants.OUTPUT_PAYMENTS_TABLE: {"value": "paygate-prod-payments", "type": "string"},
        constants.OUTPUT_AUDIT_TABLE: {"value": "paygate-prod-audit-log"},
        constants.OUTPUT_IDEMPOTENCY_TABLE: {"value": "paygate-prod-idempotency"},
        constants.OUTPUT_PAYMENT_DLQ_URL: {"value": f"https://sqs.eu-central-1.amazonaws.com/{ACCOUNT}/d-payments-dlq"},
        constants.OUTPUT_EVENTS_TOPIC_ARN: {"value": f"arn:aws:sns:eu-central-1:{ACCOUNT}:paygate-prod-payment-events"},
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    deployment = Deployment.read(path)
    assert (deployment.region, deployment.account_id, deployment.endpoint) == ("eu-central-1", ACCOUNT, None)
    assert (deployment.payment_dlq_name, deployment.dlq_alarm_name) == ("d-payments-dlq", "d-payments-dlq-depth")
    assert deployment.notification_queue_url is None


def test_localstack_outputs_are_read_on_their_endpoint_with_the_accounts_credentials(tmp_path: Path) -> None:
    outputs = {
        constants.OUTPUT_PAYMENTS_TABLE: "p",
        constants.OUTPUT_AUDIT_TABLE: "a",
        constants.OUTPUT_IDEMPOTENCY_TABLE: "i",
        constants.OUTPUT_PAYMENT_DLQ_URL: "http://127.0.0.1:4566/111122223333/d",
        "region": "us-east-1",
        "account_id": "111122223333",
        "localstack_endpoint": "http://127.0.0.1:4566",
    }
    deployment = Deployment.from_outputs(outputs)
    assert deployment.endpoint == "http://127.0.0.1:4566"
    assert Deployment.from_outputs(outputs, endpoint="http://127.0.0.1:5000").endpoint == "http://127.0.0.1:5000"
    frozen = deployment.session({}).get_credentials().get_frozen_credentials()
    assert frozen.access_key == "111122223333"


def test_outputs_without_the_tables_or_a_region_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InvariantsError, match="lack audit_table_name, idempotency_table_name, payment_dlq_url"):
        Deployment.from_outputs({constants.OUTPUT_PAYMENTS_TABLE: "p", "region": REGION})
    named = dict.fromkeys(("payments_table_name", "audit_table_name", "idempotency_table_name"), "x")
    with pytest.raises(InvariantsError, match="name no region"):
        Deployment.from_outputs({**named, constants.OUTPUT_PAYMENT_DLQ_URL: "http://q/d"})
    with pytest.raises(InvariantsError, match="no deployment outputs at"):
        Deployment.read(tmp_path / "missing.json")


def test_scans_and_queries_read_every_page(world: World) -> None:
    seed_clean(world)
    payments = world.table(world.deployment.payments_table)
    assert len(paginated_items(payments.scan, Limit=1)) == 5  # two payments, two published markers, a counter


def test_a_refused_read_is_an_error_not_a_violation(world: World) -> None:
    gone = Deployment(**{**world.deployment.__dict__, "audit_table": "paygate-test-nope"})
    world.deployment = gone
    world.payment(pay(3), DECLINED, audit=[])
    with pytest.raises(InvariantsError, match=f"cannot read the audit trail of {pay(3)} in paygate-test-nope"):
        world.check()


# --- the command ---------------------------------------------------------------------------------------------


def run(world: World, tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(world.outputs()))
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["invariants", "--outputs", str(outputs), *argv], environ={"PATH": ""}, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_the_command_prints_the_table_and_exits_0_when_every_invariant_holds(world: World, tmp_path: Path) -> None:
    seed_clean(world)
    requests = tmp_path / "accepted.jsonl"
    requests.write_text(f'{{"payment_id": "{pay(1)}", "idempotency_key": "key-1"}}\n{{"payment_id": "{pay(2)}"}}\n')
    status, out, err = run(world, tmp_path, "--requests", str(requests), "--json", str(tmp_path / "r" / "inv.json"))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "invariant                          checked  violations",
        "final_state_or_dead_letter               2           0",
        "audit_trail                              2           0",
        "one_payment_per_idempotency_key          2           0",
        "notification_per_final_transition        2           0",
    ]
    shown = json.loads((tmp_path / "r" / "inv.json").read_text())
    assert shown["ok"] is True and shown["violations"] == []
    assert shown["invariants"][IDEMPOTENCY] == {
        "title": "one payment per idempotency key; every API idempotency record names its own existing payment",
        "checked": 2,
        "violations": 0,
    }


def test_the_command_lists_each_violation_and_exits_1(world: World, tmp_path: Path) -> None:
    seed_clean(world)
    world.payment(pay(3), CAPTURED, audit=[(1, "PENDING"), (2, "AUTHORIZED")], published=2)
    status, out, err = run(world, tmp_path, "--json", str(tmp_path / "inv.json"))
    assert status == 1
    assert err == "error: 2 invariant violation(s), listed above\n"
    table, listed = out.split("\n\n")
    assert table.splitlines()[2] == "audit_trail                              3           1"
    assert table.splitlines()[4] == "notification_per_final_transition        3           1"
    assert listed.splitlines() == [
        "violations:",
        f"  {pay(3)}  audit_trail: last audit entry is version 2 AUTHORIZED, the payment is version 3 CAPTURED",
        f"  {pay(3)}  notification_per_final_transition: CAPTURED at version 3, but published#{pay(3)} records "
        "version 2",
    ]
    shown = json.loads((tmp_path / "inv.json").read_text())
    assert shown["ok"] is False and shown["schema"] == "paygate.invariants/1"
    assert [(v["invariant"], v["payment_id"], v["kind"]) for v in shown["violations"]] == [
        (AUDIT_TRAIL, pay(3), "trail_disagrees_with_payment"),
        (NOTIFICATION, pay(3), "event_not_published"),
    ]


def test_the_command_without_outputs_says_to_deploy(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["invariants", "--outputs", str(tmp_path / "none.json")], environ={"PATH": ""}, out=out, err=err)
    assert status == 1 and "no deployment outputs at" in err.getvalue() and out.getvalue() == ""
