"""payment_processor against moto: partial batch failures, exactly-once effects, transient retries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from contracts import PAYMENT, PAYMENT_EVENT, validator
from lambdas.payment_processor import handler as pp
from lambdas.shared.payments import payment_id_for
from lambdas.shared.runtime import Clock
from stacks.constants import PAYMENT_QUEUE_MAX_RECEIVE_COUNT
from tests.unit.lambdas.conftest import T0_MS, Failing, FakeContext

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

BATCH = "bat_" + "b" * 32


def message(reference: str, amount: int = 700, **extra: Any) -> dict[str, Any]:
    return {
        "message_type": "payment.requested",
        "payment_id": payment_id_for(BATCH, reference),
        "batch_id": BATCH,
        "line": 2,
        "merchant_id": "m_abcdef12",
        "reference": reference,
        "amount": amount,
        "currency": "GBP",
        **extra,
    }


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:paygate-test-payments",
                "awsRegion": "eu-west-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


@pytest.fixture(autouse=True)
def fresh_invocation(monkeypatch) -> None:
    """What an invocation learnt is module state (reset by ``handler``); a test calling ``record_handler``
    directly starts from a fresh invocation, whatever the test before it left."""
    monkeypatch.setattr(pp, "invocation", pp.Invocation())


@pytest.fixture
def rt(aws, clock, monkeypatch):
    runtime = pp.build_runtime(aws.settings, session=aws.session, clock=clock.clock())
    monkeypatch.setattr(pp, "runtime", lambda: runtime)
    return runtime


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_only_the_bad_messages_are_reported_failed(aws, rt, context) -> None:
    response = pp.handler(sqs_event(message("a"), "{not json", {"payment_id": "x"}, message("b")), context)
    assert failures(response) == ["msg-1", "msg-2"]
    payments = aws.payments()
    assert sorted((p["reference"], p["status"], int(p["version"])) for p in payments) == [
        ("a", "CAPTURED", 3),
        ("b", "CAPTURED", 3),
    ]
    for p in payments:
        validator(PAYMENT).validate(json.loads(json.dumps(p, default=int)))
    events = aws.drain(aws.events_queue_url)
    assert sorted(e["event_type"] for e in events) == ["payment.authorized"] * 2 + ["payment.captured"] * 2
    for e in events:
        validator(PAYMENT_EVENT).validate(e)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "message body is not JSON"),
        ({"payment_id": "x"}, "message does not match the payment_message contract"),
    ],
    ids=["not-json", "not-the-contract"],
)
def test_a_message_that_can_never_succeed_is_refused_saying_why(rt, context, body: Any, reason: str) -> None:
    """InvalidMessage (no backoff: the queue sends it on to the DLQ) with the reason, never the message's content."""
    with pytest.raises(pp.InvalidMessage) as refused:
        pp.record_handler(SQSRecord(sqs_event(body)["Records"][0]), context)
    assert str(refused.value) == reason


def test_a_redelivered_message_changes_nothing_and_publishes_nothing(aws, rt, context) -> None:
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    aws.drain(aws.events_queue_url)
    audit_before = aws.items("audit-log")
    assert failures(pp.handler(sqs_event(message("a"), message("a")), context)) == []
    assert len(aws.payments()) == 1
    assert aws.drain(aws.events_queue_url) == []
    assert aws.items("audit-log") == audit_before


def test_a_transient_failure_is_retried_and_resumes_where_it_stopped(aws, rt, context, monkeypatch) -> None:
    real = rt.sns.publish
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the CAPTURED event fails once, after AUTHORIZED was published
            raise ConnectionError("sns unreachable")
        return real(**kwargs)

    monkeypatch.setattr(rt.sns, "publish", flaky)
    assert failures(pp.handler(sqs_event(message("a")), context)) == ["msg-0"]
    assert aws.payments()[0]["status"] == "CAPTURED"
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    payment = aws.payments()[0]
    assert (payment["status"], int(payment["version"])) == ("CAPTURED", 3)
    assert sorted(a["event_id"] for a in aws.items("audit-log")) == [
        "00000001#PENDING",
        "00000002#AUTHORIZED",
        "00000003#CAPTURED",
    ]
    types = [e["event_type"] for e in aws.drain(aws.events_queue_url)]
    assert types.count("payment.captured") == 1  # the retry published what the first attempt could not


