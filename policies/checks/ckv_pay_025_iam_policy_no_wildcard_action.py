"""Ensure IAM policies grant no wildcard actions (* or service:*)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import IAM_POLICY_RESOURCES, allowed_statements


class IAMPolicyNoWildcardAction(BaseResourceCheck):
    """Ensure IAM policies grant no wildcard actions (* or service:*)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure IAM policies grant no wildcard actions (* or service:*)",
            id="CKV_PAY_025",
            categories=[CheckCategories.IAM],
            supported_resources=IAM_POLICY_RESOURCES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        statements = allowed_statements(conf)
        if statements is None:
            return CheckResult.UNKNOWN
        for statement in statements:
            if any(isinstance(a, str) and (a == "*" or a.endswith(":*")) for a in statement["Action"]):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = IAMPolicyNoWildcardAction()
