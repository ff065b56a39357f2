"""The store's guards against moto DynamoDB/SQS/SNS: conditional writes on state and version, idempotent retries.

Races are made deterministic by a table proxy that lets another writer in between the store's read and
its conditional write (the window a concurrent Lambda has in production).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.shared.lifecycle import Event, Status
from lambdas.shared.money import Money
from lambdas.shared.payments import Payment
from lambdas.shared.store import (
    MAX_UPDATE_ATTEMPTS,
    BatchStore,
    PaymentStore,
    TransientError,
    publish_event,
    send_in_batches,
)

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

PAYMENT_ID = "pay_" + "1" * 32
T0 = "2026-01-01T00:00:00.000Z"
T1 = "2026-01-01T00:00:01.000Z"


class Interleaved:
    """The payments table, with ``writer`` run right before each of the first ``times`` conditional updates."""

    def __init__(self, table: Any, writer: Callable[[], None], times: int = 1) -> None:
        self._table = table
        self._writer = writer
        self._left = times
        self.updates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.updates += 1
        if self._left > 0:
            self._left -= 1
            self._writer()
        return self._table.update_item(**kwargs)


def _payment(status: Status = Status.PENDING, version: int = 1, **extra: Any) -> Payment:
    return Payment(
        payment_id=PAYMENT_ID,
        merchant_id="m_abcdef12",
        reference="order-1",
        money=Money(1250, "EUR"),
        status=status,
        version=version,
        source="api",
        created_at=T0,
        updated_at=T0,
        **extra,
    )


def _bump_version_keeping_the_status(table: Any) -> Callable[[], None]:
    """Another writer that changes the payment (a new version) without changing its status."""

    def write() -> None:
        table.update_item(
            Key={"payment_id": PAYMENT_ID},
            UpdateExpression="SET #v = #v + :one, #u = :at",
            ConditionExpression="#v = :seen",
            ExpressionAttributeNames={"#v": "version", "#u": "updated_at"},
            ExpressionAttributeValues={":one": 1, ":seen": 1, ":at": "2026-01-01T00:00:00.500Z"},
        )

    return write


def _stored(aws: Any) -> dict[str, Any]:
    return aws.table("payments").get_item(Key={"payment_id": PAYMENT_ID}, ConsistentRead=True)["Item"]


def test_a_new_payment_is_stored_once_and_never_overwritten(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    assert store.put_new(_payment()) is True
    assert store.put_new(_payment(Status.AUTHORIZED, version=2, description="other")) is False
    stored = _stored(aws)
    assert (stored["status"], stored["version"], "description" in stored) == ("PENDING", 1, False)
    assert store.get(PAYMENT_ID) == _payment()


def test_get_finds_nothing_for_an_unknown_id_or_an_item_that_is_not_a_payment(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    assert store.get(PAYMENT_ID) is None
    aws.table("payments").put_item(Item={"payment_id": PAYMENT_ID, "count": 3})
    assert store.get(PAYMENT_ID) is None


def test_advance_writes_the_next_state_version_time_and_reason(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    store.put_new(_payment())
    payment, changed = store.advance(PAYMENT_ID, Event.DECLINE, now=T1, reason="over the screening limit")
    assert changed is True
    assert (payment.status, payment.version, payment.updated_at) == (Status.DECLINED, 2, T1)
    stored = _stored(aws)
    assert (stored["status"], stored["version"], stored["updated_at"], stored["reason"]) == (
        "DECLINED",
        2,
        T1,
        "over the screening limit",
    )


def test_advance_without_a_reason_writes_none(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    store.put_new(_payment())
    store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)
    assert "reason" not in _stored(aws)


def test_a_concurrent_write_of_the_same_version_without_a_status_change_is_not_overwritten(aws) -> None:
    """The version condition (#v = :ver): the status alone would let this update clobber the other writer's."""
    table = Interleaved(aws.table("payments"), _bump_version_keeping_the_status(aws.table("payments")))
    store = PaymentStore(table, aws.table("audit-log"))
    store.put_new(_payment())
    payment, changed = store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)
    assert changed is True
    assert table.updates == 2  # the first conditional update was refused, the re-read one applied
    assert (payment.status, payment.version) == (Status.AUTHORIZED, 3)
    stored = _stored(aws)
    assert (stored["status"], stored["version"], stored["updated_at"]) == ("AUTHORIZED", 3, T1)


