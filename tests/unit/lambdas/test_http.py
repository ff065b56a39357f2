"""The API's error and JSON bodies (contract error): stable code, bounded message, optional request id and details."""

from __future__ import annotations

import json

import pytest

from contracts import ERROR, validator
from lambdas.shared.errors import MalformedJsonError
from lambdas.shared.http import error_response, json_response, parse_json


def test_an_error_body_holds_code_and_message_and_is_json_with_sorted_keys() -> None:
    response = error_response(422, "UNSUPPORTED_CURRENCY", "currency is not a supported ISO 4217 code")
    assert (response.status_code, response.content_type) == (422, "application/json")
    assert (
        response.body
        == '{"error": {"code": "UNSUPPORTED_CURRENCY", "message": "currency is not a supported ISO 4217 code"}}'
    )
    validator(ERROR).validate(json.loads(response.body))


def test_an_error_body_bounds_every_field_the_contract_bounds() -> None:
    details = [{"field": "f" * 250, "rule": "r" * 80}] * 25
    response = error_response(400, "VALIDATION_FAILED", "m" * 400, request_id="q" * 200, details=details)
    error = json.loads(response.body)["error"]
    assert error["message"] == "m" * 300
    assert error["request_id"] == "q" * 128
    assert error["details"] == [{"field": "f" * 200, "rule": "r" * 64}] * 20
    validator(ERROR).validate({"error": error})


def test_request_id_and_details_appear_only_when_given() -> None:
    bare = json.loads(
        error_response(404, "PAYMENT_NOT_FOUND", "no payment with this id", request_id="", details=[]).body
    )
    assert bare == {"error": {"code": "PAYMENT_NOT_FOUND", "message": "no payment with this id"}}
    full = json.loads(
        error_response(
            400, "VALIDATION_FAILED", "bad", request_id="req-1", details=[{"field": "amount", "rule": "type"}]
        ).body
    )
    assert full == {
        "error": {
            "code": "VALIDATION_FAILED",
            "message": "bad",
            "request_id": "req-1",
            "details": [{"field": "amount", "rule": "type"}],
        }
    }


def test_a_json_response_has_sorted_keys_and_the_given_headers() -> None:
    response = json_response(201, {"b": 1, "a": 2}, headers={"Location": "/payments/pay_x"})
    assert (response.status_code, response.content_type, response.body) == (201, "application/json", '{"a": 2, "b": 1}')
    assert response.headers["Location"] == "/payments/pay_x"


def test_an_error_body_is_the_same_bytes_for_the_same_error() -> None:
    """Keys sorted at every level (a replayed answer and a fresh one are byte-identical)."""
    response = error_response(
        400, "VALIDATION_FAILED", "bad", request_id="req-1", details=[{"field": "amount", "rule": "minimum"}]
    )
    assert response.body == (
        '{"error": {"code": "VALIDATION_FAILED", "details": [{"field": "amount", "rule": "minimum"}], '
        '"message": "bad", "request_id": "req-1"}}'
    )


def test_a_number_beyond_a_double_is_refused_saying_so() -> None:
    for text in ('{"amount": 1e400}', '{"amount": -1e400}'):
        with pytest.raises(MalformedJsonError) as refused:
            parse_json(text)
        assert str(refused.value) == "a number is too large for a double (RFC 7493 section 2.2)"
