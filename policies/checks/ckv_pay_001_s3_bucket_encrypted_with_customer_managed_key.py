"""Ensure S3 default encryption uses aws:kms with a customer-managed key."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import checked_key, get


class S3BucketEncryptedWithCustomerManagedKey(BaseResourceCheck):
    """Ensure S3 default encryption uses aws:kms with a customer-managed key."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure S3 default encryption uses aws:kms with a customer-managed key",
            id="CKV_PAY_001",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_s3_bucket_server_side_encryption_configuration"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        rule = get(conf, "rule", "apply_server_side_encryption_by_default")
        if not isinstance(rule, dict) or get(rule, "sse_algorithm") not in ("aws:kms", "aws:kms:dsse"):
            return CheckResult.FAILED
        return checked_key(self, conf, rule.get("kms_master_key_id"))


check = S3BucketEncryptedWithCustomerManagedKey()
