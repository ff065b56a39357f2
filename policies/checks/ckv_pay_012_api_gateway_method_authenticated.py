"""Ensure every API Gateway method requires authorization (not NONE)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap


class ApiGatewayMethodAuthenticated(BaseResourceCheck):
    """Ensure every API Gateway method requires authorization (not NONE)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure every API Gateway method requires authorization (not NONE)",
            id="CKV_PAY_012",
            categories=[CheckCategories.IAM],
            supported_resources=["aws_api_gateway_method"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        authorization = unwrap(conf.get("authorization"))
        if is_reference(authorization):
            return CheckResult.UNKNOWN
        if not isinstance(authorization, str) or authorization.upper() == "NONE":
            return CheckResult.FAILED
        return CheckResult.PASSED


check = ApiGatewayMethodAuthenticated()