def test_a_concurrent_state_change_is_re_evaluated_against_the_new_state(aws) -> None:
    def authorize_first() -> None:
        PaymentStore(aws.table("payments"), aws.table("audit-log")).advance(PAYMENT_ID, Event.AUTHORIZE, now=T0)

    table = Interleaved(aws.table("payments"), authorize_first)
    store = PaymentStore(table, aws.table("audit-log"))
    store.put_new(_payment())
    payment, changed = store.advance(PAYMENT_ID, Event.FAIL, now=T1, reason="psp unavailable")
    assert changed is True
    assert (payment.status, payment.version, payment.reason) == (Status.FAILED, 3, "psp unavailable")
    assert (_stored(aws)["status"], _stored(aws)["version"]) == ("FAILED", 3)


def test_a_payment_that_keeps_changing_gives_up_after_the_attempts_and_is_left_as_the_others_wrote_it(aws) -> None:
    payments = aws.table("payments")
    seen = {"version": 1}

    def bump() -> None:
        payments.update_item(
            Key={"payment_id": PAYMENT_ID},
            UpdateExpression="SET #v = :next",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":next": seen["version"] + 1},
        )
        seen["version"] += 1

    table = Interleaved(payments, bump, times=MAX_UPDATE_ATTEMPTS)
    store = PaymentStore(table, aws.table("audit-log"))
    store.put_new(_payment())
    with pytest.raises(TransientError, match=f"giving up after {MAX_UPDATE_ATTEMPTS} attempts"):
        store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)
    assert table.updates == MAX_UPDATE_ATTEMPTS == 5
    assert (_stored(aws)["status"], _stored(aws)["version"]) == ("PENDING", 1 + MAX_UPDATE_ATTEMPTS)


def test_a_retry_of_an_applied_event_changes_nothing(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    store.put_new(_payment())
    first, changed_first = store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)
    again, changed_again = store.advance(PAYMENT_ID, Event.AUTHORIZE, now="2026-01-01T00:00:02.000Z")
    assert (changed_first, changed_again) == (True, False)
    assert again == first
    assert _stored(aws)["version"] == 2


def test_an_event_the_state_does_not_allow_is_refused_and_nothing_is_written(aws) -> None:
    from lambdas.shared.errors import TransitionError

    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    store.put_new(_payment(Status.CAPTURED, version=3))
    with pytest.raises(TransitionError):
        store.advance(PAYMENT_ID, Event.FAIL, now=T1)
    with pytest.raises(TransitionError):
        store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)
    assert (_stored(aws)["status"], _stored(aws)["version"]) == ("CAPTURED", 3)


def test_advancing_a_missing_payment_is_a_lookup_error(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    with pytest.raises(LookupError, match=PAYMENT_ID):
        store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1)


