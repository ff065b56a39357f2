"""Ensure every Lambda function has a code-signing config that enforces its allowed publishers."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference, unwrap
from policies.stack import Stack, locate, parse_reference, template

CODE_SIGNING_CONFIG = "aws_lambda_code_signing_config"
ENFORCE = "Enforce"


def code_signing_config(stack: Stack, address: str, value: Any) -> Any:
    """The ``aws_lambda_code_signing_config`` block the function at ``address`` names, or None.

    Found through the configuration's reference (``${aws_lambda_code_signing_config.c.arn}``; in a plan the
    ``configuration`` keeps it even when the value is known from state), else, for a literal ARN, the stack's
    config whose known ``arn`` it is. None (cannot be shown to enforce anything) for a config outside the input and
    for an expression that could name more than one thing: a conditional or a variable among its references
    (``var.strict ? …enforce.arn : …warn.arn``), or text around the reference.
    """
    references = stack.references(address, "code_signing_config_arn")
    if references:
        blocks = {parse_reference(text).block for text in references}
        if len(blocks) != 1 or not next(iter(blocks)).startswith(f"{CODE_SIGNING_CONFIG}."):
            return None
        (block_address,) = blocks
        if isinstance(value, str) and value.startswith("arn:"):
            if value != unwrap((stack.block(block_address) or {}).get("arn")):
                return None  # a value read from state that is not this config's
        elif (
            isinstance(value, str)
            and not is_reference(value)
            and any(isinstance(part, str) and part for part in template(value))
        ):
            return None  # text around the reference
        return stack.block(block_address)
    if isinstance(value, str) and value.startswith("arn:"):
        for block_address, block in stack.blocks.items():
            if block_address.startswith(f"{CODE_SIGNING_CONFIG}.") and unwrap(block.get("arn")) == value:
                return block
    return None


def enforces(config: Any) -> bool:
    """Untrusted artifacts ``Enforce`` (the API's default is ``Warn``) and at least one allowed profile version."""
    publishers = unwrap(get(config, "allowed_publishers", "signing_profile_version_arns"))
    publishers = publishers if isinstance(publishers, list) else [publishers] if publishers else []
    return get(config, "policies", "untrusted_artifact_on_deployment") == ENFORCE and any(publishers)


class LambdaCodeSigningEnforced(BaseResourceCheck):
    """Ensure every Lambda function has a code-signing config whose untrusted-artifact policy is ``Enforce``.

    Without ``Enforce`` Lambda only logs a warning and deploys unsigned or tampered code (AWS Lambda developer
    guide, "Configuring code signing for Lambda"). A config the pack cannot trace to the input (a literal ARN of
    another stack) fails: accept it with a waiver that says where that config is enforced.
    """

    def __init__(self) -> None:
        super().__init__(
            name="Ensure every Lambda function has a code-signing config that enforces signed code",
            id="CKV_PAY_043",
            categories=[CheckCategories.SUPPLY_CHAIN],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        value = unwrap(conf.get("code_signing_config_arn"))
        if not value:
            return CheckResult.FAILED
        located = locate(self, conf)
        if located is None:
            return CheckResult.FAILED
        config = code_signing_config(*located, value)
        return CheckResult.PASSED if config is not None and enforces(config) else CheckResult.FAILED


check = LambdaCodeSigningEnforced()
