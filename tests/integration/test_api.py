"""The payments API as deployed: every method needs an API key of a throttled usage plan and a SigV4
signature (PCI DSS 7.2.1 and 8.3.1: every access authenticated), and a request without the key is refused
with the contract's error body."""

from __future__ import annotations

import json
from typing import Any

from stacks import constants
from tests.integration.deployment import Deployment
from tests.integration.system import System
from tests.localstack.support import Api, assert_contract, payment_request, payments_of, unique


def test_every_api_method_requires_an_api_key_and_iam_authorization(system: System, deployment: Deployment) -> None:
    apigateway = system.client("apigateway")
    pages = apigateway.get_paginator("get_resources").paginate(
        restApiId=deployment.outputs[constants.OUTPUT_API_ID], embed=["methods"]
    )

    methods = {
        f"{verb} {resource['path']}": method
        for page in pages
        for resource in page["items"]
        for verb, method in resource.get("resourceMethods", {}).items()
    }

    assert sorted(methods) == ["GET /payments/{id}", "POST /payments"]
    for route, method in methods.items():
        assert method.get("apiKeyRequired") is True, route
        assert method.get("authorizationType") == "AWS_IAM", route


def test_the_api_key_belongs_to_a_throttled_usage_plan_of_the_stage(system: System, deployment: Deployment) -> None:
    outputs = deployment.outputs
    apigateway = system.client("apigateway")

    plans = apigateway.get_usage_plans(keyId=outputs[constants.OUTPUT_API_KEY_ID])["items"]

    assert len(plans) == 1, plans
    plan = plans[0]
    stages = {(stage["apiId"], stage["stage"]) for stage in plan["apiStages"]}
    assert stages == {(outputs[constants.OUTPUT_API_ID], outputs[constants.OUTPUT_API_STAGE])}
    assert plan["throttle"]["rateLimit"] > 0 and plan["throttle"]["burstLimit"] > 0, plan
    assert plan["quota"]["limit"] > 0, plan
    key = apigateway.get_api_key(apiKey=outputs[constants.OUTPUT_API_KEY_ID])
    assert key["enabled"] is True


def test_a_request_without_the_api_key_is_refused_and_stores_nothing(api: Api, tables: dict[str, Any]) -> None:
    """Signed, so on AWS it is the missing key (not the signature) that refuses; LocalStack enforces API keys
    too. The body is checked through the deployed gateway responses (next test): LocalStack does not render
    gateway response templates (execute_api/handlers/gateway_exception.py answers ``{"message": ...}``)."""
    request = payment_request(api.merchant_id)

    answer = api.create(request, key=unique("key-"), with_key=False)

    assert answer.status == 403, answer.raw
    assert payments_of(tables, request["merchant_id"]) == []


def test_every_gateway_refusal_answers_with_the_contract_error(system: System, deployment: Deployment) -> None:
    """The gateway's own answers (missing key, throttling, invalid body...) render the contract's error body."""
    apigateway = system.client("apigateway")
    declared = {
        resource.arguments["response_type"]: resource.arguments
        for resource in system.declared.resources("aws_api_gateway_gateway_response")
    }

    deployed = {
        response_type: apigateway.get_gateway_response(
            restApiId=deployment.outputs[constants.OUTPUT_API_ID], responseType=response_type
        )
        for response_type in declared
    }

    assert {"INVALID_API_KEY", "THROTTLED", "BAD_REQUEST_BODY", "INTEGRATION_FAILURE", "DEFAULT_5XX"} <= set(deployed)
    for response_type, response in deployed.items():
        assert response["statusCode"] == declared[response_type]["status_code"], response_type
        # Retry-After on the refusals a retry cures (THROTTLED, and INTEGRATION_FAILURE: a throttled function).
        parameters = declared[response_type].get("response_parameters") or {}
        assert response.get("responseParameters", {}) == parameters, response_type
        template = response["responseTemplates"]["application/json"]
        assert template == declared[response_type]["response_templates"]["application/json"], response_type
        assert_contract("error", json.loads(template.replace("$context.requestId", "req-1")))
