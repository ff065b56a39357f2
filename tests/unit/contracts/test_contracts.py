"""Contracts: every schema is draft 4 (any may become an API model), the OpenAPI document references them and
declares per operation every status and error code; currencies are the one currency table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

import contracts
from contracts import ALL, DRAFT4, ERROR, OPENAPI_PATH, SCHEMA_DIR, load_openapi, load_schema, validator
from lambdas.shared.money import CURRENCY_EXPONENTS

NEWER_KEYWORDS = frozenset(
    {
        "$id", "$comment", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
        "$vocabulary", "const", "contains", "minContains", "maxContains", "propertyNames", "examples", "if", "then",
        "else", "readOnly", "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "contentSchema",
        "dependentRequired", "dependentSchemas", "prefixItems", "unevaluatedItems", "unevaluatedProperties",
    }
)  # fmt: skip


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(schema, dict):
        return
    yield schema
    for keyword in ("properties", "patternProperties", "definitions"):
        for sub in schema.get(keyword, {}).values():
            yield from subschemas(sub)
    for keyword in ("items", "additionalProperties", "not"):
        yield from subschemas(schema.get(keyword))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword, []):
            yield from subschemas(sub)


def test_every_schema_file_is_named_in_the_package() -> None:
    assert sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")) == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
def test_schema_is_valid_draft_4_without_newer_keywords(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == DRAFT4
    jsonschema.Draft4Validator.check_schema(schema)
    used = {keyword for sub in subschemas(schema) for keyword in sub}
    assert used & NEWER_KEYWORDS == set()


@pytest.mark.parametrize("name", ALL)
def test_objects_are_closed(name: str) -> None:
    """Unknown fields are refused everywhere (a typo or a smuggled field never passes silently)."""
    for sub in subschemas(load_schema(name)):
        if sub.get("type") == "object" and "properties" in sub:
            assert sub.get("additionalProperties") is False, sub.get("title", name)


def test_load_schema_returns_a_fresh_copy() -> None:
    first = load_schema(ERROR)
    first["title"] = "changed"
    assert load_schema(ERROR)["title"] == "Error"


def test_openapi_references_only_existing_schemas_and_covers_the_api() -> None:
    document = load_openapi()
    assert document["openapi"].startswith("3.")
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs == {
        "schemas/create_payment_request.schema.json",
        "schemas/payment.schema.json",
        "schemas/error.schema.json",
    }
    for ref in refs:
        assert (OPENAPI_PATH.parent / ref).is_file()
    assert set(document["paths"]) == {"/payments", "/payments/{id}"}
    assert set(document["paths"]["/payments"]) == {"post"}
    assert set(document["paths"]["/payments/{id}"]) == {"get"}


def test_error_codes_the_api_documents_are_the_contract_enum() -> None:
    codes = set(load_schema(ERROR)["properties"]["error"]["properties"]["code"]["enum"])
    assert {"VALIDATION_FAILED", "CARD_DATA_REFUSED", "IDEMPOTENCY_KEY_REUSED", "PAYMENT_NOT_FOUND"} <= codes
    assert len(codes) == len(load_schema(ERROR)["properties"]["error"]["properties"]["code"]["enum"])


def test_batch_columns_are_the_line_schema_properties_in_order() -> None:
    schema = load_schema(contracts.BATCH_LINE)
    assert contracts.batch_columns() == tuple(schema["x-csv-columns"])
    assert set(contracts.batch_columns()) == set(schema["properties"]) == set(schema["required"])


def test_validators_are_built_once_per_schema() -> None:
    assert validator(ERROR) is validator(ERROR)
    assert validator(ERROR).is_valid({"error": {"code": "INTERNAL_ERROR", "message": "x"}})
    assert not validator(ERROR).is_valid({"error": {"code": "SOMETHING_ELSE", "message": "x"}})


def test_the_contract_files_are_plain_json() -> None:
    for path in [*SCHEMA_DIR.glob("*.json"), OPENAPI_PATH]:
        json.loads(path.read_text(encoding="utf-8"))


def currency_properties() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in ALL:
        for sub in subschemas(load_schema(name)):
            if "currency" in sub.get("properties", {}):
                yield name, sub["properties"]["currency"]


def test_every_currency_in_the_contracts_is_the_currency_table() -> None:
    """The supported ISO 4217 codes, exactly: a request valid by the contract is never refused for its currency."""
    found = dict(currency_properties())
    assert set(found) == {"create_payment_request", "payment", "payment_event", "payment_message", "batch_line"}
    for name, currency in found.items():
        assert currency["enum"] == sorted(CURRENCY_EXPONENTS), f"{name}: enum differs from CURRENCY_EXPONENTS"


def test_the_create_request_refuses_a_currency_the_table_does_not_have() -> None:
    request = {"merchant_id": "m_abcdef12", "reference": "r1", "amount": 1, "currency": "AAA"}
    assert not validator(contracts.CREATE_PAYMENT_REQUEST).is_valid(request)
    assert validator(contracts.CREATE_PAYMENT_REQUEST).is_valid({**request, "currency": "KWD"})


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^m_[a-z0-9]{6,32}$", "m_abcdef12", True),
        ("^m_[a-z0-9]{6,32}$", "m_abcdef12\n", False),  # Python's `$` matches before a final newline
        ("^[0-9]+$", "\u0661\u0662", False),
        ("^\\d+$", "\u0661\u0662", False),  # ECMA-262 \d is ASCII
        ("^\\d+$", "12", True),
        ("^a\\$$", "a$", True),
        ("^[$]$", "$", True),
        ("^[^\\u0000-\\u001F\\u007F]*$", "caf\u00e9 \U0001f600", True),
        ("^[^\\u0000-\\u001F\\u007F]*$", "a\nb", False),
    ],
)
def test_patterns_have_ecma_262_semantics(pattern: str, text: str, matches: bool) -> None:
    check = contracts.ContractValidator({"type": "string", "pattern": pattern})
    assert check.is_valid(text) is matches


def declared(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                yield path, method, status, response
    for status, response in contracts.declared_responses("*", "*").items():
        yield "*", "*", status, response


def test_every_declared_error_names_its_codes_from_the_error_enum() -> None:
    enum = set(load_schema(ERROR)["properties"]["error"]["properties"]["code"]["enum"])
    for path, method, status, response in declared(load_openapi()):
        schema = response["content"]["application/json"]["schema"]
        if int(status) < 400:
            assert schema == {"$ref": "schemas/payment.schema.json"}, (path, method, status)
            continue
        ref, codes = schema["allOf"]
        assert ref == {"$ref": "schemas/error.schema.json"}, (path, method, status)
        assert set(codes["properties"]["error"]["properties"]["code"]["enum"]) <= enum, (path, method, status)


def test_the_per_status_validators_refuse_a_code_not_declared_for_the_status() -> None:
    not_found = {"error": {"code": "PAYMENT_NOT_FOUND", "message": "no payment with this id"}}
    assert contracts.response_validator("/payments/{id}", "get", 404).is_valid(not_found)
    assert not contracts.response_validator("/payments", "post", 400).is_valid(not_found)
    with pytest.raises(KeyError):
        contracts.response_validator("/payments/{id}", "get", 409)


def test_the_contract_declares_the_refusals_the_create_operation_can_meet() -> None:
    responses = load_openapi()["paths"]["/payments"]["post"]["responses"]
    assert set(responses) == {"201", "202", "400", "403", "409", "413", "415", "422", "429", "500", "503"}
    codes = responses["422"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]
    assert set(codes["properties"]["code"]["enum"]) == {"AMOUNT_OVER_LIMIT", "IDEMPOTENCY_KEY_REUSED"}
    (header,) = load_openapi()["paths"]["/payments"]["post"]["parameters"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"}
