"""api_handler against moto: idempotent create, get, refusals with stable codes, every body per its contract."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from contracts import CREATE_PAYMENT_REQUEST, ERROR, PAYMENT, load_schema, validator
from lambdas.api_handler import handler as api
from lambdas.shared.money import CURRENCY_EXPONENTS
from lambdas.shared.pan import contains_pan
from lambdas.shared.payments import new_payment

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

VALID = {"merchant_id": "m_abcdef12", "reference": "order-1", "amount": 1250, "currency": "EUR"}
PAN = "4111 1111 1111 1111"


def event(method: str, path: str, body: Any = None, key: str | None = "key-1", raw: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "req-123",
            "stage": "v1",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }


@pytest.fixture
def rt(aws, clock, monkeypatch):
    runtime = api.build_runtime(aws.settings, session=aws.session, clock=clock.clock())
    monkeypatch.setattr(api, "runtime", lambda: runtime)
    return runtime


def call(context, evt: dict) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Invoke the handler; check the body against the contract for its status."""
    response = api.handler(evt, context)
    body = json.loads(response["body"])
    contract = PAYMENT if response["statusCode"] < 300 else ERROR
    validator(contract).validate(body)
    headers = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], body, {**headers, **(response.get("headers") or {})}


def test_create_returns_201_with_the_pending_payment_and_starts_the_workflow(aws, rt, context, logs) -> None:
    status, body, headers = call(context, event("POST", "/payments", VALID))
    assert status == 201
    assert body["status"] == "PENDING" and body["version"] == 1 and body["source"] == "api"
    assert {k: body[k] for k in VALID} == VALID
    assert headers["Location"] == f"/payments/{body['payment_id']}"
    stored = aws.payments()
    assert [p["payment_id"] for p in stored] == [body["payment_id"]]
    audit = aws.items("audit-log")
    assert [(a["entity_id"], a["event_id"], a["action"]) for a in audit] == [
        (body["payment_id"], "00000001#PENDING", "CREATED")
    ]
    executions = aws.session.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)
    assert [e["name"] for e in executions["executions"]] == [body["payment_id"]]
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert lines and all(line.get("correlation_id") == "req-123" for line in lines)
    assert "order-1" not in logs.getvalue()  # bodies are never logged


def test_get_returns_the_payment_and_404_for_unknown_ids(rt, context) -> None:
    _, created, _ = call(context, event("POST", "/payments", VALID))
    status, body, _ = call(context, event("GET", f"/payments/{created['payment_id']}"))
    assert (status, body) == (200, created)
    for missing in ("pay_" + "f" * 32, "not-an-id", "velocity%23m_abcdef12%230"):
        status, body, _ = call(context, event("GET", f"/payments/{missing}"))
        assert (status, body["error"]["code"]) == (404, "PAYMENT_NOT_FOUND")


