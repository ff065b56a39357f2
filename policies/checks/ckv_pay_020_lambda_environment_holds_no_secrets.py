"""Ensure Lambda environment variables hold no secrets and no card numbers."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.filters import heuristic
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.keyword import KeywordDetector

from lambdas.shared.pan import contains_pan, number_holds_pan
from policies.lib import get, is_reference, unwrap

_INTERPOLATION = re.compile(r"\$\{[^}]*\}")

# Every credential format detect-secrets ships (Stripe, AWS, private keys, GitHub, Slack, JWT, Basic-auth
# URLs, Twilio, SendGrid, npm, …): each plugin matches one documented token format, so a match is a secret.
# Its entropy plugins are left out (ARNs and hashes would trip them).
SECRET_FORMATS: tuple[BasePlugin, ...] = tuple(
    plugin()
    for _, plugin in sorted(get_mapping_from_secret_type_to_class().items())
    if issubclass(plugin, RegexBasedDetector)
)
# A secret-sounding variable name (password, token, secret, api_key, …) with a literal value.
SECRET_NAMES = KeywordDetector()


def _keyword_secret(line: str, secret: str) -> bool:
    """detect-secrets' default false-positive filters for a keyword hit, and ARNs (a reference to a secret)."""
    return not (
        heuristic.is_sequential_string(secret)
        or heuristic.is_potential_uuid(secret)
        or heuristic.is_likely_id_string(secret, line, SECRET_NAMES)
        or heuristic.is_templated_secret(secret)
        or heuristic.is_prefixed_with_dollar_sign(secret)
        or heuristic.is_indirect_reference(line)
        or heuristic.is_not_alphanumeric_string(secret)
        or heuristic.is_aws_arn(secret)
    )


def holds_secret(name: str, value: str) -> bool:
    """Whether the variable ``name=value`` holds a credential (detect-secrets) or a card number (lambdas.shared.pan)."""
    if contains_pan(name) or contains_pan(value):
        return True
    line = f'{name} = "{value}"'
    if any(next(iter(plugin.analyze_string(line)), None) for plugin in SECRET_FORMATS):
        return True
    return any(_keyword_secret(line, secret) for secret in SECRET_NAMES.analyze_string(line))


class LambdaEnvironmentHoldsNoSecrets(BaseResourceCheck):
    """Ensure Lambda environment variables hold no secrets and no card numbers."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda environment variables hold no secrets and no card numbers",
            id="CKV_PAY_020",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        variables = get(conf, "environment", "variables")
        if isinstance(variables, str) and (is_reference(variables) or "${" in variables):
            return CheckResult.UNKNOWN
        if not isinstance(variables, dict):
            return CheckResult.PASSED
        for index, (name, raw) in enumerate(sorted(variables.items())):
            value = unwrap(raw)
            if name.startswith("__") or name in ("start_line", "end_line"):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                found = number_holds_pan(value)
            elif isinstance(value, str) and not is_reference(value):
                # Interpolations are resolved at apply time; the literal text around them is scanned.
                found = holds_secret(name, _INTERPOLATION.sub(" ", value))
            else:
                continue
            if found:
                self.evaluated_keys = [f"environment/[0]/variables/[0]/{name}"]
                conf[f"{self.id}_secret_{index}"] = value  # Checkov masks it in its own output
                return CheckResult.FAILED
        return CheckResult.PASSED


check = LambdaEnvironmentHoldsNoSecrets()
