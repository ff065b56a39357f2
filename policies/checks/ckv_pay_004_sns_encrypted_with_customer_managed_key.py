"""Ensure SNS topics are encrypted with a customer-managed KMS key."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import checked_key


class SNSEncryptedWithCustomerManagedKey(BaseResourceCheck):
    """Ensure SNS topics are encrypted with a customer-managed KMS key."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure SNS topics are encrypted with a customer-managed KMS key",
            id="CKV_PAY_004",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_sns_topic"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return checked_key(self, conf, conf.get("kms_master_key_id"))


check = SNSEncryptedWithCustomerManagedKey()
