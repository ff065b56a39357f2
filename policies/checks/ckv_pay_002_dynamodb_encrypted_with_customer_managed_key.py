"""Ensure DynamoDB tables are encrypted with a customer-managed KMS key."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import checked_key, get


class DynamoDBEncryptedWithCustomerManagedKey(BaseResourceCheck):
    """Ensure DynamoDB tables are encrypted with a customer-managed KMS key."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure DynamoDB tables are encrypted with a customer-managed KMS key",
            id="CKV_PAY_002",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_dynamodb_table"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if get(conf, "server_side_encryption", "enabled") is not True:
            return CheckResult.FAILED
        return checked_key(self, conf, get(conf, "server_side_encryption", "kms_key_arn"))


check = DynamoDBEncryptedWithCustomerManagedKey()
