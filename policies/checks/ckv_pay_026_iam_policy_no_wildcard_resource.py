"""Ensure IAM policies grant on * only the documented actions that have no resource ARN."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import IAM_POLICY_RESOURCES, allowed_statements

# Actions that have no resource-level permissions, so AWS requires Resource "*" (documented in README):
# vended log delivery for Step Functions and X-Ray trace upload/sampling.
RESOURCELESS_ACTIONS = frozenset(
    {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
)


class IAMPolicyNoWildcardResource(BaseResourceCheck):
    """Ensure IAM policies grant on * only the documented actions that have no resource ARN."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure IAM policies grant on * only the documented actions that have no resource ARN",
            id="CKV_PAY_026",
            categories=[CheckCategories.IAM],
            supported_resources=IAM_POLICY_RESOURCES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        statements = allowed_statements(conf)
        if statements is None:
            return CheckResult.UNKNOWN
        for statement in statements:
            if "*" in statement["Resource"] and not all(a in RESOURCELESS_ACTIONS for a in statement["Action"]):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = IAMPolicyNoWildcardResource()
