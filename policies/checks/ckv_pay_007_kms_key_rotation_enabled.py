"""Ensure customer-managed KMS keys rotate automatically."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap


class KMSKeyRotationEnabled(BaseResourceCheck):
    """Ensure customer-managed KMS keys rotate automatically."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure customer-managed KMS keys rotate automatically",
            id="CKV_PAY_007",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_kms_key"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        value = unwrap(conf.get("enable_key_rotation"))
        if is_reference(value):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if value is True else CheckResult.FAILED


check = KMSKeyRotationEnabled()
