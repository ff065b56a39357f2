"""Ensure Lambda functions reserve concurrency (a bounded blast radius)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap


class LambdaReservedConcurrency(BaseResourceCheck):
    """Ensure Lambda functions reserve concurrency (a bounded blast radius)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda functions reserve concurrency (a bounded blast radius)",
            id="CKV_PAY_018",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        value = unwrap(conf.get("reserved_concurrent_executions"))
        if is_reference(value):
            return CheckResult.UNKNOWN
        # -1 is the provider's "unreserved" (what a plan shows when the attribute is absent).
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = LambdaReservedConcurrency()
