"""PaymentsApi: two routes behind IAM auth and API keys, a draft-4 model, logged, traced and throttled stage.

Real API Gateway accepts only JSON Schema draft 4 models and rejects newer keywords at deploy;
LocalStack validates bodies with whatever jsonschema supports, so only this test catches them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from contracts import CREATE_PAYMENT_REQUEST, DRAFT4, load_schema
from lambdas.shared.money import CURRENCY_EXPONENTS
from stacks.config import ConfigError
from stacks.constructs import api as api_module
from stacks.constructs.api import deployment_fingerprint

# Keywords that JSON Schema draft 4 does not have (added in draft 6, 7, 2019-09 or 2020-12).
NEWER_KEYWORDS = frozenset(
    {
        "$id", "$comment", "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
        "$vocabulary", "const", "contains", "minContains", "maxContains", "propertyNames", "examples", "if", "then",
        "else", "readOnly", "writeOnly", "deprecated", "contentMediaType", "contentEncoding", "contentSchema",
        "dependentRequired", "dependentSchemas", "prefixItems", "unevaluatedItems", "unevaluatedProperties",
    }
)  # fmt: skip
SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "dependencies")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")
SCHEMA_VALUES = ("items", "additionalItems", "additionalProperties", "not")


def keywords(schema: Any, path: str = "#") -> Iterator[tuple[str, str]]:
    """(path, keyword) of every keyword in ``schema`` and its subschemas (property names are not keywords)."""
    if not isinstance(schema, dict):
        return
    for keyword in schema:
        yield path, keyword
    for keyword in SCHEMA_MAPS:
        for name, sub in schema.get(keyword, {}).items():
            yield from keywords(sub, f"{path}/{keyword}/{name}")
    for keyword in SCHEMA_LISTS:
        if isinstance(schema.get(keyword), list):
            for i, sub in enumerate(schema[keyword]):
                yield from keywords(sub, f"{path}/{keyword}/{i}")
    for keyword in SCHEMA_VALUES:
        yield from keywords(schema.get(keyword), f"{path}/{keyword}")


def newer_keywords(schema: Any) -> list[str]:
    return [f"{path}/{keyword}" for path, keyword in keywords(schema) if keyword in NEWER_KEYWORDS]


def rest_api_ref(stack: Any, attribute: str) -> str:
    rid, _ = stack.only("aws_api_gateway_rest_api")
    return stack.ref("aws_api_gateway_rest_api", rid, attribute)


def routes(stack: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) -> method, with paths rebuilt from the resource tree."""
    resources = stack.resources("aws_api_gateway_resource")

    def path(ref: str) -> str:
        if ref == rest_api_ref(stack, "root_resource_id"):
            return ""
        rid = ref.removeprefix("${aws_api_gateway_resource.").removesuffix(".id}")
        return f"{path(resources[rid]['parent_id'])}/{resources[rid]['path_part']}"

    return {(m["http_method"], path(m["resource_id"])): m for m in stack.resources("aws_api_gateway_method").values()}


def model_schema(stack: Any) -> dict[str, Any]:
    _, model = stack.only("aws_api_gateway_model")
    return json.loads(model["schema"])


def test_api_is_regional_and_reads_api_keys_from_the_header(stack) -> None:
    _, api = stack.only("aws_api_gateway_rest_api")
    assert api["name"] == "paygate-dev-payments"
    assert api["endpoint_configuration"] == {"types": ["REGIONAL"]}
    assert api["api_key_source"] == "HEADER"


def test_api_offers_create_and_get_payment(stack) -> None:
    assert set(routes(stack)) == {("POST", "/payments"), ("GET", "/payments/{id}")}


def test_every_method_requires_iam_auth_and_an_api_key(stack) -> None:
    for route, method in routes(stack).items():
        assert method["authorization"] not in ("NONE", None), route
        assert method["authorization"] == "AWS_IAM", route
        assert method["api_key_required"] is True, route


def test_requests_are_validated_against_the_model(stack) -> None:
    validator_id, validator = stack.only("aws_api_gateway_request_validator")
    model_id, _ = stack.only("aws_api_gateway_model")
    create = routes(stack)[("POST", "/payments")]

    assert validator["validate_request_body"] is True
    assert create["request_validator_id"] == stack.ref("aws_api_gateway_request_validator", validator_id, "id")
    assert create["request_models"] == {"application/json": stack.ref("aws_api_gateway_model", model_id, "name")}
    assert create["request_parameters"] == {"method.request.header.Idempotency-Key": True}


