"""What goes wrong: a task throttled past the old retry budget still completes; a poison message -> DLQ -> alarm."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.localstack.support import (
    PAYMENT_QUEUE,
    Api,
    Deadline,
    Deployed,
    DeploymentLock,
    payment_request,
    payments_of,
    poll,
    unique,
)

# 5 receives, each followed by the suite's visibility timeout and the event source mapping's next poll.
RECEIVE_COUNT_DEADLINE_S = 180.0
# Queue metrics reach CloudWatch every 2 s here (SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL) and the alarm's
# sliding window is evaluated every 2 s (localstack_ext/alarm_evaluation.py; stock LocalStack evaluates it
# once per period, 60 s, counted from its creation during the deploy).
ALARM_DEADLINE_S = 150.0


def history(deployed: Deployed, payment_id: str) -> list[dict[str, Any]]:
    sfn = deployed.client("stepfunctions")
    return list(sfn.get_execution_history(executionArn=deployed.execution_arn(payment_id), maxResults=1000)["events"])


# Before issue 10 a throttled task had one retrier, 3 retries 1, 2 and 4 s apart: 7 s, and 4 attempts in all,
# after which the payment was marked FAILED (57 of 198 under load). This test throttles for longer than that.
OLD_THROTTLE_BUDGET_S = 7.0
OLD_THROTTLE_ATTEMPTS = 4
THROTTLE_SPAN_S = 15.0  # from the first throttled attempt to the last one before the throttle is lifted
THROTTLE_DEADLINE_S = 90.0


def throttle_retrier(deployed: Deployed, state: str) -> dict[str, Any]:
    """The deployed definition's retrier for a Lambda throttle in ``state`` (the first that names it)."""
    sfn = deployed.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=deployed["state_machine_arn"])["definition"])
    retry = definition["States"][state]["Retry"]
    return next(r for r in retry if "Lambda.TooManyRequestsException" in r["ErrorEquals"])


def throttled_attempts(deployed: Deployed, payment_id: str) -> list[dict[str, Any]]:
    found = []
    for event in history(deployed, payment_id):
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
        if event["type"] in ("TaskFailed", "LambdaFunctionFailed"):
            assert details.get("error") == "Lambda.TooManyRequestsException", event
            found.append(event)
    return found


