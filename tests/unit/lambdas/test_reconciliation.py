"""reconciliation against moto: which payments and batch files are stuck, the execution name rule, the counts.

moto runs no workflow: its executions stay RUNNING until stopped (ABORTED), which is what these tests need to
tell a run in progress from a closed one. Lambda's invoke is recorded (moto would need Docker to run it), and the
recorded S3 record is then given to the real batch function to prove it resumes the file.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from contracts import BATCH_STATUS, validator
from lambdas.batch_processor import handler as bp
from lambdas.reconciliation import handler as rc
from lambdas.shared.lifecycle import Event
from lambdas.shared.payments import iso, new_payment
from lambdas.shared.runtime import Clock
from tests.unit.lambdas.conftest import T0_MS, FakeContext

pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

STUCK_AFTER = 900
ALARM_AFTER = 7200
POLICY = rc.Policy(stuck_after_seconds=STUCK_AFTER, alarm_after_seconds=ALARM_AFTER, lookback_seconds=86_400)
SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
MERCHANT = "m_abcdef12"


class RecordedLambda:
    """The Lambda client's invoke, recorded."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append({**kwargs, "Payload": json.loads(kwargs["Payload"])})
        return {"StatusCode": 202}


@pytest.fixture
def rt(aws, clock, monkeypatch):
    settings = replace(aws.settings, batch_function_name="paygate-test-batch-processor")
    runtime = rc.build_runtime(settings, POLICY, session=aws.session, clock=clock.clock())
    runtime.lambda_ = RecordedLambda()
    monkeypatch.setattr(rc, "runtime", lambda: runtime)
    return runtime


def stored(rt, n: int, *, age_s: int, merchant: str = MERCHANT, source: str = "api") -> str:
    """A PENDING payment created ``age_s`` seconds before the test's clock."""
    payment = new_payment(
        {"merchant_id": merchant, "reference": f"order-{n}", "amount": 1250, "currency": "EUR"},
        payment_id="pay_" + str(n).rjust(32, "0"),
        now=iso(T0_MS - age_s * 1000),
        limit=10**11,
        source=source,
        batch_id="bat_" + "0" * 32 if source == "batch" else None,
    )
    assert rt.store.put_new(payment)
    return payment.payment_id


def executions(aws) -> dict[str, str]:
    sfn = aws.session.client("stepfunctions")
    return {e["name"]: e["status"] for e in sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]}


def stop(aws, name: str) -> None:
    sfn = aws.session.client("stepfunctions")
    sfn.stop_execution(executionArn=rc.execution_arn(aws.state_machine_arn, name))


def test_a_payment_stuck_pending_without_a_run_gets_the_run_the_api_would_have_started(aws, rt, context) -> None:
    """The 202 path: stored, its workflow never started. The run is named as the API names it (the payment id),
    so the client's own retry with the same key meets ExecutionAlreadyExists and answers 201."""
    payment_id = stored(rt, 1, age_s=STUCK_AFTER + 1)
    report = rc.handler(SCHEDULED, context)
    assert executions(aws) == {payment_id: "RUNNING"}
    assert json.loads(
        aws.session.client("stepfunctions").describe_execution(
            executionArn=rc.execution_arn(aws.state_machine_arn, payment_id)
        )["input"]
    ) == {"payment_id": payment_id}
    assert report["payments"] == {"found": 1, "redriven": 1, "in_progress": 0, "still_stuck": 0, "given_up": 0}
    assert report["redriven_payments"] == [payment_id]


def test_a_payment_whose_run_is_still_going_is_left_to_it_and_a_second_reconciliation_starts_nothing(
    aws, rt, context
) -> None:
    payment_id = stored(rt, 1, age_s=STUCK_AFTER + 1)
    rc.handler(SCHEDULED, context)
    again = rc.handler(SCHEDULED, context)
    assert executions(aws) == {payment_id: "RUNNING"}
    assert (again["payments"]["in_progress"], again["payments"]["redriven"]) == (1, 0)


