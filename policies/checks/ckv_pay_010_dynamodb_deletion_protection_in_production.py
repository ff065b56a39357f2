"""Ensure DynamoDB tables tagged as a production environment have deletion protection."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, resource_tags, unwrap

PRODUCTION = ("prod", "production")


class DynamoDBDeletionProtectionInProduction(BaseResourceCheck):
    """Ensure DynamoDB tables tagged as a production environment have deletion protection."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure DynamoDB tables tagged as a production environment have deletion protection",
            id="CKV_PAY_010",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_dynamodb_table"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        found = resource_tags(self, conf)
        if found is None:
            return CheckResult.UNKNOWN
        environment = found.get("Environment")
        if is_reference(environment):
            return CheckResult.UNKNOWN
        if str(environment).lower() not in PRODUCTION:
            return CheckResult.PASSED
        protected = unwrap(conf.get("deletion_protection_enabled"))
        if is_reference(protected):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if protected is True else CheckResult.FAILED


check = DynamoDBDeletionProtectionInProduction()
