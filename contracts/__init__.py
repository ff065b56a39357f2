"""Contracts: the JSON Schemas shared by the API model, the handlers and the tests.

Every schema is JSON Schema draft 4 (API Gateway REST models accept nothing newer), so any of
them can become an API model. ``openapi.json`` describes the REST API and references them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4 as DRAFT4_SPECIFICATION

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


# Seconds a 503 SERVICE_UNAVAILABLE (and the gateway's 429 THROTTLED) tells the client to wait in Retry-After
# (RFC 9110 10.2.3): the API handler's answers and the stack's gateway responses (stacks/constructs/api.py).
RETRY_AFTER_SECONDS = 1

# Custom CloudWatch metrics the handlers emit (Embedded Metric Format) and the stack's alarms watch.
METRICS_NAMESPACE = "paygate"
# A payment was stored but its workflow did not start (api_handler answered 202; a retry starts it).
WORKFLOW_START_FAILED_METRIC = "WorkflowStartFailed"
# Dimension sets of the metric: (service, Environment) counts every failure (the alarm watches it);
# (service, Environment, FailureKind) tells a transient failure (throttling, 5xx, network) from a
# permanent one (missing state machine, access denied).
METRICS_SERVICE = "api_handler"
ENVIRONMENT_DIMENSION = "Environment"
FAILURE_KIND_DIMENSION = "FailureKind"
# The reconciliation's counts per run (lambdas/reconciliation): in flight past the stuck age (found), given a new
# run (re-driven), in flight past the alarm age (still stuck; its alarm fires above 0). Dimension sets:
# (service, Environment), which the alarm watches, and (service, Environment, EntityType: payment or batch).
RECONCILIATION_SERVICE = "reconciliation"
RECONCILIATION_FOUND_METRIC = "ReconciliationFound"
RECONCILIATION_REDRIVEN_METRIC = "ReconciliationRedriven"
RECONCILIATION_STILL_STUCK_METRIC = "ReconciliationStillStuck"
ENTITY_TYPE_DIMENSION = "EntityType"


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with ECMA-262 semantics (what JSON Schema's ``pattern`` means, and what API
    Gateway applies): ``$`` is the end of the text (Python's ``$`` also matches before a final
    newline, so ``"m_abcdef12\\n"`` would pass ``^m_[a-z0-9]{6,32}$``), ``\\d``/``\\w`` are ASCII."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError("does not match the pattern")


# Draft 4 with ECMA-262 ``pattern`` (the only keyword whose meaning differs from jsonschema's default).
ContractValidator = validators.extend(Draft4Validator, {"pattern": _pattern})


@cache
def validator(name: str) -> Draft4Validator:
    """A draft-4 validator for one schema, built once per process (handlers call it at cold start).

    Patterns are ECMA-262 regular expressions, as JSON Schema defines them: ``$`` ends the text.
    """
    built: Draft4Validator = ContractValidator(load_schema(name))
    return built


def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3 document of the REST API (schemas referenced by relative file name)."""
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


@cache
def _schema_registry() -> Registry:
    """Every schema file under the name openapi.json refers to it by (``schemas/<name>.schema.json``)."""
    return Registry().with_resources(
        (f"schemas/{name}.schema.json", Resource.from_contents(load_schema(name), DRAFT4_SPECIFICATION)) for name in ALL
    )


def declared_responses(path: str, method: str) -> dict[str, Any]:
    """The responses openapi.json declares for one operation (``path`` as written there, e.g.
    ``/payments/{id}``, ``method`` lowercase), or for anything else the handler answers outside the
    operations (``x-unrouted-responses``). Raises KeyError for an undeclared operation."""
    document = load_openapi()
    if (path, method) == ("*", "*"):
        unrouted: dict[str, Any] = document["x-unrouted-responses"]
        return {status: response for status, response in unrouted.items() if re.fullmatch(r"[1-5][0-9]{2}", status)}
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def response_validator(path: str, method: str, status: int) -> Draft4Validator:
    """A validator for the body openapi.json declares for ``status`` of one operation (see
    ``declared_responses``); KeyError when that status is not declared for it."""
    response = declared_responses(path, method)[str(status)]
    schema = response["content"]["application/json"]["schema"]
    built: Draft4Validator = ContractValidator(schema, registry=_schema_registry())
    return built


def batch_columns() -> tuple[str, ...]:
    """The batch CSV header, in order."""
    return tuple(load_schema(BATCH_LINE)["x-csv-columns"])