def test_unknown_routes_are_404_and_wrong_methods_405(rt, context) -> None:
    assert call(context, event("GET", "/refunds"))[1]["error"]["code"] == "ROUTE_NOT_FOUND"
    for method, path in (("GET", "/payments"), ("DELETE", "/payments/pay_x"), ("PUT", "/payments")):
        status, body, _ = call(context, event(method, path, VALID))
        assert (status, body["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")


def test_same_key_and_body_returns_the_first_response_and_creates_one_payment(aws, rt, context) -> None:
    first = call(context, event("POST", "/payments", VALID, key="same"))
    second = call(context, event("POST", "/payments", VALID, key="same"))
    assert first[:2] == second[:2]
    assert len(aws.payments()) == 1


def test_same_key_with_another_body_is_422(aws, rt, context) -> None:
    call(context, event("POST", "/payments", VALID, key="same"))
    status, body, _ = call(context, event("POST", "/payments", {**VALID, "amount": 999}, key="same"))
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(aws.payments()) == 1


def test_two_concurrent_identical_requests_create_one_payment(aws, rt, context) -> None:
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any], dict[str, str]]] = []

    def send() -> None:
        barrier.wait()
        results.append(call(context, event("POST", "/payments", VALID, key="race")))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(aws.payments()) == 1
    payment_id = aws.payments()[0]["payment_id"]
    for status, body, _ in results:
        assert (status == 201 and body["payment_id"] == payment_id) or (
            status == 409 and body["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
        )


def test_a_workflow_start_failure_still_answers_202_with_the_pending_payment(aws, context, monkeypatch) -> None:
    class FailingSfn:
        def start_execution(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "StartExecution")

    failing = api.build_runtime(aws.settings, session=_SessionWithClient(aws.session, "stepfunctions", FailingSfn()))
    monkeypatch.setattr(api, "runtime", lambda: failing)
    status, body, _ = call(context, event("POST", "/payments", VALID, key="sfn-down"))
    assert (status, body["status"]) == (202, "PENDING")
    assert len(aws.payments()) == 1


class _SessionWithClient:
    """A boto3 session whose client for one service is replaced."""

    def __init__(self, session: Any, service: str, client: Any) -> None:
        self._session, self._service, self._client = session, service, client

    def client(self, name: str, **kwargs: Any) -> Any:
        return self._client if name == self._service else self._session.client(name, **kwargs)

    def resource(self, name: str, **kwargs: Any) -> Any:
        return self._session.resource(name, **kwargs)


@pytest.mark.parametrize(
    ("mutation", "status", "code"),
    [
        (lambda b: b.pop("amount"), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(extra="x"), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(amount=12.5), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(amount="1250"), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(amount=0), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(amount=-5), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(currency="eur"), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(description="x" * 141), 400, "VALIDATION_FAILED"),
        (lambda b: b.update(currency="XXX"), 422, "UNSUPPORTED_CURRENCY"),
        (lambda b: b.update(description=f"card {PAN}"), 400, "CARD_DATA_REFUSED"),
        (lambda b: b.update(reference="4111111111111111"), 400, "CARD_DATA_REFUSED"),
    ],
)
def test_invalid_mutations_are_refused_with_their_code(aws, rt, context, logs, mutation, status, code) -> None:
    body = dict(VALID)
    mutation(body)
    got_status, got, _ = call(context, event("POST", "/payments", body))
    assert (got_status, got["error"]["code"]) == (status, code)
    assert aws.payments() == []
    assert "4111" not in json.dumps(got) and "4111" not in logs.getvalue()


def test_amount_over_the_configured_limit_is_422(aws, clock, context, monkeypatch) -> None:
    from dataclasses import replace

    runtime = api.build_runtime(replace(aws.settings, max_payment_minor_units=1000), session=aws.session)
    monkeypatch.setattr(api, "runtime", lambda: runtime)
    status, body, _ = call(context, event("POST", "/payments", VALID))
    assert (status, body["error"]["code"]) == (422, "AMOUNT_OVER_LIMIT")


@pytest.mark.parametrize(
    ("evt_kwargs", "code"),
    [
        ({"key": None}, "IDEMPOTENCY_KEY_INVALID"),
        ({"key": "k" * 256}, "IDEMPOTENCY_KEY_INVALID"),
        ({"raw": "{not json"}, "MALFORMED_JSON"),
        ({"raw": '{"description": "' + PAN + '"'}, "CARD_DATA_REFUSED"),
        ({"key": PAN}, "CARD_DATA_REFUSED"),
    ],
)
def test_bad_headers_and_bodies_are_400(rt, context, logs, evt_kwargs, code) -> None:
    status, body, _ = call(context, event("POST", "/payments", VALID, **evt_kwargs))
    assert (status, body["error"]["code"]) == (400, code)
    assert "4111" not in json.dumps(body) and "4111" not in logs.getvalue()


def test_a_pan_escaped_in_json_is_still_refused(rt, context) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in "4111111111111111")
    raw = json.dumps(VALID)[:-1] + f', "description": "{escaped}"}}'
    status, body, _ = call(context, event("POST", "/payments", raw=raw))
    assert (status, body["error"]["code"]) == (400, "CARD_DATA_REFUSED")


def test_an_unexpected_error_is_a_500_with_the_contract_body(rt, context, monkeypatch) -> None:
    def boom(**_: Any) -> None:
        raise RuntimeError("dynamo exploded")

    monkeypatch.setattr(rt, "create", boom)
    status, body, _ = call(context, event("POST", "/payments", VALID))
    assert (status, body["error"]["code"], body["error"]["request_id"]) == (500, "INTERNAL_ERROR", "req-123")


