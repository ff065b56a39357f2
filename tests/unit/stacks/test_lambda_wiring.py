"""The synthesized stack and the Lambda code agree: API model == contract (same verdicts), tables, env vars.

The handler tests (tests/unit/lambdas) run against moto tables built from tables.json; this proves
the stack declares the same key schemas, and gives each function every setting its code reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from contracts import CREATE_PAYMENT_REQUEST, DRAFT4, load_schema

CONTRACT = load_schema(CREATE_PAYMENT_REQUEST)
TABLES = json.loads((Path(__file__).parents[1] / "lambdas" / "tables.json").read_text())
# What each function's Settings must find (lambdas/shared/runtime.py and each build_runtime's require()).
REQUIRED_ENV = {
    "api_handler": {"IDEMPOTENCY_TABLE", "CALLERS_TABLE", "STATE_MACHINE_ARN"},
    "workflow_tasks": {"EVENTS_TOPIC_ARN"},
    "payment_processor": {"IDEMPOTENCY_TABLE", "EVENTS_TOPIC_ARN"},
    "batch_processor": {"BATCHES_TABLE", "PAYMENT_QUEUE_URL"},
    "reconciliation": {
        "STATE_MACHINE_ARN",
        "BATCHES_TABLE",
        "BATCH_FUNCTION_NAME",
        "RECONCILE_STUCK_AFTER_SECONDS",
        "RECONCILE_ALARM_AFTER_SECONDS",
        "RECONCILE_LOOKBACK_SECONDS",
    },
}
COMMON_ENV = {
    "PAYGATE_ENVIRONMENT",
    "PAYMENTS_TABLE",
    "AUDIT_TABLE",
    "MAX_PAYMENT_MINOR_UNITS",
    "SCREENING_MAX_MINOR_UNITS",
    "MERCHANT_VELOCITY_PER_HOUR",
}


def model(stack: Any) -> dict[str, Any]:
    _, resource = stack.only("aws_api_gateway_model")
    return json.loads(resource["schema"])


def test_the_api_model_is_draft_4_and_checks_as_such(stack) -> None:
    schema = model(stack)
    assert schema["$schema"] == DRAFT4
    jsonschema.Draft4Validator.check_schema(schema)


# Instances from the contract and from arbitrary JSON: the model must agree with the contract on each.
candidates = from_schema(CONTRACT) | st.dictionaries(
    st.sampled_from(["merchant_id", "reference", "amount", "currency", "description", "payment_method_token", "x"]),
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(allow_nan=False) | st.text(max_size=20),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(instance=candidates)
def test_the_api_model_accepts_and_refuses_the_same_instances_as_the_contract(stack, instance) -> None:
    deployed = jsonschema.Draft4Validator(model(stack))
    contract = jsonschema.Draft4Validator(CONTRACT)
    assert deployed.is_valid(instance) == contract.is_valid(instance)


def test_tables_have_the_key_schemas_the_handler_tests_use(stack) -> None:
    declared = {}
    for body in stack.resources("aws_dynamodb_table").values():
        purpose = body["name"].removeprefix(f"{stack.config.prefix}-")
        declared[purpose] = {
            "hash_key": body["hash_key"],
            **({"range_key": body["range_key"]} if body.get("range_key") else {}),
            **({"ttl_attribute": body["ttl"]["attribute_name"]} if body.get("ttl") else {}),
            **(
                {"indexes": {i["name"]: [i["hash_key"], i["range_key"]] for i in body["global_secondary_index"]}}
                if body.get("global_secondary_index")
                else {}
            ),
        }
    assert declared == TABLES


def test_every_function_gets_the_settings_its_code_reads(stack) -> None:
    for key, required in REQUIRED_ENV.items():
        _, function = stack.function(key)
        names = set(function["environment"]["variables"])
        assert COMMON_ENV | required <= names, key
