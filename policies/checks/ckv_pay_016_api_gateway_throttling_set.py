"""Ensure API Gateway method settings set a throttling rate and burst limit."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference


class ApiGatewayThrottlingSet(BaseResourceCheck):
    """Ensure API Gateway method settings set a throttling rate and burst limit."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure API Gateway method settings set a throttling rate and burst limit",
            id="CKV_PAY_016",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_api_gateway_method_settings"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        results = []
        for key in ("throttling_rate_limit", "throttling_burst_limit"):
            value = get(conf, "settings", key)
            if is_reference(value):
                results.append(CheckResult.UNKNOWN)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                results.append(CheckResult.PASSED)
            else:
                return CheckResult.FAILED
        return CheckResult.UNKNOWN if CheckResult.UNKNOWN in results else CheckResult.PASSED


check = ApiGatewayThrottlingSet()
