"""Ensure S3 bucket policies deny every request made without TLS (aws:SecureTransport false)."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import as_list, get, policy_statements


def denies_plain_http(statement: dict[str, Any]) -> bool:
    """A Deny for every principal on every S3 action when aws:SecureTransport is false."""
    condition = statement.get("Condition", {})
    secure = condition.get("Bool", {}).get("aws:SecureTransport") if isinstance(condition, dict) else None
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and as_list(principal.get("AWS")) == ["*"])
    actions = as_list(statement.get("Action"))
    return (
        statement.get("Effect") == "Deny"
        and str(secure).lower() == "false"
        and everyone
        and ("s3:*" in actions or "*" in actions)
    )


class S3PolicyDeniesInsecureTransport(BaseResourceCheck):
    """Ensure S3 bucket policies deny every request made without TLS (aws:SecureTransport false)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure S3 bucket policies deny requests made without TLS",
            id="CKV_PAY_038",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_s3_bucket_policy"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        statements = policy_statements(get(conf, "policy"))
        if statements is None:
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if any(denies_plain_http(s) for s in statements) else CheckResult.FAILED


check = S3PolicyDeniesInsecureTransport()
