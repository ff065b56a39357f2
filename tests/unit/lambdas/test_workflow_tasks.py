"""workflow_tasks against moto: each step idempotent on retry, conditional updates, contract-shaped state."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from contracts import PAYMENT_EVENT, WORKFLOW_STATE, validator
from lambdas.payment_processor import handler as pp
from lambdas.shared import aws as aws_module
from lambdas.shared.errors import DomainError, TransitionError
from lambdas.shared.lifecycle import Event
from lambdas.shared.payments import new_payment, payment_id_for
from lambdas.shared.store import PaymentStore, TransientError
from lambdas.workflow_tasks import handler as wf
from tests.unit.lambdas.conftest import Failing, FakeContext

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

REQUEST = {"merchant_id": "m_abcdef12", "reference": "order-1", "amount": 1250, "currency": "EUR"}


@pytest.fixture
def rt(aws, clock, monkeypatch):
    runtime = wf.build_runtime(aws.settings, session=aws.session, clock=clock.clock())
    monkeypatch.setattr(wf, "runtime", lambda: runtime)
    return runtime


def stored(rt, suffix: str = "1", **overrides: Any) -> str:
    payment = new_payment(
        {**REQUEST, "reference": f"order-{suffix}", **overrides},
        payment_id="pay_" + suffix.rjust(32, "0"),
        now="2026-01-01T00:00:00.000Z",
        limit=10**11,
    )
    assert rt.store.put_new(payment)
    return payment.payment_id


def run(context, task: str, state: dict[str, Any]) -> dict[str, Any]:
    out = wf.handler({"task": task, "payment": state}, context)
    validator(WORKFLOW_STATE).validate(out)
    return out


def test_approved_payment_runs_validate_screen_authorize_record_notify(aws, rt, context, logs) -> None:
    state: dict[str, Any] = {"payment_id": stored(rt)}
    for task in ("validate", "screen"):
        state = run(context, task, state)
    assert (state["decision"], state["reason"]) == ("APPROVE", "WITHIN_LIMITS")
    for task in ("authorize", "record", "notify"):
        state = run(context, task, state)
    assert (state["status"], state["version"]) == ("CAPTURED", 3)
    audit = sorted(a["event_id"] for a in aws.items("audit-log"))
    assert audit == ["00000002#AUTHORIZED", "00000003#CAPTURED"]
    events = aws.drain(aws.events_queue_url)
    assert [e["event_type"] for e in events] == ["payment.captured"]
    for e in events:
        validator(PAYMENT_EVENT).validate(e)
    assert all(f'"correlation_id":"{state["payment_id"]}"' in line for line in logs.getvalue().splitlines())


def test_a_retried_step_changes_nothing(aws, rt, context) -> None:
    state = {"payment_id": stored(rt)}
    first = run(context, "authorize", state)
    again = run(context, "authorize", state)
    assert first == again == {"payment_id": state["payment_id"], "status": "AUTHORIZED", "version": 2}
    assert len(aws.items("audit-log")) == 1


def test_decline_path_records_the_reason(aws, rt, context) -> None:
    state = run(context, "screen", {"payment_id": stored(rt, amount=10**11)})
    limited = replace(rt.settings, max_payment_minor_units=1000)
    rt.settings = limited
    state = run(context, "screen", {"payment_id": state["payment_id"]})
    assert (state["decision"], state["reason"]) == ("DECLINE", "AMOUNT_LIMIT_EXCEEDED")
    state = run(context, "decline", state)
    assert state["status"] == "DECLINED"
    assert rt.store.get(state["payment_id"]).reason == "AMOUNT_LIMIT_EXCEEDED"


def test_merchant_velocity_declines_the_payment_over_the_limit_and_counts_retries_once(rt, context) -> None:
    rt.settings = replace(rt.settings, velocity_per_hour=2)
    ids = [stored(rt, str(i)) for i in range(1, 4)]
    decisions = [run(context, "screen", {"payment_id": i})["decision"] for i in ids]
    again = run(context, "screen", {"payment_id": ids[0]})["decision"]
    assert decisions == ["APPROVE", "APPROVE", "DECLINE"]
    assert again == "APPROVE"


def test_fail_marks_a_pending_payment_failed_and_leaves_final_ones_alone(aws, rt, context) -> None:
    pending = stored(rt, "1")
    out = run(context, "fail", {"payment_id": pending, "error": {"Error": "States.TaskFailed"}})
    assert out["status"] == "FAILED"
    assert [e["event_type"] for e in aws.drain(aws.events_queue_url)] == ["payment.failed"]
    declined = stored(rt, "2")
    rt.store.advance(declined, Event.DECLINE, now="2026-01-01T00:00:01.000Z")
    assert run(context, "fail", {"payment_id": declined})["status"] == "DECLINED"
    missing = "pay_" + "e" * 32
    assert run(context, "fail", {"payment_id": missing}) == {"payment_id": missing}


def test_an_illegal_step_is_refused_as_a_payment_reason(rt, context) -> None:
    with pytest.raises(wf.PaymentRefused, match=r"^ILLEGAL_TRANSITION: ") as refused:
        run(context, "record", {"payment_id": stored(rt)})
    assert isinstance(refused.value.__cause__, TransitionError)


def test_validate_refuses_a_stored_payment_the_rules_no_longer_accept(rt, context) -> None:
    payment_id = stored(rt)
    rt.settings = replace(rt.settings, max_payment_minor_units=10)
    with pytest.raises(wf.PaymentRefused, match=r"^AMOUNT_OVER_LIMIT: ") as refused:
        run(context, "validate", {"payment_id": payment_id})
    assert isinstance(refused.value.__cause__, DomainError)
    with pytest.raises(wf.PaymentRefused, match=r"^PAYMENT_NOT_FOUND: "):
        run(context, "validate", {"payment_id": "pay_" + "d" * 32})


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            {"task": "refund", "payment": {"payment_id": "pay_" + "1" * 32}},
            "task input does not match the workflow_task contract",
        ),
        ({"task": "validate", "payment": {"id": "x"}}, "payment state does not match the workflow_state contract"),
    ],
    ids=["task", "state"],
)
def test_input_outside_the_contract_is_refused_naming_the_contract_it_breaks(rt, context, event, reason) -> None:
    """The execution fails with this message (not a payment reason): it says which contract the input broke."""
    with pytest.raises(wf.InvalidTaskInput) as refused:
        wf.handler(event, context)
    assert str(refused.value) == reason


class AtomicRequests:
    """A table whose every request is applied atomically, as DynamoDB applies each conditional write.

    moto's in-process backend checks a condition and writes without a lock, so two threads can both
    pass the same condition; real DynamoDB never lets that happen. Requests still interleave freely.
    """

    _lock = threading.Lock()

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._table, name)
        if not callable(attribute):
            return attribute

        def atomic(*args: Any, **kwargs: Any) -> Any:
            with AtomicRequests._lock:
                return attribute(*args, **kwargs)

        return atomic


def test_concurrent_updates_apply_an_event_once(aws, rt) -> None:
    payment_id = stored(rt)
    stores = [PaymentStore(AtomicRequests(aws.table("payments")), aws.table("audit-log")) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[tuple[Any, bool]] = []

    def authorize(store: PaymentStore) -> None:
        barrier.wait()
        results.append(store.advance(payment_id, Event.AUTHORIZE, now="2026-01-01T00:00:01.000Z"))

    threads = [threading.Thread(target=authorize, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(changed for _, changed in results) == 1
    assert {(p.status.value, p.version) for p, _ in results} == {("AUTHORIZED", 2)}


def test_a_lost_race_re_reads_and_re_evaluates(aws, rt) -> None:
    """The update condition fails when another writer moved the payment first; the event is then re-checked."""
    payment_id = stored(rt)
    real = rt.store._payments
    calls = {"n": 0}

    class Racing:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def update_item(self, **kwargs: Any) -> Any:
            if calls["n"] == 0:  # someone else declines the payment just before our conditional write
                calls["n"] += 1
                PaymentStore(real, aws.table("audit-log")).advance(payment_id, Event.DECLINE, now="t")
            return real.update_item(**kwargs)

    racing = PaymentStore(Racing(), aws.table("audit-log"))
    with pytest.raises(TransitionError):
        racing.advance(payment_id, Event.AUTHORIZE, now="2026-01-01T00:00:01.000Z")
    assert rt.store.get(payment_id).status.value == "DECLINED"


# --- capacity errors: named for the state machine's retriers, never a payment failure; every retry idempotent ---


def client_error(code: str, operation: str, status: int = 400) -> ClientError:
    """What boto3 raises once its own retries are used up (the message quotes request data, as AWS may)."""
    message = "Rate exceeded for item 4111111111111111"
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


def audit_of(aws, payment_id: str) -> list[tuple[str, str]]:
    return sorted((a["event_id"], a["at"]) for a in aws.items("audit-log") if a["entity_id"] == payment_id)


@pytest.mark.parametrize(
    ("code", "status", "named"),
    [
        ("ProvisionedThroughputExceededException", 400, "ThrottlingError"),
        ("ThrottlingException", 400, "ThrottlingError"),
        ("RequestLimitExceeded", 400, "ThrottlingError"),
        ("TransactionConflictException", 400, "TransientError"),
        ("InternalServerError", 500, "TransientError"),
        ("ServiceUnavailable", 503, "TransientError"),
    ],
)
def test_a_throttled_update_is_named_for_the_retrier_and_the_retry_applies_it_once(
    aws, rt, context, code: str, status: int, named: str
) -> None:
    payment_id = stored(rt)
    rt.store._payments = Failing(rt.store._payments, "update_item", client_error(code, "UpdateItem", status))
    with pytest.raises(TransientError) as raised:
        run(context, "authorize", {"payment_id": payment_id})
    assert type(raised.value).__name__ == named
    assert "4111" not in str(raised.value)  # the service's message stays out of the error the workflow records
    assert rt.store.get(payment_id).status.value == "PENDING"  # not failed: the workflow retries it
    assert run(context, "authorize", {"payment_id": payment_id}) == {
        "payment_id": payment_id,
        "status": "AUTHORIZED",
        "version": 2,
    }
    assert [event_id for event_id, _ in audit_of(aws, payment_id)] == ["00000002#AUTHORIZED"]


def test_an_audit_write_throttled_after_the_update_is_completed_by_the_retry(aws, rt, context) -> None:
    payment_id = stored(rt)
    real_audit = rt.store._audit
    rt.store._audit = Failing(real_audit, "put_item", client_error("ProvisionedThroughputExceededException", "PutItem"))
    with pytest.raises(aws_module.ThrottlingError):
        run(context, "authorize", {"payment_id": payment_id})
    assert audit_of(aws, payment_id) == []  # the update landed, its audit entry did not
    authorized_at = rt.store.get(payment_id).updated_at
    run(context, "authorize", {"payment_id": payment_id})  # the retry: no second update, the missing entry
    run(context, "record", {"payment_id": payment_id})
    run(context, "record", {"payment_id": payment_id})  # a retry after success changes nothing
    captured = rt.store.get(payment_id)
    # One entry per version, each at the time of its change (not of the retry): the trail stays contiguous.
    assert audit_of(aws, payment_id) == [
        ("00000002#AUTHORIZED", authorized_at),
        ("00000003#CAPTURED", captured.updated_at),
    ]


@pytest.mark.parametrize(("code", "status"), [("Throttled", 429), ("KMSThrottling", 400), ("InternalError", 500)])
def test_a_throttled_publish_is_retried_and_the_event_goes_out_once(aws, rt, context, code: str, status: int) -> None:
    payment_id = stored(rt)
    rt.sns = Failing(rt.sns, "publish", client_error(code, "Publish", status))
    with pytest.raises(TransientError):
        run(context, "notify", {"payment_id": payment_id})
    run(context, "notify", {"payment_id": payment_id})
    run(context, "notify", {"payment_id": payment_id})  # retried after the publish went out (a lost answer)
    assert [e["event_id"] for e in aws.drain(aws.events_queue_url)] == [f"{payment_id}#1"]


def test_only_a_failure_between_the_publish_and_its_mark_publishes_twice(aws, rt, context) -> None:
    """The documented limit of once-per-version: the copy carries the same event_id for consumers to drop."""
    payment_id = stored(rt)
    rt.store._payments = Failing(rt.store._payments, "update_item", client_error("ThrottlingException", "UpdateItem"))
    with pytest.raises(aws_module.ThrottlingError):
        run(context, "notify", {"payment_id": payment_id})
    run(context, "notify", {"payment_id": payment_id})
    assert [e["event_id"] for e in aws.drain(aws.events_queue_url)] == [f"{payment_id}#1"] * 2


def test_fail_retried_marks_once_and_publishes_once(aws, rt, context) -> None:
    payment_id = stored(rt)
    rt.sns = Failing(rt.sns, "publish", client_error("Throttled", "Publish", 429))
    with pytest.raises(aws_module.ThrottlingError):
        run(context, "fail", {"payment_id": payment_id})
    assert run(context, "fail", {"payment_id": payment_id})["status"] == "FAILED"
    assert run(context, "fail", {"payment_id": payment_id})["status"] == "FAILED"
    assert [e["event_type"] for e in aws.drain(aws.events_queue_url)] == ["payment.failed"]
    assert [event_id for event_id, _ in audit_of(aws, payment_id)] == ["00000002#FAILED"]


def test_fail_leaves_a_captured_payment_captured(aws, rt, context) -> None:
    payment_id = stored(rt)
    for task in ("authorize", "record"):
        run(context, task, {"payment_id": payment_id})
    assert run(context, "fail", {"payment_id": payment_id})["status"] == "CAPTURED"


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException", "UpdateItem"),
        client_error("ValidationException", "UpdateItem"),
        client_error("ResourceNotFoundException", "UpdateItem"),
    ],
    ids=lambda e: e.response["Error"]["Code"],
)
def test_an_error_retrying_cannot_fix_is_neither_retried_nor_a_payment_refusal(rt, context, error) -> None:
    payment_id = stored(rt)
    rt.store._payments = Failing(rt.store._payments, "update_item", error)
    with pytest.raises(ClientError) as raised:
        run(context, "authorize", {"payment_id": payment_id})
    assert raised.value is error  # the execution fails under the error's own name; the payment keeps PENDING
    assert rt.store.get(payment_id).status.value == "PENDING"


def test_the_default_session_gives_every_client_the_shared_retry_config(aws) -> None:
    runtime = wf.build_runtime(aws.settings)
    for client in (runtime.sns, runtime.store._payments.meta.client, runtime.store._audit.meta.client):
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": aws_module.MAX_ATTEMPTS}
        assert client.meta.config.read_timeout == aws_module.READ_TIMEOUT_SECONDS


def test_the_reasons_stored_for_a_failure_and_a_decline_without_a_screening_reason(aws, rt, context) -> None:
    failed = run(context, "fail", {"payment_id": stored(rt, "1")})
    declined = run(context, "decline", {"payment_id": stored(rt, "2")})
    assert (failed["status"], rt.store.get(failed["payment_id"]).reason) == ("FAILED", "WORKFLOW_ERROR")
    assert (declined["status"], rt.store.get(declined["payment_id"]).reason) == ("DECLINED", "DECLINED")


# --- what each step records and refuses, exactly (mutation testing: issue 10, items 17-19) ---------------


@pytest.mark.parametrize("task", ["validate", "screen", "notify", "authorize", "record", "decline"])
def test_every_step_refuses_a_missing_payment_as_payment_not_found(rt, context, task: str) -> None:
    """Reading it (validate, screen, notify) or moving it (authorize, record, decline): the same code and message."""
    with pytest.raises(wf.PaymentRefused) as refused:
        run(context, task, {"payment_id": "pay_" + "d" * 32})
    assert str(refused.value) == "PAYMENT_NOT_FOUND: payment does not exist"


def test_every_state_change_is_audited_with_its_action_the_actor_and_the_time_of_the_change(aws, rt, context) -> None:
    """The audit trail names what happened, who did it and when, by the injected clock (1 ms a reading)."""
    captured, declined, failed = stored(rt, "1"), stored(rt, "2"), stored(rt, "3")
    run(context, "authorize", {"payment_id": captured})  # clock reading 0
    run(context, "record", {"payment_id": captured})  # 1
    run(context, "decline", {"payment_id": declined, "reason": "MERCHANT_VELOCITY_EXCEEDED"})  # 2
    run(context, "fail", {"payment_id": failed})  # 3
    trail = sorted((a["entity_id"], a["event_id"], a["action"], a["actor"], a["at"]) for a in aws.items("audit-log"))
    assert trail == [
        (captured, "00000002#AUTHORIZED", "AUTHORIZE", "workflow_tasks", "2026-09-21T14:13:20.000Z"),
        (captured, "00000003#CAPTURED", "CAPTURE", "workflow_tasks", "2026-09-21T14:13:20.001Z"),
        (declined, "00000002#DECLINED", "DECLINE", "workflow_tasks", "2026-09-21T14:13:20.002Z"),
        (failed, "00000002#FAILED", "FAIL", "workflow_tasks", "2026-09-21T14:13:20.003Z"),
    ]
    assert [rt.store.get(p).reason for p in (declined, failed)] == ["MERCHANT_VELOCITY_EXCEEDED", "WORKFLOW_ERROR"]


def test_merchant_velocity_is_counted_per_merchant(rt, context) -> None:
    rt.settings = replace(rt.settings, velocity_per_hour=1)
    first_a, first_b = stored(rt, "1"), stored(rt, "2", merchant_id="m_bbbbbbbb")
    second_a = stored(rt, "3")
    decisions = [run(context, "screen", {"payment_id": p})["decision"] for p in (first_a, first_b, second_a)]
    assert decisions == ["APPROVE", "APPROVE", "DECLINE"]


def test_api_and_batch_payments_of_a_merchant_share_one_velocity_window(aws, rt, clock, context) -> None:
    """The workflow (API payments) and the payment processor (batch lines) count a merchant's payments in the
    same window, the clock's whole seconds cut into hours: the limit holds across both channels."""
    rt.settings = replace(rt.settings, velocity_per_hour=1)
    processor = pp.build_runtime(rt.settings, session=aws.session, clock=clock.clock())
    processor.idempotency.register_lambda_context(FakeContext())
    batch_id = "bat_" + "b" * 32
    line = {**REQUEST, "reference": "line-2", "message_type": "payment.requested", "batch_id": batch_id, "line": 2}
    assert processor.process(message={**line, "payment_id": payment_id_for(batch_id, "line-2")})["status"] == "CAPTURED"
    out = run(context, "screen", {"payment_id": stored(rt)})
    assert (out["decision"], out["reason"]) == ("DECLINE", "MERCHANT_VELOCITY_EXCEEDED")


def test_validate_refuses_a_stored_payment_holding_a_card_number(aws, rt, context) -> None:
    """Stored before the detector knew that written form (or written by hand): validate screens what is stored."""
    payment_id = stored(rt)
    aws.table("payments").update_item(
        Key={"payment_id": payment_id},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "description"},
        ExpressionAttributeValues={":d": "card 4111.1111.1111.1111"},
    )
    with pytest.raises(wf.PaymentRefused, match=r"^CARD_DATA_REFUSED: ") as refused:
        run(context, "validate", {"payment_id": payment_id})
    assert "4111" not in str(refused.value)
