"""Ensure IAM identities get managed policies only from this stack or the AWS-managed allow-list."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    MANAGED_POLICY_ATTACHMENTS,
    is_input_reference,
    is_reference,
    judged_strings,
    stack_arns,
    verdict,
)

# AWS-managed policies a workload may hold: only those whose every statement would pass this pack's own
# least-privilege checks (named actions; "*" only for actions without resource ARNs). An allow-list, not a
# deny-list of *FullAccess/AdministratorAccess/PowerUserAccess names: ReadOnlyAccess or
# AmazonDynamoDBReadOnlyAccess read every table and bucket of the account (cardholder data included), and AWS
# adds managed policies every month; a list of what is allowed fails closed. Name (with path) -> why.
ALLOWED_AWS_MANAGED_POLICIES = {
    "AWSXRayDaemonWriteAccess": "X-Ray trace upload and sampling rules; these actions have no resource ARNs",
}
AWS_MANAGED_POLICY = re.compile(r"^arn:[^:]+:iam::aws:policy/(?P<name>.+)$")
_INTERPOLATION = re.compile(r"\$\{[^}]+\}")
ARGUMENTS = ("managed_policy_arns", "policy_arn", "policy_arns", "managed_policy_arn")


def policy_arn_verdict(arn: str, stack_policies: frozenset[str] = frozenset()) -> str:
    """``allowed``, ``refused`` or ``unknown`` for one attached policy ARN.

    Allowed: an ``aws_iam_policy`` this stack declares (its document is checked by CKV_PAY_025-027; in a plan
    made against state its reference arrives as the literal ARN, one of ``stack_policies``), or an
    allow-listed AWS-managed policy. Refused: any other AWS-managed policy, a customer-managed policy written
    as a literal ARN, or one looked up with ``data "aws_iam_policy"``: the gate cannot read what it grants.
    Unknown: a Terraform input (``var``/``local``) that only the plan resolves.
    """
    text = arn.strip()
    if text in stack_policies:
        return "allowed"
    if is_reference(text):
        reference = text.removeprefix("${")
        if is_input_reference(reference):
            return "unknown"
        return "allowed" if reference.startswith("aws_iam_policy.") else "refused"
    managed = AWS_MANAGED_POLICY.match(_INTERPOLATION.sub("partition", text))
    if managed:
        return "allowed" if managed.group("name") in ALLOWED_AWS_MANAGED_POLICIES else "refused"
    return "unknown" if any(is_input_reference(r[2:-1]) for r in _INTERPOLATION.findall(text)) else "refused"


class IAMManagedPoliciesAllowListed(BaseResourceCheck):
    """Ensure IAM identities get managed policies only from this stack or the AWS-managed allow-list.

    A role's ``managed_policy_arns`` that a plan read back from policy attachments is judged at the
    attachments only (``lib.set_elsewhere``).
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure IAM identities get managed policies only from this stack or the AWS-managed allow-list",
            id="CKV_PAY_040",
            categories=[CheckCategories.IAM],
            # IAM Identity Center permission sets become roles in member accounts.
            supported_resources=[
                "aws_iam_role",
                *MANAGED_POLICY_ATTACHMENTS,
                "aws_ssoadmin_customer_managed_policy_attachment",
            ],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if self.entity_type == "aws_ssoadmin_customer_managed_policy_attachment":
            return CheckResult.FAILED  # a policy by name in each member account: the gate cannot read it
        arns = [arn for argument in ARGUMENTS for arn in judged_strings(self, conf, argument)]
        stack_policies = stack_arns(self, conf, "aws_iam_policy") if arns else frozenset()
        verdicts = {policy_arn_verdict(arn, stack_policies) for arn in arns}
        return verdict("refused" in verdicts, "unknown" in verdicts)


check = IAMManagedPoliciesAllowListed()