def test_each_closed_run_is_followed_by_the_next_name_of_the_rule_up_to_the_limit_then_people(aws, rt, context) -> None:
    payment_id = stored(rt, 1, age_s=STUCK_AFTER + 1)
    for run in range(rc.MAX_REDRIVES + 1):
        report = rc.handler(SCHEDULED, context)
        assert report["payments"]["redriven"] == 1, run
        name = rc.execution_name(payment_id, run)
        assert name == (payment_id if run == 0 else f"{payment_id}-r{run}")
        assert executions(aws)[name] == "RUNNING"
        stop(aws, name)  # the run ended without moving the payment
    given_up = rc.handler(SCHEDULED, context)
    assert given_up["payments"] == {"found": 1, "redriven": 0, "in_progress": 0, "still_stuck": 1, "given_up": 1}
    assert len(executions(aws)) == rc.MAX_REDRIVES + 1


def test_a_run_someone_else_started_first_counts_as_in_progress(aws, rt, context, monkeypatch) -> None:
    payment_id = stored(rt, 1, age_s=STUCK_AFTER + 1)
    sfn = aws.session.client("stepfunctions")
    real_describe = rt.sfn.describe_execution

    def started_meanwhile(**kwargs: Any) -> Any:  # the API's retry starts the run between describe and start
        try:
            return real_describe(**kwargs)
        except rt.sfn.exceptions.ExecutionDoesNotExist:
            sfn.start_execution(stateMachineArn=aws.state_machine_arn, name=payment_id, input="{}")
            raise

    monkeypatch.setattr(rt.sfn, "describe_execution", started_meanwhile)
    report = rc.handler(SCHEDULED, context)
    assert (report["payments"]["in_progress"], report["payments"]["redriven"]) == (1, 0)
    assert list(executions(aws)) == [payment_id]


def test_only_payments_in_flight_past_the_stuck_age_are_found(aws, rt, context) -> None:
    young = stored(rt, 1, age_s=STUCK_AFTER - 5)
    authorized = stored(rt, 2, age_s=STUCK_AFTER + 5)
    rt.store.advance(authorized, Event.AUTHORIZE, now=iso(T0_MS))
    captured = stored(rt, 3, age_s=STUCK_AFTER + 5)
    for event in (Event.AUTHORIZE, Event.CAPTURE):
        payment, _ = rt.store.advance(captured, event, now=iso(T0_MS))
    rt.store.mark_published(payment)
    declined = stored(rt, 4, age_s=STUCK_AFTER + 5)
    payment, _ = rt.store.advance(declined, Event.DECLINE, now=iso(T0_MS), reason="AMOUNT_OVER_SCREENING_LIMIT")
    rt.store.mark_published(payment)
    batch = stored(rt, 5, age_s=STUCK_AFTER + 5, source="batch")  # the consumer's payments are re-driven alike
    report = rc.handler(SCHEDULED, context)
    assert sorted(report["redriven_payments"]) == sorted([authorized, batch])
    assert young not in executions(aws)


def test_a_payment_whose_processing_ended_but_whose_event_never_went_out_gets_a_run(aws, rt, context) -> None:
    """Notify outlasted its retry budget: the payment is CAPTURED (not in flight), its run FAILED. The next run
    resumes at Notify (stacks/constructs/workflow_definition.py); a published one is left alone."""
    unpublished, published = stored(rt, 1, age_s=10), stored(rt, 2, age_s=10)
    for payment_id in (unpublished, published):
        for event in (Event.AUTHORIZE, Event.CAPTURE):
            payment, _ = rt.store.advance(payment_id, event, now=iso(T0_MS))
        aws.session.client("stepfunctions").start_execution(
            stateMachineArn=aws.state_machine_arn, name=payment_id, input="{}"
        )
        stop(aws, payment_id)
    rt.store.mark_published(payment)  # the second one's event went out
    report = rc.handler(SCHEDULED, context)
    assert report["redriven_payments"] == [unpublished]
    assert executions(aws) == {unpublished: "ABORTED", f"{unpublished}-r1": "RUNNING", published: "ABORTED"}


