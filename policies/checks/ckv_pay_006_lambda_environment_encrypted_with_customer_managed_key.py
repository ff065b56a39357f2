"""Ensure Lambda environment variables are encrypted with a customer-managed KMS key."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import checked_key, get


class LambdaEnvironmentEncryptedWithCustomerManagedKey(BaseResourceCheck):
    """Ensure Lambda environment variables are encrypted with a customer-managed KMS key."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda environment variables are encrypted with a customer-managed KMS key",
            id="CKV_PAY_006",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        variables = get(conf, "environment", "variables")
        if not isinstance(variables, dict) or not any(not k.startswith("__") for k in variables):
            return CheckResult.PASSED  # nothing to encrypt
        return checked_key(self, conf, conf.get("kms_key_arn"))


check = LambdaEnvironmentEncryptedWithCustomerManagedKey()
