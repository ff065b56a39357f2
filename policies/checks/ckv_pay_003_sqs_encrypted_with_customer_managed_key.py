"""Ensure SQS queues are encrypted with a customer-managed KMS key."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import checked_key


class SQSEncryptedWithCustomerManagedKey(BaseResourceCheck):
    """Ensure SQS queues are encrypted with a customer-managed KMS key."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure SQS queues are encrypted with a customer-managed KMS key",
            id="CKV_PAY_003",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_sqs_queue"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return checked_key(self, conf, conf.get("kms_master_key_id"))


check = SQSEncryptedWithCustomerManagedKey()
