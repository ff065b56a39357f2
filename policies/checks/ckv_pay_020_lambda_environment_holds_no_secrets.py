"""Ensure Lambda environment variables hold no secret- or PAN-looking literals."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference, unwrap

SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|PRIVATE_KEY|API_KEY|ACCESS_KEY|TOKEN|CREDENTIAL)", re.IGNORECASE)
AWS_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
PAN_CANDIDATE = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def luhn(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum (as every card number does)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class LambdaEnvironmentHoldsNoSecrets(BaseResourceCheck):
    """Ensure Lambda environment variables hold no secret- or PAN-looking literals."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda environment variables hold no secret- or PAN-looking literals",
            id="CKV_PAY_020",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        variables = get(conf, "environment", "variables")
        if not isinstance(variables, dict):
            return CheckResult.PASSED
        for name, raw in variables.items():
            value = unwrap(raw)
            if name.startswith("__") or not isinstance(value, str) or is_reference(value) or "${" in value:
                continue
            if SECRET_NAME.search(name) and value:
                return CheckResult.FAILED
            if AWS_ACCESS_KEY.search(value) or any(luhn(m) for m in PAN_CANDIDATE.findall(value)):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = LambdaEnvironmentHoldsNoSecrets()