def test_a_workflow_task_throttled_past_the_old_budget_is_retried_and_the_payment_completes(
    api: Api, deployed: Deployed, api_path: DeploymentLock, workflow_tasks: DeploymentLock
) -> None:
    """Reserved concurrency 0 makes Lambda refuse the task (TooManyRequests), a real capacity error, held for
    longer and for more attempts than the old retrier allowed; once lifted, the payment completes."""
    retrier = throttle_retrier(deployed, "Validate")
    waits = [
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier["MaxDelaySeconds"])
        for n in range(retrier["MaxAttempts"])
    ]
    # Full jitter draws each wait from [0, max]: the span held here is a small part of the mean budget.
    assert sum(waits) / 2 >= 4 * THROTTLE_SPAN_S > 8 * OLD_THROTTLE_BUDGET_S, retrier
    assert retrier["JitterStrategy"] == "FULL", retrier
    name = deployed.function_name("workflow-tasks")
    # Every workflow task is throttled meanwhile: no test that waits for a workflow runs (tests/localstack/conftest.py).
    with workflow_tasks.write():
        throttled, payment_id = throttle_a_payment(api, deployed, name, api_path)
    # Its own payment's workflow, once lifted: no test changes the task function again while it finishes.
    with workflow_tasks.read():
        done = deployed.finished_execution(payment_id)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["status"] == "CAPTURED", done["output"]
    events = history(deployed, payment_id)
    succeeded = [e for e in events if e["type"] in ("TaskSucceeded", "LambdaFunctionSucceeded")]
    # The first task ran only after the throttle was lifted, past the old budget, and nothing marked it failed.
    assert (succeeded[0]["timestamp"] - throttled[0]["timestamp"]).total_seconds() > THROTTLE_SPAN_S
    entered = {e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")}
    assert entered.isdisjoint({"MarkFailed", "RetryBudgetExhausted"}), entered


def test_a_create_while_the_api_function_is_throttled_is_a_503_with_retry_after_and_stores_nothing(
    api: Api, deployed: Deployed, tables: dict[str, Any], api_path: DeploymentLock
) -> None:
    """Reserved concurrency 0 on the API handler: Lambda refuses the invoke (TooManyRequests), which API Gateway
    reports as INTEGRATION_FAILURE; the client gets the contract's 503 with Retry-After, never a 500, and a retry
    with the same key once capacity is back creates the payment."""
    request, key = payment_request(api.merchant_id), unique("key-")
    with api_path.write(), no_concurrency(deployed, deployed.function_name("api-handler")):
        refused = api.create(request, key=key)
    # The status is the stack's INTEGRATION_FAILURE gateway response; LocalStack renders neither its template nor its
    # Retry-After header (execute_api/handlers/gateway_exception.py): tests/integration/test_api.py checks the
    # deployed response, tests/unit/stacks/test_api.py its body and header.
    assert refused.status == 503, refused.raw
    assert payments_of(tables, api.merchant_id) == []
    with api_path.read():
        retried = api.create(request, key=key)
    assert retried.status == 201, retried.raw
    assert [p["payment_id"] for p in payments_of(tables, api.merchant_id)] == [retried.body["payment_id"]]


def throttle_a_payment(
    api: Api, deployed: Deployed, name: str, api_path: DeploymentLock
) -> tuple[list[dict[str, Any]], str]:
    """Reserved concurrency 0 on ``name`` while a payment is created (through the API, under its read lock), until
    it has been throttled more often and longer than the old budget allowed; the concurrency is then restored.
    Returns (throttled attempts, payment)."""
    with contextlib.ExitStack() as throttle:
        with api_path.read():  # granted before the throttle starts: a change of the handler never lengthens it
            throttle.enter_context(no_concurrency(deployed, name))
            created = api.create(payment_request(api.merchant_id), key=unique("key-"))
        assert created.status == 201, created.raw
        payment_id = created.body["payment_id"]

        def held_past_the_old_budget() -> list[dict[str, Any]] | None:
            throttled = throttled_attempts(deployed, payment_id)
            span = (throttled[-1]["timestamp"] - throttled[0]["timestamp"]).total_seconds() if throttled else 0.0
            return throttled if len(throttled) > OLD_THROTTLE_ATTEMPTS and span >= THROTTLE_SPAN_S else None

        throttled = poll(
            f"more than {OLD_THROTTLE_ATTEMPTS} throttled attempts over {THROTTLE_SPAN_S:.0f} s",
            held_past_the_old_budget,
            deadline_s=THROTTLE_DEADLINE_S,
        )
    return throttled, payment_id


@contextlib.contextmanager
def no_concurrency(deployed: Deployed, name: str) -> Iterator[None]:
    """Reserved concurrency 0 on the function ``name`` (Lambda refuses every invoke: TooManyRequests) for the
    block; its own setting is restored after, whatever happens."""
    lambda_ = deployed.client("lambda")
    reserved = lambda_.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
    lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        yield
    finally:
        if reserved is None:
            lambda_.delete_function_concurrency(FunctionName=name)
        else:
            lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)


def consumer_state(deployed: Deployed, body: str, since_ms: int) -> str:
    """What the payment queue, the message and its consumer look like (for a failure message only).

    Peeking at the message counts as one more receive: fine once the test has failed.
    """
    sqs, names = deployed.client("sqs"), ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    queues = {
        url.rsplit("/", 1)[-1]: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        for url in (deployed["payment_queue_url"], deployed["payment_dlq_url"])
    }
    peeked = sqs.receive_message(
        QueueUrl=deployed["payment_queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    ).get("Messages", [])
    message = [m["Attributes"] for m in peeked if m["Body"] == body]
    mappings = deployed.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    states = [(m["FunctionArn"].rsplit(":", 1)[-1], m["State"], m.get("LastProcessingResult")) for m in mappings]
    return (
        f"queues {queues}; the message {message or 'not visible'}; event source mappings {states}; "
        f"{consumer_invocations(deployed, since_ms)} payment-processor invocations since it was sent"
    )


def consumer_invocations(deployed: Deployed, since_ms: int) -> int:
    """How many times the payment processor ran since ``since_ms`` (its REPORT lines in CloudWatch Logs)."""
    group = f"/aws/lambda/{deployed.function_name('payment-processor')}"
    pages = deployed.client("logs").get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_ms)
    return sum(1 for page in pages for event in page["events"] if event["message"].startswith("REPORT "))


def dlq_alarm(deployed: Deployed) -> dict[str, Any]:
    dlq_name = str(deployed["payment_dlq_url"]).rsplit("/", 1)[-1]
    alarms = deployed.client("cloudwatch").describe_alarms()["MetricAlarms"]
    found = [
        a
        for a in alarms
        if a["Namespace"] == "AWS/SQS" and {"Name": "QueueName", "Value": dlq_name} in a.get("Dimensions", [])
    ]
    assert len(found) == 1, [a["AlarmName"] for a in alarms]
    return found[0]


# The deployed queue hides a received message for 6x the consumer's timeout (180 s), as AWS advises; this
# test shortens it while it runs so that maxReceiveCount (5) receives take seconds, not 15 minutes. On
# LocalStack a message is never redelivered while its consumer still works on it, whatever the visibility:
# the event source mapping's one poller invokes the function synchronously and polls again only after the
# answer (localstack/services/lambda_/event_source_mapping/esm_worker.py, poller_loop); each receive is one
# consumer run, which the test counts. (It was 5 s: 15 s of the test's 33 s to the DLQ.)
TEST_VISIBILITY_S = "2"


@pytest.fixture
def fast_redelivery(deployed: Deployed) -> Iterator[int]:
    """Shortens the payment queue's visibility; yields the delay (s) a message sent now must have.

    A receive takes the queue's visibility timeout when it starts, so one that was already long-polling
    when the attribute changed still hides what it gets for 180 s (measured: it made this test time out
    about once in eight runs). The event source mapping long-polls for its batching window; a message
    delayed past that can only be received under the new visibility.
    """
    sqs = deployed.client("sqs")
    url = deployed["payment_queue_url"]
    mappings = deployed.client("lambda").list_event_source_mappings(
        FunctionName=deployed.function_name("payment-processor")
    )["EventSourceMappings"]
    assert len(mappings) == 1, mappings
    original = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": TEST_VISIBILITY_S})
    try:
        yield int(mappings[0].get("MaximumBatchingWindowInSeconds", 0)) + 1
    finally:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=original)