def test_model_is_the_create_payment_request_contract(stack) -> None:
    _, model = stack.only("aws_api_gateway_model")
    assert model["content_type"] == "application/json"
    assert model_schema(stack) == load_schema(CREATE_PAYMENT_REQUEST)


def test_model_is_a_json_schema_draft_4(stack) -> None:
    schema = model_schema(stack)
    assert schema["$schema"] == DRAFT4 == "http://json-schema.org/draft-04/schema#"
    jsonschema.Draft4Validator.check_schema(schema)
    assert newer_keywords(schema) == []


def test_model_accepts_a_valid_request_and_refuses_card_data(stack) -> None:
    validator = jsonschema.Draft4Validator(model_schema(stack))
    valid = {"merchant_id": "m_abc123", "reference": "order-1", "amount": 1999, "currency": "EUR"}
    assert validator.is_valid(valid)
    assert not validator.is_valid({**valid, "card_number": "4111111111111111"})
    assert not validator.is_valid({**valid, "amount": "19.99"})


def test_keyword_walker_finds_newer_keywords_but_not_property_names() -> None:
    schema = {
        "type": "object",
        "properties": {"const": {"type": "string"}, "kind": {"const": "x"}},
        "items": [{"if": {}}],
        "additionalProperties": {"examples": [1]},
        "$defs": {},
    }
    assert sorted(newer_keywords(schema)) == [
        "#/$defs",
        "#/additionalProperties/examples",
        "#/items/0/if",
        "#/properties/kind/const",
    ]


def test_every_method_proxies_to_the_api_handler(stack) -> None:
    function_id, _ = stack.function("api_handler")
    integrations = list(stack.resources("aws_api_gateway_integration").values())
    methods = stack.resources("aws_api_gateway_method")
    assert len(integrations) == len(methods) == 2
    for method_id in methods:
        (integration,) = [
            i for i in integrations if i["http_method"] == stack.ref("aws_api_gateway_method", method_id, "http_method")
        ]
        assert integration["resource_id"] == stack.ref("aws_api_gateway_method", method_id, "resource_id")
        assert integration["type"] == "AWS_PROXY"
        assert integration["integration_http_method"] == "POST"
        assert integration["uri"] == stack.ref("aws_lambda_function", function_id, "invoke_arn")


def test_api_gateway_may_invoke_the_handler_only_for_its_routes(stack) -> None:
    function_id, _ = stack.function("api_handler")
    permissions = [
        p for p in stack.resources("aws_lambda_permission").values() if p["principal"] == "apigateway.amazonaws.com"
    ]
    execution_arn = rest_api_ref(stack, "execution_arn")

    assert sorted(p["source_arn"] for p in permissions) == [
        f"{execution_arn}/*/GET/payments/*",
        f"{execution_arn}/*/POST/payments",
    ]
    assert {p["function_name"] for p in permissions} == {stack.ref("aws_lambda_function", function_id, "function_name")}


def test_stage_logs_access_and_traces_with_xray(stack) -> None:
    _, stage = stack.only("aws_api_gateway_stage")
    access_id, _ = stack.named("aws_cloudwatch_log_group", "/aws/apigateway/paygate-dev-payments-access")
    log_format = json.loads(stage["access_log_settings"]["format"])

    assert stage["stage_name"] == "v1"
    assert stage["xray_tracing_enabled"] is True
    assert stage["access_log_settings"]["destination_arn"] == stack.ref("aws_cloudwatch_log_group", access_id, "arn")
    assert {"requestId", "sourceIp", "httpMethod", "resourcePath", "status", "apiKeyId"} <= set(log_format)


