"""Ensure resource-based policies admit no principal outside this account unless a condition pins it."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    RESOURCE_POLICY_RESOURCES,
    caller_unresolved,
    own_accounts,
    register_for_policy_documents,
    resource_policy_documents,
    statement_exposure,
    verdict,
)


class ResourcePolicyNotOpenOutsideAccount(BaseResourceCheck):
    """Ensure resource-based policies admit no principal outside this account unless a condition pins it.

    Outside: ``*``, ``{"AWS": "*"}``, ``NotPrincipal``, another account (id or ARN, also inside a list), a
    service principal (it acts for every account's resources; accepted in ``sts:AssumeRole`` trust
    statements) or a ``Federated`` provider's users. Pinned: a positive condition on
    ``aws:SourceArn``/``aws:SourceAccount``/``aws:SourceOwner``/``aws:PrincipalAccount``/``aws:PrincipalArn``/
    ``aws:PrincipalOrgID``/``kms:CallerAccount``/``kms:EncryptionContext:aws:logs:arn`` naming this account or a
    named source, or on a federation ``…:aud``/``…:sub`` naming one audience or subject, without a wildcard.
    Covers key, queue, topic, bucket, API, table, secret, log and trust policies (inline or as separate
    resources), Lambda permissions, KMS grants and the statements with a principal of
    ``data "aws_iam_policy_document"``. Deny statements never fail.

    In a plan, references arrive as literals: an account id equal to the resource's own account (its ARN, or
    that of the resource it attaches a policy to, for an existing resource) or to the caller identity its
    configuration references is this account (``lib.own_accounts``); any other literal account is outside, and
    UNKNOWN only while the plan does not show the caller identity it references (``lib.caller_unresolved``).
    A plan's read-back of a policy another resource sets (a topic's ``aws_sns_topic_policy``) is judged at
    that resource (``lib.set_elsewhere``).
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure resource-based policies admit no principal outside this account unless a condition pins it",
            id="CKV_PAY_041",
            categories=[CheckCategories.IAM],
            supported_resources=RESOURCE_POLICY_RESOURCES,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        in_plan_from_caller = caller_unresolved(self, conf)
        own = own_accounts(self, conf)
        failed = unknown = False
        for document in resource_policy_documents(conf, self.entity_type, self):
            failed |= document.malformed
            unknown |= document.unresolved
            exposures = {statement_exposure(s, in_plan_from_caller, own) for s in document.statements}
            failed |= "open" in exposures
            unknown |= "unknown" in exposures
        return verdict(failed, unknown)


check = ResourcePolicyNotOpenOutsideAccount()
register_for_policy_documents(check)