@PAYMENT_QUEUE
@pytest.mark.first_in_group  # no batch test's message is in the queue yet: the shortened visibility cannot touch one
def test_a_poison_message_lands_in_the_dlq_after_max_receives_and_the_alarm_fires(
    deployed: Deployed, fast_redelivery: int, record_property: Callable[[str, object], None]
) -> None:
    sqs = deployed.client("sqs")
    poison = json.dumps({"message_type": "payment.requested", "payment_id": unique("not-a-payment-")})
    sent_ms, sent_at = int(time.time() * 1000), time.monotonic()
    sqs.send_message(QueueUrl=deployed["payment_queue_url"], MessageBody=poison, DelaySeconds=fast_redelivery)

    def in_dlq() -> list[dict[str, Any]]:
        answer = sqs.receive_message(
            QueueUrl=deployed["payment_dlq_url"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["DeadLetterQueueSourceArn"],
        )
        return [m for m in answer.get("Messages", []) if m["Body"] == poison]

    try:
        landed = poll("the poison message in the DLQ", in_dlq, deadline_s=RECEIVE_COUNT_DEADLINE_S)
    except Deadline as late:
        raise Deadline(f"{late}; {consumer_state(deployed, poison, sent_ms)}") from None
    landed_at = time.monotonic()
    queue = sqs.get_queue_attributes(
        QueueUrl=deployed["payment_queue_url"], AttributeNames=["QueueArn", "RedrivePolicy"]
    )["Attributes"]
    assert landed[0]["Attributes"]["DeadLetterQueueSourceArn"] == queue["QueueArn"], "moved there by the redrive"
    # Nothing else reaches the queue now (the first of its xdist group; no other test sends to it): every consumer run
    # was this message's.
    max_receives = json.loads(queue["RedrivePolicy"])["maxReceiveCount"]
    assert consumer_invocations(deployed, sent_ms) == max_receives, "one consumer run per receive, then the DLQ"
    # in the JUnit report, for the benchmark: how the test's time splits between its two waits
    record_property("poison_seconds_to_dlq", round(landed_at - sent_at, 1))

    try:
        # Entered ALARM after this message was sent: an alarm still in ALARM from an earlier run against the
        # same deployment proves nothing (the state changes, and its timestamp with it, only on a transition).
        alarm = poll(
            "the DLQ depth alarm entering ALARM after the message was sent",
            lambda: (
                (a := dlq_alarm(deployed))["StateValue"] == "ALARM"
                and a["StateUpdatedTimestamp"].timestamp() >= sent_ms // 1000
                and a
            ),
            deadline_s=ALARM_DEADLINE_S,
        )
        record_property("poison_seconds_to_alarm", round(time.monotonic() - landed_at, 1))
    finally:  # the DLQ as the test found it: a rerun against the same deployment sees only its own message
        for message in in_dlq():
            sqs.delete_message(QueueUrl=deployed["payment_dlq_url"], ReceiptHandle=message["ReceiptHandle"])
    assert alarm["AlarmActions"] == [deployed["alarm_topic_arn"]]
