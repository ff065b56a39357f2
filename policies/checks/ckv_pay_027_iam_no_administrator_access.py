"""Ensure no IAM policy, role or attachment grants administrator access."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import IAM_POLICY_RESOURCES, allowed_statements, as_list, get, unwrap

ADMIN_POLICY = ":policy/AdministratorAccess"


class IAMNoAdministratorAccess(BaseResourceCheck):
    """Ensure no IAM policy, role or attachment grants administrator access."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure no IAM policy, role or attachment grants administrator access",
            id="CKV_PAY_027",
            categories=[CheckCategories.IAM],
            supported_resources=[
                *IAM_POLICY_RESOURCES,
                "aws_iam_role",
                "aws_iam_role_policy_attachment",
                "aws_iam_user_policy_attachment",
                "aws_iam_group_policy_attachment",
            ],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        arns = as_list(unwrap(conf.get("managed_policy_arns"))) + as_list(unwrap(conf.get("policy_arn")))
        if any(isinstance(arn, str) and arn.endswith(ADMIN_POLICY) for arn in arns):
            return CheckResult.FAILED
        documents = [conf] if "policy" in conf else []
        inline = conf.get("inline_policy") or []
        documents += [block for block in inline if isinstance(block, dict) and get(block, "policy") is not None]
        unresolved = False
        for document in documents:
            statements = allowed_statements(document)
            if statements is None:
                unresolved = True
                continue
            if any("*" in s["Action"] and "*" in s["Resource"] for s in statements):
                return CheckResult.FAILED
        return CheckResult.UNKNOWN if unresolved else CheckResult.PASSED


check = IAMNoAdministratorAccess()