create_requests = from_schema(load_schema(CREATE_PAYMENT_REQUEST))


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(create_requests, st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_every_schema_valid_request_with_a_known_currency_is_accepted_by_the_core(request, currency) -> None:
    request["currency"] = currency
    assert validator(CREATE_PAYMENT_REQUEST).is_valid(request)
    if contains_pan(json.dumps(request)):
        return  # refused on purpose; covered by the PAN tests
    payment = new_payment(request, payment_id="pay_" + "a" * 32, now="2026-01-01T00:00:00.000Z", limit=10**11)
    resource = payment.to_resource()
    validator(PAYMENT).validate(resource)
    assert {k: resource[k] for k in ("merchant_id", "reference", "amount", "currency")} == {
        k: request[k] for k in ("merchant_id", "reference", "amount", "currency")
    }


def test_a_retry_after_a_partial_failure_finds_the_same_payment(aws, rt, context, monkeypatch) -> None:
    real = rt.store.record_audit
    calls = {"n": 0}

    def audit_fails_once(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")
        return real(*args, **kwargs)

    monkeypatch.setattr(rt.store, "record_audit", audit_fails_once)
    assert call(context, event("POST", "/payments", VALID, key="retry"))[0] == 500
    status, body, _ = call(context, event("POST", "/payments", VALID, key="retry"))
    assert status == 201
    assert [p["payment_id"] for p in aws.payments()] == [body["payment_id"]]
    assert len(aws.items("audit-log")) == 1


def test_after_the_idempotency_record_expired_the_key_still_names_its_payment(aws, rt, context) -> None:
    _, first, _ = call(context, event("POST", "/payments", VALID, key="old"))
    for item in aws.items("idempotency"):  # what the TTL does after 24 h
        aws.table("idempotency").delete_item(Key={"id": item["id"]})
    status, again, _ = call(context, event("POST", "/payments", VALID, key="old"))
    assert (status, again["payment_id"]) == (201, first["payment_id"])
    for item in aws.items("idempotency"):
        aws.table("idempotency").delete_item(Key={"id": item["id"]})
    status, body, _ = call(context, event("POST", "/payments", {**VALID, "amount": 1}, key="old"))
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert len(aws.payments()) == 1


def test_idempotency_keys_are_scoped_per_caller(aws, rt, context) -> None:
    first, second = event("POST", "/payments", VALID, key="k"), event("POST", "/payments", VALID, key="k")
    first["requestContext"]["identity"]["apiKeyId"] = "key-of-merchant-a"
    second["requestContext"]["identity"]["apiKeyId"] = "key-of-merchant-b"
    a, b = call(context, first), call(context, second)
    assert (a[0], b[0]) == (201, 201)
    assert a[1]["payment_id"] != b[1]["payment_id"]
    assert len(aws.payments()) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"description": "another note"},
        {"merchant_id": "m_zzzzzz99"},
        {"reference": "order-2"},
        {"amount": 1251},
        {"currency": "USD"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_key_reused_with_any_compared_field_changed_is_refused_after_its_record_expired(
    aws, rt, context, change
) -> None:
    """same_request compares every field the create request carries (issue 10, item 19)."""
    first = {**VALID, "description": "first note"}
    _, created, _ = call(context, event("POST", "/payments", first, key="reused"))
    for item in aws.items("idempotency"):  # what the TTL does after 24 h: only the payment still knows the key
        aws.table("idempotency").delete_item(Key={"id": item["id"]})
    status, body, _ = call(context, event("POST", "/payments", {**first, **change}, key="reused"))
    assert (status, body["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert [p["payment_id"] for p in aws.payments()] == [created["payment_id"]]
    assert aws.payments()[0]["description"] == "first note"


def test_a_description_added_or_dropped_is_another_request() -> None:
    with_note = new_payment(
        {**VALID, "description": "note"}, payment_id="pay_" + "a" * 32, now="2026-01-01T00:00:00.000Z", limit=10**11
    )
    without = new_payment(VALID, payment_id="pay_" + "a" * 32, now="2026-01-01T00:00:01.000Z", limit=10**11)
    assert api.same_request(with_note, with_note) is True
    assert api.same_request(without, without) is True
    assert api.same_request(with_note, without) is False
    assert api.same_request(without, with_note) is False


def test_a_payment_from_another_source_is_not_the_same_request() -> None:
    from dataclasses import replace

    payment = new_payment(VALID, payment_id="pay_" + "a" * 32, now="2026-01-01T00:00:00.000Z", limit=10**11)
    later = replace(payment, created_at="2026-01-02T00:00:00.000Z", updated_at="2026-01-02T00:00:00.000Z", version=3)
    assert api.same_request(payment, later) is True  # times and state are not part of the request
    assert api.same_request(payment, replace(payment, source="batch", batch_id="b1")) is False


def test_a_refusal_and_an_internal_error_carry_the_request_id_and_the_contract_message(
    rt, context, monkeypatch
) -> None:
    _, refused, _ = call(context, event("POST", "/payments", {**VALID, "currency": "XXX"}))
    assert refused["error"]["request_id"] == "req-123"
    assert refused["error"]["details"] == [{"field": "currency", "rule": "UNSUPPORTED_CURRENCY"}]

    def broken(**_: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(rt, "create", broken)
    status, body, _ = call(context, event("POST", "/payments", VALID))
    assert (status, body) == (
        500,
        {"error": {"code": "INTERNAL_ERROR", "message": "internal error", "request_id": "req-123"}},
    )
