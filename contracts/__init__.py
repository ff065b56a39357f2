"""Contracts: the JSON Schemas shared by the API model, the handlers and the tests.

Every schema is JSON Schema draft 4 (API Gateway REST models accept nothing newer), so any of
them can become an API model. ``openapi.json`` describes the REST API and references them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SCHEMA_DIR = Path(__file__).parent / "schemas"
OPENAPI_PATH = Path(__file__).parent / "openapi.json"
DRAFT4 = "http://json-schema.org/draft-04/schema#"

CREATE_PAYMENT_REQUEST = "create_payment_request"
PAYMENT = "payment"
ERROR = "error"
BATCH_LINE = "batch_line"
BATCH_STATUS = "batch_status"
PAYMENT_MESSAGE = "payment_message"
PAYMENT_EVENT = "payment_event"
WORKFLOW_STATE = "workflow_state"
WORKFLOW_TASK = "workflow_task"
ALL = (
    CREATE_PAYMENT_REQUEST,
    PAYMENT,
    ERROR,
    BATCH_LINE,
    BATCH_STATUS,
    PAYMENT_MESSAGE,
    PAYMENT_EVENT,
    WORKFLOW_STATE,
    WORKFLOW_TASK,
)


@cache
def _load(name: str) -> str:
    return (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """A fresh copy of one schema (callers may not mutate the shared one)."""
    schema: dict[str, Any] = json.loads(_load(name))
    return schema


@cache
def validator(name: str) -> Draft4Validator:
    """A draft-4 validator for one schema, built once per process (handlers call it at cold start)."""
    return Draft4Validator(load_schema(name))


def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3 document of the REST API (schemas referenced by relative file name)."""
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


def batch_columns() -> tuple[str, ...]:
    """The batch CSV header, in order."""
    return tuple(load_schema(BATCH_LINE)["x-csv-columns"])
