"""payment_processor against moto: partial batch failures, exactly-once effects, transient retries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts import PAYMENT, PAYMENT_EVENT, validator
from lambdas.payment_processor import handler as pp
from lambdas.shared.payments import payment_id_for

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