def test_screening_declines_over_the_merchant_velocity(aws, context, monkeypatch) -> None:
    from dataclasses import replace

    runtime = pp.build_runtime(replace(aws.settings, velocity_per_hour=1), session=aws.session)
    monkeypatch.setattr(pp, "runtime", lambda: runtime)
    assert failures(pp.handler(sqs_event(message("a"), message("b")), context)) == []
    statuses = sorted((p["reference"], p["status"], p.get("reason")) for p in aws.payments())
    assert statuses == [("a", "CAPTURED", None), ("b", "DECLINED", "MERCHANT_VELOCITY_EXCEEDED")]


def test_a_message_carrying_card_data_never_succeeds(aws, rt, context, logs) -> None:
    bad = message("a", description="pan 4111-1111-1111-1111")
    assert failures(pp.handler(sqs_event(bad), context)) == ["msg-0"]
    assert aws.payments() == []
    assert "4111" not in logs.getvalue()


# --- capacity errors: a valid payment is redelivered after a backoff, never hurried towards the DLQ ---


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "slow down"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class VisibilityChanges:
    """The real SQS client, recording each ChangeMessageVisibility (receipt handle -> seconds)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.changes: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        answer = self._real.change_message_visibility(**kwargs)  # recorded only once SQS took it
        self.changes[kwargs["ReceiptHandle"]] = kwargs["VisibilityTimeout"]
        return answer


def received(aws, *bodies: dict[str, Any]) -> dict[str, Any]:
    """The SQS event the event source mapping would build for ``bodies``, sent to and received from the queue."""
    sqs = aws.session.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=aws.queue_url, MessageBody=json.dumps(body))
    arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: list[dict[str, Any]] = []
    while len(messages) < len(bodies):
        messages += sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])[
            "Messages"
        ]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "eu-west-1",
            }
            for m in sorted(messages, key=lambda m: bodies.index(json.loads(m["Body"])))
        ]
    }


@pytest.fixture
def visibility(rt) -> VisibilityChanges:
    rt.sqs = VisibilityChanges(rt.sqs)
    return rt.sqs


def test_a_throttled_record_and_the_rest_of_its_batch_come_back_after_a_backoff(aws, rt, context, visibility) -> None:
    event = received(aws, message("a"), message("b"), message("c"))
    handles = [r["receiptHandle"] for r in event["Records"]]
    real = rt.store._payments
    rt.store._payments = Failing(
        real, "update_item", client_error("ProvisionedThroughputExceededException", "UpdateItem")
    )
    response = pp.handler(event, context)
    # "a" met the throttle (it is created, not yet advanced); "b" and "c" were not even started.
    assert failures(response) == [r["messageId"] for r in event["Records"]]
    assert [(p["reference"], p["status"]) for p in aws.payments()] == [("a", "PENDING")]
    assert set(visibility.changes) == set(handles)
    assert all(30 <= seconds <= 60 for seconds in visibility.changes.values())  # first receive: 30-60 s
    assert aws.session.client("sqs").receive_message(QueueUrl=aws.queue_url).get("Messages") is None  # hidden

    rt.store._payments = real
    again = pp.handler(event, context)  # the redelivery, once the capacity is back
    assert failures(again) == []
    assert sorted((p["reference"], p["status"]) for p in aws.payments()) == [
        ("a", "CAPTURED"),
        ("b", "CAPTURED"),
        ("c", "CAPTURED"),
    ]
    events = [e["event_id"] for e in aws.drain(aws.events_queue_url)]
    assert len(events) == len(set(events)) == 6  # AUTHORIZED and CAPTURED of each, once


def test_a_throttled_idempotency_record_is_a_capacity_error_too(aws, rt, context, visibility, monkeypatch) -> None:
    """Powertools wraps the throttled write in IdempotencyPersistenceLayerError; the cause is what counts."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    def throttled(self: Any, data_record: Any) -> None:
        raise client_error("ThrottlingException", "PutItem")

    monkeypatch.setattr(DynamoDBPersistenceLayer, "_put_record", throttled)
    event = received(aws, message("a"))
    assert failures(pp.handler(event, context)) == [event["Records"][0]["messageId"]]
    assert [seconds >= 30 for seconds in visibility.changes.values()] == [True]
    assert aws.payments() == []


