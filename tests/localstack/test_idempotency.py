"""Idempotency-Key semantics of POST /payments on the deployed stack (Powertools idempotency on DynamoDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.localstack.support import (
    Api,
    Deployed,
    DeploymentLock,
    assert_contract,
    payment_request,
    payments_of,
    poll,
    unique,
)

CONCURRENT = 20


def test_the_same_key_and_body_return_the_same_payment(api: Api) -> None:
    request, key = payment_request(api.merchant_id), unique("key-")

    first = api.create(request, key=key)
    second = api.create(request, key=key)

    assert (first.status, second.status) == (201, 201), (first.raw, second.raw)
    assert_contract("payment", second.body)
    assert second.body == first.body


def test_twenty_concurrent_identical_requests_make_one_payment_and_one_workflow(
    api: Api, deployed: Deployed, tables: dict[str, Any], api_path: DeploymentLock
) -> None:
    request, key = payment_request(api.merchant_id), unique("key-")

    # The burst takes the API handler's whole reserved concurrency (20): no other test calls the API meanwhile,
    # or its request would be the 503 of a throttled handler (API Gateway does not retry an integration request).
    with api_path.write(), ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(lambda _: api.create(request, key=key), range(CONCURRENT)))

    statuses = sorted(answer.status for answer in answers)
    # Every caller gets the payment, or is told its twin is still in flight (409), or that the API handler is at
    # its reserved concurrency (an invocation of an earlier test may still hold a slot: 503 with Retry-After, never
    # a 500), and may retry.
    assert set(statuses) <= {201, 409, 503}, statuses
    created = [answer.body for answer in answers if answer.status == 201]
    assert created, statuses
    assert all(body == created[0] for body in created)
    for answer in answers:
        # A 503 is the INTEGRATION_FAILURE gateway response, whose contract body LocalStack does not render.
        if answer.status != 503:
            assert_contract("payment" if answer.status == 201 else "error", answer.body)
    # A retry of any of them answers the same payment.
    with api_path.read():
        retried = api.create(request, key=key)
    assert retried.status == 201 and retried.body == created[0]
    payment_id = created[0]["payment_id"]
    assert [p["payment_id"] for p in payments_of(tables, request["merchant_id"])] == [payment_id]
    executions = poll(
        "the payment's workflow execution", lambda: [e for e in deployed.executions() if e["name"] == payment_id]
    )
    assert len(executions) == 1, executions


def test_the_same_key_with_a_different_body_is_422(api: Api, tables: dict[str, Any]) -> None:
    request, key = payment_request(api.merchant_id), unique("key-")
    assert api.create(request, key=key).status == 201

    reused = api.create({**request, "amount": request["amount"] + 1}, key=key)

    assert reused.status == 422, reused.raw
    assert_contract("error", reused.body)
    assert reused.body["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(payments_of(tables, request["merchant_id"])) == 1
