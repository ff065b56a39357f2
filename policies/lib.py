"""Helpers shared by the pack's Python checks: reading Checkov's resource conf in both input kinds.

Checkov wraps every value in a list and leaves references unresolved: in ``terraform_json`` as
``${aws_kms_key.x.arn}``, in ``terraform_plan`` (values unknown until apply) as ``aws_kms_key.x.arn``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from checkov.common.models.enums import CheckResult

_REFERENCE = re.compile(
    r"^(?:\$\{)?(?:(?:data\.)?aws_[a-z0-9_]+\.[\w\-.\[\]\"*]+|(?:var|local|module)\.[\w\-.\[\]\"*]+)\}?$"
)
_INTERPOLATION = re.compile(r"\$\{([^}]+)\}")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$")
_LINES = {"start_line", "end_line"}  # position keys Checkov adds next to the tags in a plan
CMK_RESOURCES = ("aws_kms_key", "aws_kms_alias", "aws_kms_replica_key", "aws_kms_external_key")


def unwrap(value: Any) -> Any:
    """Checkov's ``[x]`` -> ``x`` (repeatedly); anything else unchanged."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def get(conf: Any, *path: str) -> Any:
    """The value at ``path`` below ``conf`` (lists of one unwrapped on the way), or None."""
    node = unwrap(conf)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = unwrap(node[key])
    return node


def is_reference(value: Any) -> bool:
    """True for a value that is (only) a reference to something resolved at apply time."""
    return isinstance(value, str) and bool(_REFERENCE.match(value.strip())) and not value.startswith("arn:")


def referenced_types(value: str) -> set[str]:
    """Resource types a reference (or a string with interpolations) points at."""
    found = {m.group(1).split(".")[0] for m in _INTERPOLATION.finditer(value)}
    if not found and is_reference(value):
        found = {value.removeprefix("${").split(".")[0]}
    return found


def customer_managed_key(value: Any) -> CheckResult:
    """PASSED for a reference to a KMS key resource or a key ARN; UNKNOWN for another reference; else FAILED."""
    value = unwrap(value)
    if not isinstance(value, str) or not value.strip():
        return CheckResult.FAILED
    if _KMS_KEY_ARN.match(value):
        return CheckResult.PASSED
    if is_reference(value) or "${" in value:
        types = referenced_types(value)
        if types & set(CMK_RESOURCES):
            return CheckResult.PASSED
        return CheckResult.UNKNOWN
    # alias/aws/<service> is the AWS-managed key, anything else literal is not provably customer-managed.
    return CheckResult.FAILED


def tags(conf: dict[str, Any]) -> dict[str, Any] | None:
    """The resource's tags (``tags`` merged over ``tags_all``); None when they are an unresolved reference."""
    merged: dict[str, Any] = {}
    for key in ("tags_all", "tags"):
        value = unwrap(conf.get(key))
        if isinstance(value, str) and is_reference(value):
            return None
        if isinstance(value, dict):
            merged.update({k: unwrap(v) for k, v in value.items() if not k.startswith("__") and k not in _LINES})
    return merged


def policy_statements(value: Any) -> list[dict[str, Any]] | None:
    """Statements of a policy document (JSON text or already parsed); None when it is unresolved."""
    value = unwrap(value)
    if isinstance(value, str):
        if is_reference(value):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    statements = unwrap(value.get("Statement", []))
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    """A statement's ``Action``/``Resource`` as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def allowed_statements(conf: Any) -> list[dict[str, Any]] | None:
    """The ``Allow`` statements of ``conf["policy"]`` with ``Action``/``Resource`` as lists; None if unresolved.

    ``NotAction``/``NotResource`` in an Allow grant everything but a list, so they count as ``*``.
    """
    statements = policy_statements(get(conf, "policy") if isinstance(conf, dict) else None)
    if statements is None:
        return None
    allowed = []
    for statement in statements:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = ["*"] if "NotAction" in statement else as_list(statement.get("Action"))
        resources = ["*"] if "NotResource" in statement else as_list(statement.get("Resource"))
        allowed.append({"Action": actions, "Resource": resources})
    return allowed


# Resources that carry an IAM policy document in their ``policy`` argument.
IAM_POLICY_RESOURCES = ["aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy"]
