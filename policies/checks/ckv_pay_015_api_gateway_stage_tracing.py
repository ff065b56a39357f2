"""Ensure API Gateway stages have X-Ray tracing enabled."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap


class ApiGatewayStageTracing(BaseResourceCheck):
    """Ensure API Gateway stages have X-Ray tracing enabled."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure API Gateway stages have X-Ray tracing enabled",
            id="CKV_PAY_015",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_api_gateway_stage"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        enabled = unwrap(conf.get("xray_tracing_enabled"))
        if is_reference(enabled):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if enabled is True else CheckResult.FAILED


check = ApiGatewayStageTracing()
