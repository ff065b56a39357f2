"""Ensure S3 bucket policies deny every request made without TLS to the bucket and its objects."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import (
    as_list,
    get,
    iam_glob_covers_prefix,
    iam_glob_match,
    iam_glob_may_match_prefix,
    policy_document,
    set_elsewhere,
    unwrap,
)
from policies.stack import Reference, Stack, locate, template

# The condition that makes a Deny apply to plain HTTP, and nothing else. BoolIfExists denies the same requests
# (aws:SecureTransport is present in every request S3 authorizes), so it is accepted; any other condition key
# (a second key, s3:TlsVersion in the same statement, an IP or account condition) narrows the Deny.
SECURE_TRANSPORT = "aws:securetransport"
TLS_OPERATORS = ("Bool", "BoolIfExists")
_PARTITION = re.compile(r"^arn:aws(?:-[a-z]+(?:-[a-z]+)*)?:")


def conditions(statement: dict[str, Any]) -> list[tuple[str, str, list[Any]]] | None:
    """A statement's conditions as (operator, key, values); None when ``Condition`` is not an object of objects."""
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict):
        return None
    found = []
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            return None
        found += [(str(operator), str(key), as_list(values)) for key, values in keys.items()]
    return found


def denies_plain_http(statement: dict[str, Any]) -> bool:
    """A Deny for every principal and every S3 action whose only condition is aws:SecureTransport false."""
    if statement.get("Effect") != "Deny" or "NotPrincipal" in statement:
        return False
    principal = statement.get("Principal")
    if not (principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))):
        return False
    if "NotAction" in statement:
        excluded = [str(a).lower() for a in as_list(statement["NotAction"])]
        every_action = not any(iam_glob_may_match_prefix(a, "s3:") for a in excluded)
    else:
        every_action = any(iam_glob_covers_prefix(str(a).lower(), "s3:") for a in as_list(statement.get("Action")))
    found = conditions(statement)
    if not every_action or not found or len(found) != 1:
        return False
    operator, key, values = found[0]
    return (
        operator in TLS_OPERATORS and key.lower() == SECURE_TRANSPORT and any(str(v).lower() == "false" for v in values)
    )


def covers_bucket_and_objects(statements: list[dict[str, Any]], bucket: str, stack: Stack | None) -> bool:
    """True when the TLS-only Deny statements together cover ``arn:aws:s3:::<bucket>`` and every object in it.

    Resources are compared after resolving references (``${aws_s3_bucket.b.arn}/*``, ``arn:${partition}:s3:::
    ${aws_s3_bucket.b.id}``) and with IAM wildcards; ``NotResource`` covers what none of its patterns can match.
    """
    bucket_arn = f"arn:aws:s3:::{bucket}"
    objects = f"{bucket_arn}/"
    bucket_covered = objects_covered = False
    for statement in filter(denies_plain_http, statements):
        if "NotResource" in statement:
            excluded = [arn_text(r, stack) for r in as_list(statement["NotResource"])]
            bucket_covered |= not any(iam_glob_match(p, bucket_arn) for p in excluded)
            objects_covered |= not any(iam_glob_may_match_prefix(p, objects) for p in excluded)
        else:
            patterns = [arn_text(r, stack) for r in as_list(statement.get("Resource"))]
            bucket_covered |= any(iam_glob_match(p, bucket_arn) for p in patterns)
            objects_covered |= any(iam_glob_covers_prefix(p, objects) for p in patterns)
    return bucket_covered and objects_covered


def arn_text(value: Any, stack: Stack | None) -> str:
    """An ARN with its references resolved as far as the input allows and the partition written ``aws``."""
    return _PARTITION.sub("arn:aws:", resolve_text(str(unwrap(value)), stack))


def resolve_text(value: str, stack: Stack | None, depth: int = 0) -> str:
    """``value`` with each reference replaced by what it names: a bucket's ARN or name, the partition, a
    variable's value; a reference the input does not resolve becomes an opaque token that equals only itself."""
    return "".join(part if isinstance(part, str) else _reference_text(part, stack, depth) for part in template(value))


def _opaque(reference: Reference) -> str:
    return "⟨" + reference.text.replace("*", "✱").replace("?", "¿") + "⟩"


def _reference_text(reference: Reference, stack: Stack | None, depth: int) -> str:
    if stack is None or depth > 8 or not reference.block:
        return _opaque(reference)
    if reference.block.startswith(("var.", "local.")):
        known, value = stack.value(reference)
        return resolve_text(value, stack, depth + 1) if known and isinstance(value, str) else _opaque(reference)
    if reference.block.startswith("data.aws_partition."):
        return "aws"
    if reference.block.startswith(("aws_s3_bucket.", "data.aws_s3_bucket.")):
        name = bucket_name(reference.block, stack, depth + 1)
        if reference.attribute == "arn":
            return f"arn:aws:s3:::{name}"
        if reference.attribute in ("id", "bucket"):
            return name
    return _opaque(reference)


def bucket_name(address: str, stack: Stack | None, depth: int = 0) -> str:
    """The name of the bucket an ``aws_s3_bucket`` (or its data source) declares, or an opaque token for it."""
    block = stack.block(address) if stack is not None else None
    name = unwrap(block.get("bucket")) if block else None
    if isinstance(name, str) and name:
        return resolve_text(name, stack, depth)
    return _opaque(Reference(address, None, address))


class S3PolicyDeniesInsecureTransport(BaseResourceCheck):
    """Ensure S3 bucket policies deny every request made without TLS, on the bucket and its objects."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure S3 bucket policies deny requests made without TLS to the bucket and its objects",
            id="CKV_PAY_038",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_s3_bucket_policy", "aws_s3_bucket"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        in_plan = "__address__" in conf
        policy = get(conf, "policy")
        if policy is None or set_elsewhere(self, conf, "policy").whole:
            # a bucket without an inline policy, or a plan's read-back of its aws_s3_bucket_policy: that is checked
            return CheckResult.UNKNOWN
        located = locate(self, conf)
        stack, address = located if located else (None, "")
        statements = policy_document(policy, stack)
        own = stack.block(address) if stack is not None else None
        if statements is None and own is not None:
            # a plan holds a policy known only after apply as a reference; its expression is in the configuration
            statements = policy_document(own.get("policy"), stack)
        if statements is None:
            # unreadable here: a plan defers to the synthesized JSON, which must show the Deny (not pass silently)
            return CheckResult.UNKNOWN if in_plan else CheckResult.FAILED
        if self.entity_path.rsplit(":", 2)[-2] == "aws_s3_bucket":  # an inline policy names its own bucket
            own_name = get(conf, "bucket")
            bucket = resolve_text(own_name, stack) if isinstance(own_name, str) else bucket_name(address, stack)
        else:
            bucket = resolve_text(str(get(conf, "bucket")), stack)
        return CheckResult.PASSED if covers_bucket_and_objects(statements, bucket, stack) else CheckResult.FAILED


check = S3PolicyDeniesInsecureTransport()
