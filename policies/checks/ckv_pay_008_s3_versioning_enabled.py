"""Ensure S3 bucket versioning is Enabled."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference


class S3VersioningEnabled(BaseResourceCheck):
    """Ensure S3 bucket versioning is Enabled."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure S3 bucket versioning is Enabled",
            id="CKV_PAY_008",
            categories=[CheckCategories.BACKUP_AND_RECOVERY],
            supported_resources=["aws_s3_bucket_versioning"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        status = get(conf, "versioning_configuration", "status")
        if is_reference(status):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if status == "Enabled" else CheckResult.FAILED


check = S3VersioningEnabled()