def test_a_failed_run_older_than_the_lookback_is_not_read(aws, rt, context) -> None:
    """ListExecutions answers newest first: a run that started before the lookback ends the reading."""
    payment_id = stored(rt, 1, age_s=10)
    for event in (Event.AUTHORIZE, Event.CAPTURE):
        rt.store.advance(payment_id, event, now=iso(T0_MS))
    aws.session.client("stepfunctions").start_execution(
        stateMachineArn=aws.state_machine_arn, name=payment_id, input="{}"
    )
    stop(aws, payment_id)
    started_ms = int(time.time() * 1000)  # moto dates runs by the real clock
    rt.clock = Clock(now_ms=lambda: started_ms + (POLICY.lookback_seconds + 60) * 1000)
    assert rc.handler(SCHEDULED, context)["payments"]["found"] == 0
    rt.clock = Clock(now_ms=lambda: started_ms + (POLICY.lookback_seconds - 60) * 1000)
    assert rc.handler(SCHEDULED, context)["redriven_payments"] == [payment_id]


def test_in_flight_past_the_alarm_age_counts_as_still_stuck_and_every_count_is_a_metric(
    aws, rt, context, capsys
) -> None:
    stored(rt, 1, age_s=ALARM_AFTER + 1)
    stored(rt, 2, age_s=STUCK_AFTER + 1)
    report = rc.handler(SCHEDULED, context)
    assert report["payments"] == {"found": 2, "redriven": 2, "in_progress": 0, "still_stuck": 1, "given_up": 0}
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_entity = {d["EntityType"]: d for d in documents}
    assert set(by_entity) == {"payment", "batch"}
    payment = by_entity["payment"]
    assert (payment["ReconciliationFound"], payment["ReconciliationRedriven"]) == ([2.0], [2.0])
    assert payment["ReconciliationStillStuck"] == [1.0]
    assert (payment["service"], payment["Environment"]) == ("reconciliation", "test")
    (directive,) = payment["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "paygate"
    # (service, Environment) sums both entity types: the still-stuck alarm watches it.
    assert sorted(map(sorted, directive["Dimensions"])) == [
        ["EntityType", "Environment", "service"],
        ["Environment", "service"],
    ]


def test_an_operator_run_for_one_merchant_takes_its_age_and_leaves_others_and_batch_files_alone(
    aws, rt, context
) -> None:
    mine = stored(rt, 1, age_s=3)
    other = stored(rt, 2, age_s=3, merchant="m_other0001")
    put_batch(aws, rt, status="PROCESSING", age_s=STUCK_AFTER * 2, lease_until_ms=0)
    report = rc.handler({"merchant_id": MERCHANT, "stuck_after_seconds": 0}, context)
    assert report["redriven_payments"] == [mine]
    assert other not in executions(aws)
    assert rt.lambda_.invocations == [] and report["batches"]["found"] == 0


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"merchant_id": MERCHANT},
        {"merchant_id": MERCHANT, "stuck_after_seconds": -1},
        {"merchant_id": MERCHANT, "stuck_after_seconds": True},
        {"merchant_id": MERCHANT, "stuck_after_seconds": "0"},
        {"merchant_id": "m x", "stuck_after_seconds": 0},
        {"merchant_id": "M_ABCDEF12", "stuck_after_seconds": 0},
        {"merchant_id": MERCHANT, "stuck_after_seconds": 0, "extra": 1},
        [],
        {"detail-type": "Object Created"},
    ],
)
def test_an_invocation_that_is_neither_the_schedule_nor_an_operators_request_is_refused(rt, event: Any) -> None:
    with pytest.raises(rc.InvalidRequest):
        rc.parse_request(event, POLICY)


