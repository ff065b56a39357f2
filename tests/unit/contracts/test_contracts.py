"""Contracts: every schema is draft 4 (any may become an API model), the OpenAPI document references them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

import contracts
from contracts import ALL, DRAFT4, ERROR, OPENAPI_PATH, SCHEMA_DIR, load_openapi, load_schema, validator

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
