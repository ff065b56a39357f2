"""Tenant isolation on the deployed API (issue 12; OWASP API Security Top 10 2023, API1 broken object-level
authorization): two callers of two merchants, each bound by the admin command's code, see and create only their
own merchant's payments."""

from __future__ import annotations

from typing import Any

from tests.localstack.support import Api, Callers, assert_contract, payment_request, payments_of, unique


def refusal(answer: Any) -> tuple[int, str]:
    assert_contract("error", answer.body)
    return answer.status, answer.body["error"]["code"]


def test_each_merchants_caller_reads_only_its_own_payments(callers: Callers, tables: dict[str, Any]) -> None:
    a, b = callers.new(), callers.new()
    mine = a.create(payment_request(a.merchant_id), key=unique("key-"))
    theirs = b.create(payment_request(b.merchant_id), key=unique("key-"))
    assert (mine.status, theirs.status) == (201, 201)

    assert a.get(mine.body["payment_id"]).status == 200
    assert b.get(theirs.body["payment_id"]).status == 200
    crossed, unknown = b.get(mine.body["payment_id"]), b.get("pay_" + "0" * 32)
    assert refusal(crossed) == refusal(unknown) == (404, "PAYMENT_NOT_FOUND")
    # Nothing tells another merchant's payment from an id that names none: same body but for the request id.
    bodies = [answer.body["error"] for answer in (crossed, unknown)]
    assert [{k: v for k, v in body.items() if k != "request_id"} for body in bodies] == [
        {"code": "PAYMENT_NOT_FOUND", "message": "no payment with this id"}
    ] * 2
    assert refusal(a.get(theirs.body["payment_id"])) == (404, "PAYMENT_NOT_FOUND")


def test_a_create_for_another_merchant_is_403_and_stores_nothing(callers: Callers, tables: dict[str, Any]) -> None:
    a, b = callers.new(), callers.new()
    answer = a.create(payment_request(b.merchant_id), key=unique("key-"))
    assert refusal(answer) == (403, "MERCHANT_MISMATCH")
    assert payments_of(tables, a.merchant_id) == payments_of(tables, b.merchant_id) == []


def test_a_create_without_merchant_id_is_the_callers_merchants_payment(api: Api, tables: dict[str, Any]) -> None:
    request = payment_request(api.merchant_id)
    del request["merchant_id"]
    created = api.create(request, key=unique("key-"))
    assert created.status == 201 and created.body["merchant_id"] == api.merchant_id
    assert [p["payment_id"] for p in payments_of(tables, api.merchant_id)] == [created.body["payment_id"]]


def test_a_caller_whose_binding_is_revoked_is_refused_from_its_next_request(callers: Callers) -> None:
    api = callers.new()
    created = api.create(payment_request(api.merchant_id), key=unique("key-"))
    assert created.status == 201
    [caller_id] = callers.made
    assert callers.admin.revoke(caller_id)  # the key stays valid at the gateway; the binding is gone

    assert refusal(api.get(created.body["payment_id"])) == (403, "FORBIDDEN")
    assert refusal(api.create(payment_request(api.merchant_id), key=unique("key-"))) == (403, "FORBIDDEN")