def test_a_poison_message_keeps_the_queues_visibility_and_does_not_hold_up_the_batch(
    aws, rt, context, visibility
) -> None:
    event = received(aws, {"payment_id": "x"}, message("a"))
    assert failures(pp.handler(event, context)) == [event["Records"][0]["messageId"]]
    assert visibility.changes == {}
    assert [p["status"] for p in aws.payments()] == ["CAPTURED"]


def test_records_are_not_started_without_time_to_finish(aws, rt, visibility) -> None:
    short = FakeContext()
    short.get_remaining_time_in_millis = lambda: pp.RECORD_TIME_RESERVE_MS - 1  # type: ignore[method-assign]
    event = received(aws, message("a"))
    assert failures(pp.handler(event, short)) == [event["Records"][0]["messageId"]]
    assert aws.payments() == []
    assert list(visibility.changes) == [event["Records"][0]["receiptHandle"]]
    with pytest.raises(pp.RedeliveryDeferred) as deferred:
        pp.record_handler(SQSRecord(event["Records"][0]), short)
    assert str(deferred.value) == "not processed in this invocation; redelivered after a backoff"


def test_a_record_is_started_with_exactly_the_reserve_left(aws, rt, visibility) -> None:
    """The reserve is the least time a record starts with: at exactly RECORD_TIME_RESERVE_MS it is processed."""
    enough = FakeContext()
    enough.get_remaining_time_in_millis = lambda: pp.RECORD_TIME_RESERVE_MS  # type: ignore[method-assign]
    assert failures(pp.handler(received(aws, message("a")), enough)) == []
    assert [p["status"] for p in aws.payments()] == ["CAPTURED"]
    assert visibility.changes == {}


