"""Ensure Lambda asynchronous invoke configs send failures to an on-failure destination."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get


class LambdaAsyncFailuresHaveDestination(BaseResourceCheck):
    """Ensure Lambda asynchronous invoke configs send failures to an on-failure destination."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda asynchronous invoke configs send failures to an on-failure destination",
            id="CKV_PAY_021",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_lambda_function_event_invoke_config"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        destination = get(conf, "destination_config", "on_failure", "destination")
        return CheckResult.PASSED if isinstance(destination, str) and destination else CheckResult.FAILED


check = LambdaAsyncFailuresHaveDestination()
