"""Ensure API Gateway stages write access logs."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get


class ApiGatewayStageAccessLogging(BaseResourceCheck):
    """Ensure API Gateway stages write access logs."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure API Gateway stages write access logs",
            id="CKV_PAY_014",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_api_gateway_stage"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        destination = get(conf, "access_log_settings", "destination_arn")
        formatted = get(conf, "access_log_settings", "format")
        if isinstance(destination, str) and destination and isinstance(formatted, str) and formatted:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = ApiGatewayStageAccessLogging()