def test_a_payment_another_invocation_holds_comes_back_later_without_holding_up_the_batch(
    aws, rt, context, visibility, monkeypatch
) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    real = rt.process
    calls = {"n": 0}

    def busy_first(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise IdempotencyAlreadyInProgressError("in progress")
        return real(**kwargs)

    monkeypatch.setattr(rt, "process", busy_first)
    event = received(aws, message("a"), message("b"))
    assert failures(pp.handler(event, context)) == [event["Records"][0]["messageId"]]
    assert [p["reference"] for p in aws.payments()] == ["b"]
    assert list(visibility.changes) == [event["Records"][0]["receiptHandle"]]


def test_a_refused_visibility_change_still_reports_the_record_failed(aws, rt, context, logs) -> None:
    rt.sqs = Failing(
        rt.sqs, "change_message_visibility", client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibility")
    )
    rt.store._payments = Failing(rt.store._payments, "update_item", client_error("ThrottlingException", "UpdateItem"))
    event = received(aws, message("a"))
    assert failures(pp.handler(event, context)) == [event["Records"][0]["messageId"]]
    assert '"message":"redelivery not delayed"' in logs.getvalue()


def test_the_backoff_grows_with_each_receive_and_keeps_half_of_its_ceiling() -> None:
    assert [pp.redelivery_delay_seconds(n, rand=lambda: 0.0) for n in range(1, 6)] == [30, 90, 270, 810, 2430]
    assert [pp.redelivery_delay_seconds(n, rand=lambda: 1.0) for n in range(1, 6)] == [60, 180, 540, 1620, 4860]
    assert pp.redelivery_delay_seconds(20, rand=lambda: 1.0) == pp.SQS_MAX_VISIBILITY_SECONDS


def test_a_capacity_error_has_an_hour_before_the_dlq() -> None:
    """The consumer's retry budget, worst case: every receive meets the error and every backoff is at its least."""
    least, most = pp.capacity_budget_seconds(PAYMENT_QUEUE_MAX_RECEIVE_COUNT)
    assert (least, most) == (30 + 90 + 270 + 810 + 2430, 60 + 180 + 540 + 1620 + 4860) == (3630, 7260)
    assert least >= 3600


# --- what a processed batch payment leaves behind: item, audit, velocity counter, idempotency record ----------


def test_a_batch_payment_is_stored_with_its_batch_and_audited_step_by_step(aws, rt, context) -> None:
    """The payment names its source and batch; each version has one audit entry by this function, at its time."""
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    [payment] = aws.payments()
    assert (payment["source"], payment["batch_id"], payment["reference"]) == ("batch", BATCH, "a")
    audit = sorted(aws.items("audit-log"), key=lambda a: a["event_id"])
    assert [(a["event_id"], a["action"], a["actor"]) for a in audit] == [
        ("00000001#PENDING", "CREATED", "payment_processor"),
        ("00000002#AUTHORIZED", "AUTHORIZE", "payment_processor"),
        ("00000003#CAPTURED", "CAPTURE", "payment_processor"),
    ]
    assert audit[0]["at"] == payment["created_at"]
    assert audit[-1]["at"] == payment["updated_at"]
    assert [a["at"] for a in audit] == sorted({a["at"] for a in audit})  # three distinct, ordered clock readings


def test_velocity_is_counted_per_merchant_and_per_window(aws, clock, context, monkeypatch) -> None:
    """One counter item per merchant and fixed window (``velocity#<merchant>#<window start, epoch s>``)."""
    from dataclasses import replace

    from lambdas.shared.screening import window_start

    config = replace(aws.settings, velocity_per_hour=1)
    runtime = pp.build_runtime(config, session=aws.session, clock=clock.clock())
    monkeypatch.setattr(pp, "runtime", lambda: runtime)
    other_merchant = message("b", merchant_id="m_99999999")
    assert failures(pp.handler(sqs_event(message("a"), other_merchant), context)) == []
    assert sorted((p["merchant_id"], p["status"]) for p in aws.payments()) == [
        ("m_99999999", "CAPTURED"),
        ("m_abcdef12", "CAPTURED"),
    ]
    window = window_start(clock.now_ms() // 1000, config.screening)
    counters = {
        i["payment_id"]: int(i["count"]) for i in aws.items("payments") if i["payment_id"].startswith("velocity#")
    }
    assert counters == {f"velocity#m_abcdef12#{window}": 1, f"velocity#m_99999999#{window}": 1}


def test_the_next_window_starts_a_new_count(aws, context, monkeypatch) -> None:
    """A payment one second after the window closed is the first of the new window, not over the limit."""
    from dataclasses import replace

    config = replace(aws.settings, velocity_per_hour=1)
    window = config.screening.window_seconds
    now_ms = {"value": ((T0_MS // 1000) // window + 1) * window * 1000 - 1000}  # the last second of a window
    runtime = pp.build_runtime(config, session=aws.session, clock=Clock(now_ms=lambda: now_ms["value"]))
    monkeypatch.setattr(pp, "runtime", lambda: runtime)
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    now_ms["value"] += 1000  # the first second of the next window
    assert failures(pp.handler(sqs_event(message("b")), context)) == []
    assert sorted((p["reference"], p["status"]) for p in aws.payments()) == [("a", "CAPTURED"), ("b", "CAPTURED")]


def test_a_record_answers_the_payment_and_its_status_and_a_redelivery_the_same(aws, rt, context) -> None:
    """The idempotent result (stored for seven days): a redelivered message gets it back without a second run."""
    rt.idempotency.register_lambda_context(context)
    record = SQSRecord(sqs_event(message("a"))["Records"][0])
    first = pp.record_handler(record, context)
    assert first == {"payment_id": payment_id_for(BATCH, "a"), "status": "CAPTURED"}
    assert pp.record_handler(record, context) == first
    [stored] = aws.items("idempotency")
    assert stored["status"] == "COMPLETED"
    assert json.loads(stored["data"]) == first


def test_the_idempotency_record_is_kept_for_seven_days_and_keyed_by_payment_id(aws, rt, context) -> None:
    import time

    rt.idempotency.register_lambda_context(context)
    before = int(time.time())
    pp.record_handler(SQSRecord(sqs_event(message("a"))["Records"][0]), context)
    after = int(time.time())
    [stored] = aws.items("idempotency")
    assert before + pp.IDEMPOTENCY_TTL_SECONDS <= int(stored["expiration"]) <= after + pp.IDEMPOTENCY_TTL_SECONDS
    # Keyed by the payment id alone: the same payment in a message that differs elsewhere (its line) is the same
    # record, answered from it.
    again = pp.record_handler(SQSRecord(sqs_event(message("a", line=7))["Records"][0]), context)
    assert again == json.loads(stored["data"])
    assert len(aws.items("idempotency")) == 1


def test_a_message_reusing_a_payment_id_with_other_details_is_refused_and_changes_nothing(aws, rt, context) -> None:
    """Payload validation over merchant, reference, amount and currency: a tampered or colliding message never
    succeeds (it ends in the DLQ) and the stored payment keeps its own amount."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

    rt.idempotency.register_lambda_context(context)
    pp.record_handler(SQSRecord(sqs_event(message("a"))["Records"][0]), context)
    for changed in (message("a", amount=999), message("a", currency="EUR"), message("a", merchant_id="m_99999999")):
        with pytest.raises(IdempotencyValidationError):
            pp.record_handler(SQSRecord(sqs_event(changed)["Records"][0]), context)
    [payment] = aws.payments()
    assert (int(payment["amount"]), payment["currency"], payment["merchant_id"]) == (700, "GBP", "m_abcdef12")


def test_a_message_without_a_payment_id_is_never_processed_unguarded(rt, context) -> None:
    """``raise_on_no_idempotency_key``: the guard refuses a call it cannot key rather than running it unguarded."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError

    with pytest.raises(IdempotencyKeyError):
        rt.process(message={k: v for k, v in message("a").items() if k != "payment_id"})


def test_a_redrive_after_the_idempotency_record_expired_publishes_and_audits_nothing_again(aws, rt, context) -> None:
    """A message redriven from the DLQ a week later runs again (its record expired): it finds the payment
    CAPTURED with its event already out, so nothing is published, audited or changed twice."""
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    assert len(aws.drain(aws.events_queue_url)) == 2  # AUTHORIZED and CAPTURED went out
    audit_before, payments_before = aws.items("audit-log"), aws.payments()
    table = aws.table("idempotency")
    for item in aws.items("idempotency"):
        table.delete_item(Key={"id": item["id"]})
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    assert aws.drain(aws.events_queue_url) == []
    assert (aws.items("audit-log"), aws.payments()) == (audit_before, payments_before)


def test_every_client_comes_from_the_runtime_session(aws, clock, context, monkeypatch) -> None:
    """The runtime's session carries the region and the retry configuration (lambdas/shared/aws.py); a client
    made anywhere else (e.g. Powertools' own default) would have neither."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    runtime = pp.build_runtime(aws.settings, session=aws.session, clock=clock.clock())
    monkeypatch.setattr(pp, "runtime", lambda: runtime)
    assert failures(pp.handler(sqs_event(message("a")), context)) == []
    assert [p["status"] for p in aws.payments()] == ["CAPTURED"]
