"""Ensure subscriptions of SNS topics carrying payment data use only encrypted, authenticated delivery."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import default_tags, get, tags, unwrap
from policies.stack import Reference, Stack, locate, template

# Delivery inside AWS over TLS to a principal IAM authorizes. Not http (plaintext), email/email-json/sms (end-user
# messaging: plaintext, unauthenticated recipients), application (mobile push relayed and stored by Apple/Google).
AWS_PROTOCOLS = ("sqs", "lambda", "firehose")
# A topic carries payment data unless its DataClassification (CKV_PAY_028's tag, provider default_tags included)
# says it does not; a topic whose classification the pack cannot read counts as carrying it.
NOT_PAYMENT_DATA = ("public", "internal")
SIGNATURE_VERSION_SHA256 = "2"


def topic_of(topic_arn: Any, stack: Stack | None) -> str | None:
    """The module-relative address of the ``aws_sns_topic`` a subscription's ``topic_arn`` names, or None.

    ``${aws_sns_topic.t.arn}`` (or ``.id``, which is the ARN); a literal ARN or ``data.aws_sns_topic`` whose
    topic name is a topic of the stack.
    """
    value = unwrap(topic_arn)
    if not isinstance(value, str) or stack is None:
        return None
    parts = template(value)
    if len(parts) == 1 and isinstance(parts[0], Reference):
        reference = parts[0]
        if reference.block.startswith("aws_sns_topic.") and reference.attribute in ("arn", "id"):
            return reference.block if stack.block(reference.block) is not None else None
        data = stack.block(reference.block) if reference.block.startswith("data.aws_sns_topic.") else None
        return _topic_named(unwrap(data.get("name")), stack) if data else None
    if value.startswith("arn:") and ":sns:" in value:
        return _topic_named(value.rsplit(":", 1)[-1], stack)
    return None


def _topic_named(name: Any, stack: Stack) -> str | None:
    for address, block in stack.blocks.items():
        if address.startswith("aws_sns_topic.") and isinstance(name, str) and unwrap(block.get("name")) == name:
            return address
    return None


def carries_payment_data(topic: str | None, stack: Stack | None) -> bool:
    """False only for a topic of the stack whose effective DataClassification is public or internal."""
    block = stack.block(topic) if stack is not None and topic else None
    if block is None:
        return True
    defaults = default_tags(stack, topic) if topic else None
    found = tags(dict(block), defaults) if defaults is not None else None
    classification = found.get("DataClassification") if found else None
    return not (isinstance(classification, str) and classification.lower() in NOT_PAYMENT_DATA)


def https_authenticated(endpoint: Any, topic: str | None, stack: Stack | None) -> bool:
    """An ``https://`` URL without credentials in it, from a topic that signs with SHA256 (SignatureVersion 2).

    The subscriber authenticates SNS by the message signature; version 1 signs with SHA1, not strong
    cryptography (PCI DSS 4.2.1). Basic-auth credentials in the URL would be a secret in the configuration.
    """
    url = unwrap(endpoint)
    if not isinstance(url, str) or "${" in url:
        return False
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname or parts.username or parts.password:
        return False
    block = stack.block(topic) if stack is not None and topic else None
    return block is not None and str(unwrap(block.get("signature_version"))) == SIGNATURE_VERSION_SHA256


class SNSSubscriptionEncryptedDelivery(BaseResourceCheck):
    """Ensure subscriptions of SNS topics carrying payment data use only encrypted, authenticated delivery."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure subscriptions of SNS topics carrying payment data use encrypted, authenticated delivery",
            id="CKV_PAY_050",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_sns_topic_subscription"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        located = locate(self, conf)
        stack = located[0] if located else None
        topic = topic_of(get(conf, "topic_arn"), stack)
        if not carries_payment_data(topic, stack):
            return CheckResult.PASSED
        protocol = get(conf, "protocol")
        protocol = protocol.lower() if isinstance(protocol, str) else None
        if protocol in AWS_PROTOCOLS:
            return CheckResult.PASSED
        if protocol == "https" and https_authenticated(get(conf, "endpoint"), topic, stack):
            return CheckResult.PASSED
        return CheckResult.FAILED


check = SNSSubscriptionEncryptedDelivery()
