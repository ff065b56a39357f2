"""Ensure CloudWatch log groups retain events for at least 365 days."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap

MINIMUM_DAYS = 365  # PCI DSS 10.5.1: one year of audit log history


class LogGroupRetainsOneYear(BaseResourceCheck):
    """Ensure CloudWatch log groups retain events for at least 365 days."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure CloudWatch log groups retain events for at least 365 days",
            id="CKV_PAY_011",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_cloudwatch_log_group"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        days = unwrap(conf.get("retention_in_days"))
        if is_reference(days):
            return CheckResult.UNKNOWN
        # 0/absent means "never expire" to AWS, but PCI wants a stated retention: require an explicit value.
        if isinstance(days, int) and not isinstance(days, bool) and days >= MINIMUM_DAYS:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = LogGroupRetainsOneYear()