def test_stage_waits_for_the_logging_role_and_its_execution_log_group(stack) -> None:
    _, stage = stack.only("aws_api_gateway_stage")
    account_id, _ = stack.only("aws_api_gateway_account")
    execution_id, _ = stack.named(
        "aws_cloudwatch_log_group", f"API-Gateway-Execution-Logs_{rest_api_ref(stack, 'id')}/v1"
    )
    assert f"aws_api_gateway_account.{account_id}" in stage["depends_on"]
    assert f"aws_cloudwatch_log_group.{execution_id}" in stage["depends_on"]


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_method_settings_throttle_and_never_log_bodies(fixture: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(fixture)
    _, settings = synthesized.only("aws_api_gateway_method_settings")
    stage_id, _ = synthesized.only("aws_api_gateway_stage")

    assert settings["method_path"] == "*/*"
    assert settings["stage_name"] == synthesized.ref("aws_api_gateway_stage", stage_id, "stage_name")
    assert settings["settings"]["data_trace_enabled"] is False
    assert settings["settings"]["metrics_enabled"] is True
    assert settings["settings"]["logging_level"] in ("ERROR", "INFO")
    assert settings["settings"]["throttling_rate_limit"] == synthesized.config.api_rate_limit
    assert settings["settings"]["throttling_burst_limit"] == synthesized.config.api_burst_limit


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_usage_plan_throttles_and_sets_a_daily_quota(fixture: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(fixture)
    config = synthesized.config
    _, plan = synthesized.only("aws_api_gateway_usage_plan")
    stage_id, _ = synthesized.only("aws_api_gateway_stage")

    assert plan["throttle_settings"] == {"rate_limit": config.api_rate_limit, "burst_limit": config.api_burst_limit}
    assert plan["quota_settings"] == {"limit": config.api_quota_per_day, "period": "DAY"}
    assert plan["api_stages"] == [
        {
            "api_id": rest_api_ref(synthesized, "id"),
            "stage": synthesized.ref("aws_api_gateway_stage", stage_id, "stage_name"),
        }
    ]


def test_api_key_belongs_to_the_usage_plan(stack) -> None:
    key_id, key = stack.only("aws_api_gateway_api_key")
    plan_id, _ = stack.only("aws_api_gateway_usage_plan")
    _, plan_key = stack.only("aws_api_gateway_usage_plan_key")

    assert key["enabled"] is True
    assert plan_key == {
        **plan_key,
        "key_id": stack.ref("aws_api_gateway_api_key", key_id, "id"),
        "key_type": "API_KEY",
        "usage_plan_id": stack.ref("aws_api_gateway_usage_plan", plan_id, "id"),
    }


def test_account_setting_names_a_cloudwatch_role_api_gateway_can_assume(stack) -> None:
    _, account = stack.only("aws_api_gateway_account")
    role_id = account["cloudwatch_role_arn"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
    role = stack.resources("aws_iam_role")[role_id]
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    policies = [
        (rid, p)
        for rid, p in stack.resources("aws_iam_role_policy").items()
        if p["role"] == stack.ref("aws_iam_role", role_id, "id")
    ]

    assert account["cloudwatch_role_arn"] == stack.ref("aws_iam_role", role_id, "arn")
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    ((policy_id, policy),) = policies
    actions = {a for s in stack.statements(policy["policy"]) for a in s["Action"]}
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions
    assert account["depends_on"] == [f"aws_iam_role_policy.{policy_id}"]


def test_deployment_is_replaced_when_the_api_definition_changes(stack) -> None:
    _, deployment = stack.only("aws_api_gateway_deployment")
    assert deployment["triggers"] == {"redeployment": deployment_fingerprint()}
    assert deployment["lifecycle"] == {"create_before_destroy": True}
    assert deployment["rest_api_id"] == rest_api_ref(stack, "id")
    for rtype in ("aws_api_gateway_method", "aws_api_gateway_integration", "aws_api_gateway_model"):
        for rid in stack.resources(rtype):
            assert f"{rtype}.{rid}" in deployment["depends_on"]


def test_deployment_fingerprint_is_stable_for_an_unchanged_api() -> None:
    assert deployment_fingerprint() == deployment_fingerprint()
    assert len(deployment_fingerprint()) == 64


def test_deployment_fingerprint_changes_when_the_model_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = deployment_fingerprint()

    def tighter_description(name: str) -> dict[str, Any]:
        schema = load_schema(name)
        schema["properties"]["description"]["maxLength"] = 100
        return schema

    monkeypatch.setattr(api_module, "load_schema", tighter_description)
    assert deployment_fingerprint() != before


def test_deployment_fingerprint_ignores_key_order_in_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    before = deployment_fingerprint()
    monkeypatch.setattr(api_module, "load_schema", lambda name: dict(reversed(load_schema(name).items())))
    assert deployment_fingerprint() == before


def test_every_answer_the_gateway_gives_itself_has_the_contract_error_shape(stack) -> None:
    responses = stack.resources("aws_api_gateway_gateway_response")
    assert {r["response_type"] for r in responses.values()} == set(api_module.GATEWAY_RESPONSES)
    error_contract = load_schema("error")
    for response in responses.values():
        template = response["response_templates"]["application/json"]
        rendered = json.loads(template.replace("$context.requestId", "a1b2c3"))
        jsonschema.validate(rendered, error_contract, cls=jsonschema.Draft4Validator)
        assert rendered["error"]["request_id"] == "a1b2c3"
        assert "$context.error" not in template  # the gateway's detail can quote request data
        status, code, _ = api_module.GATEWAY_RESPONSES[response["response_type"]]
        assert (response["status_code"], rendered["error"]["code"]) == (status, code)


def test_a_throttled_function_is_a_503_with_retry_after_never_a_500(stack) -> None:
    """Lambda's TooManyRequestsException reaches API Gateway as INTEGRATION_FAILURE (unmapped: DEFAULT_5XX's 500)."""
    by_type = {r["response_type"]: r for r in stack.resources("aws_api_gateway_gateway_response").values()}
    failure = by_type["INTEGRATION_FAILURE"]
    rendered = json.loads(failure["response_templates"]["application/json"].replace("$context.requestId", "r"))
    assert (failure["status_code"], rendered["error"]["code"]) == ("503", "SERVICE_UNAVAILABLE")
    assert failure["response_parameters"] == {"gatewayresponse.header.Retry-After": "'1'"}
    assert by_type["THROTTLED"]["response_parameters"] == {"gatewayresponse.header.Retry-After": "'1'"}
    assert "response_parameters" not in by_type["DEFAULT_5XX"]


def test_a_changed_gateway_response_redeploys_the_api(monkeypatch) -> None:
    before = deployment_fingerprint()
    changed = dict(api_module.GATEWAY_RESPONSES, THROTTLED=("429", "THROTTLED", "slow down"))
    monkeypatch.setattr(api_module, "GATEWAY_RESPONSES", changed)
    assert deployment_fingerprint() != before


def test_the_model_lists_exactly_the_supported_currencies(stack) -> None:
    """Issue 10, item 7: "AAA" matched ^[A-Z]{3}$ and got an undeclared 422; the model now refuses it (400)."""
    currency = model_schema(stack)["properties"]["currency"]
    assert currency["enum"] == sorted(CURRENCY_EXPONENTS)
    validator = jsonschema.Draft4Validator(model_schema(stack))
    valid = {"merchant_id": "m_abc123", "reference": "order-1", "amount": 1999, "currency": "EUR"}
    assert not validator.is_valid({**valid, "currency": "AAA"})
    assert validator.is_valid({**valid, "currency": "JPY"}) and validator.is_valid({**valid, "currency": "BHD"})


def test_the_model_refuses_control_characters_in_the_description(stack) -> None:
    validator = jsonschema.Draft4Validator(model_schema(stack))
    valid = {"merchant_id": "m_abc123", "reference": "order-1", "amount": 1999, "currency": "EUR"}
    assert validator.is_valid({**valid, "description": "caf\u00e9 order"})
    assert not validator.is_valid({**valid, "description": "nul\u0000"})


def test_an_environment_limit_above_the_contract_maximum_is_refused_at_synth(make_config) -> None:
    maximum = api_module.contract_amount_maximum()
    api_module.check_amount_limit(make_config(max_payment_minor_units=maximum))
    with pytest.raises(ConfigError, match="above the create-payment contract's maximum"):
        api_module.check_amount_limit(make_config(max_payment_minor_units=maximum + 1))


def test_the_gateway_answers_an_unsupported_media_type_with_the_contract_error(stack) -> None:
    (response,) = [
        r
        for r in stack.resources("aws_api_gateway_gateway_response").values()
        if r["response_type"] == "UNSUPPORTED_MEDIA_TYPE"
    ]
    rendered = json.loads(response["response_templates"]["application/json"].replace("$context.requestId", "r"))
    assert (response["status_code"], rendered["error"]["code"]) == ("415", "UNSUPPORTED_MEDIA_TYPE")
