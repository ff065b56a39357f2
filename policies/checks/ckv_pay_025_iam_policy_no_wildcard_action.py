"""Ensure IAM policies grant only named actions (no * or ? wildcard, no NotAction in an Allow)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    IDENTITY_POLICY_RESOURCES,
    has_wildcard,
    identity_documents,
    is_input_reference,
    register_for_policy_documents,
    verdict,
)


class IAMPolicyNoWildcardAction(BaseResourceCheck):
    """Ensure IAM policies grant only named actions (no * or ? wildcard, no NotAction in an Allow).

    A wildcard matches every action AWS adds later under that spelling (``dynamodb:?*``, ``dynamodb:*Item*``,
    ``*:*``), so even a pattern that matches one action today is not named. Covers ``policy`` of IAM
    policies, inline role/user/group policies, ``aws_iam_role.inline_policy`` and the statements without a
    principal of ``data "aws_iam_policy_document"``. A role's ``inline_policy`` that a plan read back from an
    ``aws_iam_role_policy`` is judged at that resource only (``lib.set_elsewhere``).
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure IAM policies grant only named actions (no * or ? wildcard, no NotAction in an Allow)",
            id="CKV_PAY_025",
            categories=[CheckCategories.IAM],
            supported_resources=IDENTITY_POLICY_RESOURCES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        failed = unknown = False
        for document in identity_documents(conf, self.entity_type, self):
            failed |= document.malformed
            unknown |= document.unresolved
            for statement in document.statements:
                if not statement.allows:
                    continue
                failed |= statement.not_action or any(has_wildcard(a) for a in statement.actions)
                unknown |= any(is_input_reference(a.removeprefix("${")) for a in statement.actions)
        return verdict(failed, unknown)


check = IAMPolicyNoWildcardAction()
register_for_policy_documents(check)
