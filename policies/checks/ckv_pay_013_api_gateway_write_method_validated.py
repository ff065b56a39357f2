"""Ensure API Gateway write methods (POST, PUT, PATCH) have a request validator."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import unwrap

WRITE_METHODS = ("POST", "PUT", "PATCH")


class ApiGatewayWriteMethodValidated(BaseResourceCheck):
    """Ensure API Gateway write methods (POST, PUT, PATCH) have a request validator."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure API Gateway write methods (POST, PUT, PATCH) have a request validator",
            id="CKV_PAY_013",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_api_gateway_method"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        method = unwrap(conf.get("http_method"))
        if not isinstance(method, str) or method.upper() not in WRITE_METHODS:
            return CheckResult.PASSED
        validator = unwrap(conf.get("request_validator_id"))
        return CheckResult.PASSED if isinstance(validator, str) and validator else CheckResult.FAILED


check = ApiGatewayWriteMethodValidated()