def test_other_dynamodb_errors_are_raised_not_swallowed(aws) -> None:
    class Throttled:
        def __getattr__(self, name: str) -> Any:
            return getattr(aws.table("payments"), name)

        def put_item(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")

        update_item = put_item

    store = PaymentStore(Throttled(), Throttled())
    aws.table("payments").put_item(Item=_payment().to_resource())
    for call in (
        lambda: store.put_new(_payment()),
        lambda: store.advance(PAYMENT_ID, Event.AUTHORIZE, now=T1),
        lambda: store.record_audit(_payment(), action="CREATED", actor="test", at=T0),
        lambda: store.count_for_velocity("m_abcdef12", 0, PAYMENT_ID),
    ):
        with pytest.raises(ClientError):
            call()
    with pytest.raises(ClientError):
        BatchStore(Throttled()).begin("b1", bucket="b", key="k", version="v1", at=T0)


def test_an_audit_entry_is_written_once_per_payment_version(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    declined = _payment(Status.DECLINED, version=2, reason="velocity")
    assert store.record_audit(_payment(), action="CREATED", actor="api_handler", at=T0) is True
    assert store.record_audit(declined, action="DECLINE", actor="workflow", at=T1) is True
    assert store.record_audit(declined, action="DECLINE", actor="workflow", at="2026-01-01T00:00:09.000Z") is False
    entries = sorted(aws.items("audit-log"), key=lambda e: e["event_id"])
    assert entries == [
        {
            "entity_id": PAYMENT_ID,
            "event_id": "00000001#PENDING",
            "entity_type": "payment",
            "action": "CREATED",
            "actor": "api_handler",
            "status": "PENDING",
            "version": 1,
            "at": T0,
        },
        {
            "entity_id": PAYMENT_ID,
            "event_id": "00000002#DECLINED",
            "entity_type": "payment",
            "action": "DECLINE",
            "actor": "workflow",
            "status": "DECLINED",
            "version": 2,
            "at": T1,
            "reason": "velocity",
        },
    ]


def test_velocity_counts_each_payment_once_and_a_retry_gets_its_position_again(aws) -> None:
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    positions = [store.count_for_velocity("m_abcdef12", 3600, f"pay_{i}") for i in range(3)]
    assert positions == [1, 2, 3]
    assert store.count_for_velocity("m_abcdef12", 3600, "pay_1") == 2
    assert store.count_for_velocity("m_abcdef12", 7200, "pay_1") == 1  # another window
    assert store.count_for_velocity("m_other", 3600, "pay_9") == 1  # another merchant
    counter = aws.table("payments").get_item(Key={"payment_id": "velocity#m_abcdef12#3600"})["Item"]
    assert counter["count"] == 3


def test_a_batch_is_begun_once_per_object_version(aws) -> None:
    batches = BatchStore(aws.table("batches"))
    assert batches.begin("b1", bucket="bkt", key="in/a.csv", version="v1", at=T0) is None
    existing = batches.begin("b1", bucket="bkt", key="in/a.csv", version="v1", at=T1)
    assert existing == {
        "batch_id": "b1",
        "status": "RECEIVED",
        "bucket": "bkt",
        "object_key": "in/a.csv",
        "object_version": "v1",
        "received_at": T0,
        "enqueued_lines": 0,
    }
    batches.set_status("b1", "COMPLETED", enqueued_lines=7, summary="done")
    item = aws.table("batches").get_item(Key={"batch_id": "b1"})["Item"]
    assert (item["status"], item["enqueued_lines"], item["summary"], item["received_at"]) == (
        "COMPLETED",
        7,
        "done",
        T0,
    )


class FlakySqs:
    """SQS that reports the listed entry ids as failed on the first ``failures`` calls."""

    def __init__(self, sqs: Any, failing: set[str], failures: int) -> None:
        self._sqs = sqs
        self._failing = failing
        self._failures = failures
        self.calls: list[list[str]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append([e["Id"] for e in Entries])
        if self._failures > 0:
            self._failures -= 1
            failed = [e for e in Entries if e["Id"] in self._failing]
            sent = [e for e in Entries if e["Id"] not in self._failing]
            if sent:
                self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=sent)
            return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in failed]}
        return dict(self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))


def test_messages_go_in_groups_of_ten_and_only_failed_entries_are_re_sent(aws) -> None:
    sqs = FlakySqs(aws.session.client("sqs"), failing={"m3", "m12"}, failures=2)
    sleeps: list[float] = []
    messages = [(f"m{i}", {"line": i, "payment_id": f"pay_{i}"}) for i in range(12)]
    send_in_batches(sqs, aws.queue_url, messages, sleep=sleeps.append)
    assert sqs.calls == [
        [f"m{i}" for i in range(10)],
        ["m3"],
        ["m3"],
        ["m10", "m11"],
    ]
    assert sleeps == [0.05, 0.1]
    bodies = sorted(aws.drain(aws.queue_url), key=lambda b: b["line"])
    assert bodies == [{"line": i, "payment_id": f"pay_{i}"} for i in range(12)]


