"""Ensure DynamoDB tables have point-in-time recovery enabled."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference


class DynamoDBPointInTimeRecoveryEnabled(BaseResourceCheck):
    """Ensure DynamoDB tables have point-in-time recovery enabled."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure DynamoDB tables have point-in-time recovery enabled",
            id="CKV_PAY_009",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_dynamodb_table"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        enabled = get(conf, "point_in_time_recovery", "enabled")
        if is_reference(enabled):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if enabled is True else CheckResult.FAILED


check = DynamoDBPointInTimeRecoveryEnabled()
