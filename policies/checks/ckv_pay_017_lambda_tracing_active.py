"""Ensure Lambda functions have active X-Ray tracing."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get


class LambdaTracingActive(BaseResourceCheck):
    """Ensure Lambda functions have active X-Ray tracing."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda functions have active X-Ray tracing",
            id="CKV_PAY_017",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return CheckResult.PASSED if get(conf, "tracing_config", "mode") == "Active" else CheckResult.FAILED


check = LambdaTracingActive()