def test_entries_that_keep_failing_are_a_transient_error_after_the_attempts(aws) -> None:
    sqs = FlakySqs(aws.session.client("sqs"), failing={"m0"}, failures=99)
    sleeps: list[float] = []
    with pytest.raises(TransientError, match="1 messages could not be enqueued after 3 attempts"):
        send_in_batches(sqs, aws.queue_url, [("m0", {"n": 0}), ("m1", {"n": 1})], sleep=sleeps.append, max_attempts=3)
    assert sqs.calls == [["m0", "m1"], ["m0"], ["m0"]]
    assert sleeps == [0.05, 0.1, 0.2]


def test_the_retry_pause_doubles_up_to_two_seconds(aws) -> None:
    sqs = FlakySqs(aws.session.client("sqs"), failing={"m0"}, failures=99)
    sleeps: list[float] = []
    with pytest.raises(TransientError):
        send_in_batches(sqs, aws.queue_url, [("m0", {"n": 0})], sleep=sleeps.append, max_attempts=8)
    assert sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_a_message_body_is_compact_sorted_json(aws) -> None:
    sqs = aws.session.client("sqs")
    send_in_batches(sqs, aws.queue_url, [("m0", {"b": 1, "a": [1, 2]})], sleep=lambda _: None)
    got = sqs.receive_message(QueueUrl=aws.queue_url)["Messages"][0]["Body"]
    assert got == '{"a":[1,2],"b":1}'


def test_a_payment_event_is_published_with_its_type_as_a_message_attribute(aws) -> None:
    sns = aws.session.client("sns")
    sqs = aws.session.client("sqs")
    publish_event(sns, aws.topic_arn, {"payment_id": PAYMENT_ID, "event_type": "payment.captured"})
    message = sqs.receive_message(QueueUrl=aws.events_queue_url, MessageAttributeNames=["All"])["Messages"][0]
    envelope = json.loads(message["Body"])
    assert envelope["Message"] == json.dumps(
        {"event_type": "payment.captured", "payment_id": PAYMENT_ID}, sort_keys=True, separators=(",", ":")
    )
    assert envelope["MessageAttributes"] == {"event_type": {"Type": "String", "Value": "payment.captured"}}


def test_by_default_sending_gives_up_after_five_attempts(aws) -> None:
    sqs = FlakySqs(aws.session.client("sqs"), failing={"m0"}, failures=99)
    with pytest.raises(TransientError, match="after 5 attempts"):
        send_in_batches(sqs, aws.queue_url, [("m0", {"n": 0})], sleep=lambda _: None)
    assert len(sqs.calls) == 5


def test_an_sqs_answer_without_a_failed_list_means_every_entry_was_sent() -> None:
    class AllSent:
        calls = 0

        def send_message_batch(self, **_: Any) -> dict[str, Any]:
            self.calls += 1
            return {"Successful": [{"Id": "m0"}]}  # boto3 leaves out an empty Failed list

    client = AllSent()
    send_in_batches(client, "https://queue", [("m0", {"n": 0})], sleep=lambda _: None)
    assert client.calls == 1


def test_a_client_error_without_an_error_member_is_raised_as_it_is(aws) -> None:
    class Odd:
        def put_item(self, **_: Any) -> Any:
            raise ClientError({}, "PutItem")

    with pytest.raises(ClientError):
        PaymentStore(Odd(), Odd()).put_new(_payment())


def test_a_published_version_is_recorded_once_and_never_moves_back(aws) -> None:
    """mark_published answers whether this call recorded it: the first publisher of a version, or of a later
    one; a retry of the same version or a late older one is told it was already out."""
    store = PaymentStore(aws.table("payments"), aws.table("audit-log"))
    assert store.published_version(PAYMENT_ID) == 0
    assert store.mark_published(_payment(Status.AUTHORIZED, version=2)) is True
    assert store.mark_published(_payment(Status.AUTHORIZED, version=2)) is False
    assert store.mark_published(_payment(Status.PENDING, version=1)) is False
    assert store.published_version(PAYMENT_ID) == 2
    assert store.mark_published(_payment(Status.CAPTURED, version=3)) is True
    assert store.published_version(PAYMENT_ID) == 3
    assert aws.table("payments").get_item(Key={"payment_id": PAYMENT_ID}).get("Item") is None  # a separate item
