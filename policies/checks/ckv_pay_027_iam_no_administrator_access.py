"""Ensure no IAM policy, role, attachment or policy document grants administrator access."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    IDENTITY_POLICY_RESOURCES,
    MANAGED_POLICY_ATTACHMENTS,
    POLICY_DOCUMENT,
    identity_documents,
    judged_strings,
    matches_every_action,
    matches_every_resource,
    register_for_policy_documents,
    verdict,
)

ADMIN_POLICY = re.compile(r":policy/AdministratorAccess$")
MANAGED_POLICY_ARGUMENTS = ("managed_policy_arns", "policy_arn", "policy_arns", "managed_policy_arn")


class IAMNoAdministratorAccess(BaseResourceCheck):
    """Ensure no IAM policy, role, attachment or policy document grants administrator access.

    Administrator access: the AWS-managed ``AdministratorAccess`` policy, or an Allow whose action pattern
    matches every action in the IAM database (``*``, ``*:*``, ``?*``, ``NotAction``) on a resource pattern
    matching every resource (``*``, ``arn:aws:*``, ``NotResource``). What a plan read back into a role from
    the resources that set it (``aws_iam_role_policy``, policy attachments) is judged at those resources only
    (``lib.set_elsewhere``).
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure no IAM policy, role, attachment or policy document grants administrator access",
            id="CKV_PAY_027",
            categories=[CheckCategories.IAM],
            supported_resources=[*IDENTITY_POLICY_RESOURCES, *MANAGED_POLICY_ATTACHMENTS],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        arns = [arn for argument in MANAGED_POLICY_ARGUMENTS for arn in judged_strings(self, conf, argument)]
        if any(ADMIN_POLICY.search(arn.strip()) for arn in arns):
            return CheckResult.FAILED
        failed = unknown = False
        if self.entity_type in (*IDENTITY_POLICY_RESOURCES, POLICY_DOCUMENT):
            for document in identity_documents(conf, self.entity_type, self):
                failed |= document.malformed
                unknown |= document.unresolved
                failed |= any(
                    statement.allows
                    and any(matches_every_action(a) for a in statement.granted_actions)
                    and any(matches_every_resource(r) for r in statement.granted_resources)
                    for statement in document.statements
                )
        return verdict(failed, unknown)


check = IAMNoAdministratorAccess()
register_for_policy_documents(check)