def put_batch(
    aws, rt, *, status: str, age_s: int, lease_until_ms: int, key: str = "incoming/m_abcdef12/a b.csv"
) -> str:
    s3 = aws.session.client("s3")
    body = "reference,merchant_id,amount,currency,description\r\n" + "".join(
        f"ref-{i},{MERCHANT},{100 + i},EUR,item {i}\r\n" for i in range(12)
    )
    version = s3.put_object(Bucket=aws.bucket, Key=key, Body=body.encode())["VersionId"]
    batch_id = bp.batch_id_for(aws.bucket, key, version)
    aws.table("batches").put_item(
        Item={
            "batch_id": batch_id,
            "status": status,
            "bucket": aws.bucket,
            "object_key": key,
            "object_version": version,
            "received_at": iso(T0_MS - age_s * 1000),
            "enqueued_lines": 6,  # the 5 first data lines went out (the header is line 1)
            "lease_owner": "request-that-died",
            "lease_until_ms": lease_until_ms,
        }
    )
    return batch_id


def test_a_batch_file_whose_function_died_mid_file_is_resumed_after_its_saved_line(aws, rt, clock, context) -> None:
    batch_id = put_batch(aws, rt, status="PROCESSING", age_s=STUCK_AFTER + 1, lease_until_ms=T0_MS - 1)
    report = rc.handler(SCHEDULED, context)
    assert report["batches"] == {"found": 1, "redriven": 1, "in_progress": 0, "still_stuck": 0, "given_up": 0}
    assert report["resumed_batches"] == [batch_id]
    [invocation] = rt.lambda_.invocations
    assert (invocation["FunctionName"], invocation["InvocationType"]) == ("paygate-test-batch-processor", "Event")
    # What the batch function does with that record: the rest of the file, nothing twice.
    batch_rt = bp.build_runtime(aws.settings, session=aws.session, clock=clock.clock(), sleep=lambda _: None)
    [record] = invocation["Payload"]["Records"]
    summary = bp.process_object(batch_rt, record, owner=FakeContext().aws_request_id)
    validator(BATCH_STATUS).validate(summary)
    assert (summary["batch_id"], summary["status"], summary["accepted"]) == (batch_id, "COMPLETED", 12)
    assert sorted(m["reference"] for m in aws.drain(aws.queue_url)) == sorted(f"ref-{i}" for i in range(5, 12))


def test_a_batch_file_under_a_live_lease_or_younger_than_the_stuck_age_is_left_alone(aws, rt, context) -> None:
    put_batch(aws, rt, status="PROCESSING", age_s=STUCK_AFTER + 1, lease_until_ms=T0_MS + 60_000)
    put_batch(aws, rt, status="RECEIVED", age_s=STUCK_AFTER - 5, lease_until_ms=0, key="incoming/m_abcdef12/b.csv")
    put_batch(aws, rt, status="COMPLETED", age_s=STUCK_AFTER * 3, lease_until_ms=0, key="incoming/m_abcdef12/c.csv")
    report = rc.handler(SCHEDULED, context)
    assert report["batches"] == {"found": 1, "redriven": 0, "in_progress": 1, "still_stuck": 0, "given_up": 0}
    assert rt.lambda_.invocations == []


def test_execution_names_map_back_to_their_payment_and_nothing_else_does() -> None:
    payment_id = "pay_" + "a" * 32
    assert [rc.payment_of_execution(rc.execution_name(payment_id, n)) for n in (0, 1, 12)] == [payment_id] * 3
    assert rc.payment_of_execution("manual-run") is None
    assert rc.payment_of_execution(payment_id + "-x1") is None
    assert rc.execution_arn("arn:aws:states:eu-west-1:123456789012:stateMachine:m", "n") == (
        "arn:aws:states:eu-west-1:123456789012:execution:m:n"
    )


def test_the_policy_comes_from_the_functions_environment() -> None:
    env = {"RECONCILE_STUCK_AFTER_SECONDS": "900", "RECONCILE_ALARM_AFTER_SECONDS": "7200"}
    assert rc.Policy.from_environ({**env, "RECONCILE_LOOKBACK_SECONDS": "86400"}) == POLICY
