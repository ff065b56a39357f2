"""Helpers shared by the pack's Python checks: reading Checkov's resource conf in both input kinds.

Checkov wraps every value in a list and leaves references unresolved: in ``terraform_json`` as
``${aws_kms_key.x.arn}``, in ``terraform_plan`` (values unknown until apply) as ``aws_kms_key.x.arn``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from checkov.common.models.enums import CheckResult

from policies.stack import Reference, Stack, locate, template

_REFERENCE = re.compile(
    r"^(?:\$\{)?(?:(?:data\.)?aws_[a-z0-9_]+\.[\w\-.\[\]\"*]+|(?:var|local|module)\.[\w\-.\[\]\"*]+)\}?$"
)
_INTERPOLATION = re.compile(r"\$\{([^}]+)\}")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(?:mrk-)?[0-9a-f-]+$")
# A key ARN whose partition, region or account are interpolated (``arn:${...}:kms:${...}:${...}:key/<id>``).
_KMS_KEY_ARN_TEMPLATE = re.compile(r"^arn:[^:]*:kms:[^:]*:[^:]*:key/(?:mrk-)?[0-9a-f-]+$")
# An alias name or alias ARN; AWS reserves ``alias/aws/`` for AWS-managed keys, so any other alias is a customer's.
_KMS_ALIAS = re.compile(r"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:)?alias/[\w/+=,.@-]+$")
_LINES = {"start_line", "end_line"}  # position keys Checkov adds next to the tags in a plan
CMK_RESOURCES = (
    "aws_kms_key",
    "aws_kms_alias",
    "aws_kms_replica_key",
    "aws_kms_external_key",
    "aws_kms_replica_external_key",
)


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


def customer_managed_key(value: Any, stack: Stack | None = None) -> CheckResult:
    """PASSED when ``value`` is shown to name a customer-managed KMS key (:func:`key_manager`), else FAILED.

    A key the pack cannot trace (an unresolvable data source, variable or other resource's attribute) fails
    too: Checkov drops UNKNOWN from its report, so an UNKNOWN here would pass the gate silently. Accept such a
    key knowingly with a waiver (policies/waivers.yaml), or reference the stack's ``aws_kms_key``.
    """
    return CheckResult.PASSED if key_manager(value, stack) == CUSTOMER_MANAGED else CheckResult.FAILED


# --- KMS keys: customer-managed or AWS-managed, following references through the input --------------------------

CUSTOMER_MANAGED = "CUSTOMER"
AWS_MANAGED = "AWS"
NO_KEY = "NONE"
UNRESOLVED = "UNRESOLVED"
_MAX_DEPTH = 8  # references followed before giving up (a cycle, or a chain the pack will not prove)


def key_manager(value: Any, stack: Stack | None = None, depth: int = 0) -> str:
    """Who manages the KMS key ``value`` names: CUSTOMER_MANAGED, AWS_MANAGED, NO_KEY or UNRESOLVED.

    ``value``: a key ARN, key id, alias name or alias ARN, literal or a reference (``${...}``, or a plan's
    bare ``aws_kms_key.k.arn``). ``alias/aws/*`` names AWS-managed keys; AWS reserves that prefix, so any other
    alias is a customer's (AWS KMS developer guide, "Aliases in AWS KMS"). References are followed through
    ``stack``: ``aws_kms_key``/``aws_kms_alias``/replica/external keys are customer-managed;
    ``data.aws_kms_alias`` by its ``name``; ``data.aws_kms_key`` by the ``key_manager`` a plan read or its
    ``key_id``; variables and locals by their values. In a plan a literal ARN a KMS data source resolved to is
    decided by that data source (``Stack.known_keys``). A bare key id, or anything else, is UNRESOLVED.
    """
    value = unwrap(value)
    if not isinstance(value, str) or not value.strip():
        return NO_KEY
    if stack is not None and value in stack.known_keys:
        return stack.known_keys[value]
    parts = template(value)
    literal = "".join(p for p in parts if isinstance(p, str))
    if "alias/aws/" in literal:
        return AWS_MANAGED
    references = [p for p in parts if isinstance(p, Reference)]
    if not references:
        return CUSTOMER_MANAGED if _KMS_KEY_ARN.match(value) or _KMS_ALIAS.match(value) else UNRESOLVED
    verdicts = [_reference_key_manager(r, stack, depth + 1) for r in references]
    if AWS_MANAGED in verdicts:
        return AWS_MANAGED
    skeleton = "".join(p if isinstance(p, str) else "x" for p in parts)
    if CUSTOMER_MANAGED in verdicts or _KMS_KEY_ARN_TEMPLATE.match(skeleton):
        return CUSTOMER_MANAGED
    return UNRESOLVED


def _reference_key_manager(reference: Reference, stack: Stack | None, depth: int) -> str:
    if depth > _MAX_DEPTH or not reference.block:
        return UNRESOLVED
    if reference.block.split(".")[0] in CMK_RESOURCES:
        return CUSTOMER_MANAGED  # aliases can only be created for customer-managed keys
    if stack is None:
        return UNRESOLVED
    if reference.block.startswith(("var.", "local.")):
        known, value = stack.value(reference)
        return key_manager(value, stack, depth) if known else UNRESOLVED
    block = stack.block(reference.block)
    if block is None:
        return UNRESOLVED
    if reference.block.startswith("data.aws_kms_alias."):
        return key_manager(block.get("name"), stack, depth)
    if reference.block.startswith("data.aws_kms_key."):
        manager = unwrap(block.get("key_manager"))
        if manager in (AWS_MANAGED, CUSTOMER_MANAGED):
            return str(manager)
        return key_manager(block.get("key_id"), stack, depth)
    return UNRESOLVED


def checked_key(check: Any, conf: dict[str, Any], value: Any) -> CheckResult:
    """:func:`customer_managed_key` of ``value``, following references through the input of ``conf``."""
    located = locate(check, conf)
    return customer_managed_key(value, located[0] if located else None)


# --- Tags: the provider's default_tags under the resource's own ---------------------------------------------------


def default_tags(stack: Stack | None, address: str) -> dict[str, Any] | None:
    """The ``default_tags`` of the provider configuration the resource at ``address`` uses (its ``provider``
    alias, else the default one): ``{}`` when there are none, None when they are an unresolved reference."""
    provider = stack.provider_of(address) if stack is not None else None
    if not provider:
        return {}
    block = unwrap(provider.get("default_tags"))
    value = unwrap(block.get("tags")) if isinstance(block, dict) else None
    if isinstance(value, str) and stack is not None:
        resolved = [stack.value(p) for p in template(value) if isinstance(p, Reference)]
        value = resolved[0][1] if len(resolved) == 1 and resolved[0][0] else None
        return dict(value) if isinstance(value, dict) else None
    return dict(value) if isinstance(value, dict) else {}


def resource_tags(check: Any, conf: dict[str, Any]) -> dict[str, Any] | None:
    """The tags the resource gets: its provider's ``default_tags`` merged under its own (see :func:`tags`).

    In a plan the provider has already merged them into ``tags_all``; in ``terraform_json`` the provider block
    is read from the input (``policies.stack``).
    """
    located = locate(check, conf)
    defaults = default_tags(*located) if located else {}
    return None if defaults is None else tags(conf, defaults)


# --- IAM wildcards (``*`` any run of characters, ``?`` one), as sets of strings -----------------------------------


def _glob_states(pattern: str, text: str) -> set[int]:
    """Positions in ``pattern`` reachable after matching all of ``text`` (a small NFA: no regex, no backtracking)."""

    def closure(states: set[int]) -> set[int]:
        found = set(states)
        for state in sorted(states):
            while state < len(pattern) and pattern[state] == "*":
                state += 1
                found.add(state)
        return found

    states = closure({0})
    for char in text:
        following = set()
        for state in states:
            if state < len(pattern):
                if pattern[state] == "*":
                    following.add(state)
                elif pattern[state] in ("?", char):
                    following.add(state + 1)
        states = closure(following)
        if not states:
            break
    return states


def iam_glob_match(pattern: str, text: str) -> bool:
    """True when the IAM wildcard ``pattern`` matches all of ``text`` (case-sensitive, as for ARNs)."""
    return len(pattern) in _glob_states(pattern, text)


def iam_glob_covers_prefix(pattern: str, prefix: str) -> bool:
    """True when ``pattern`` matches every ``prefix + x`` for any non-empty ``x`` (``s3:*`` covers ``s3:``;
    ``arn:aws:s3:::b/*`` covers ``arn:aws:s3:::b/``, all the bucket's objects)."""
    for state in _glob_states(pattern, prefix):
        rest = pattern[state:]
        if rest and set(rest) <= {"*", "?"} and "*" in rest and rest.count("?") <= 1:
            return True
    return False


def iam_glob_may_match_prefix(pattern: str, prefix: str) -> bool:
    """True when ``pattern`` matches at least one ``prefix + x`` with a non-empty ``x``."""
    return any(state < len(pattern) for state in _glob_states(pattern, prefix))


# --- Policy documents: JSON text or an aws_iam_policy_document data source ----------------------------------------


def policy_document(value: Any, stack: Stack | None, depth: int = 0) -> list[dict[str, Any]] | None:
    """The statements of a policy (IAM JSON shape), or None when the pack cannot read it.

    ``value``: JSON text (interpolations inside stay as text), a parsed document, a variable or local holding
    one, or ``${data.aws_iam_policy_document.x.json}`` (the JSON a plan read, else its ``statement`` blocks
    with ``source_policy_documents`` first and ``override_policy_documents`` last, merged by ``sid`` as the
    AWS provider does). A ``jsonencode(...)`` expression is not read.
    """
    value = unwrap(value)
    parts = template(value) if isinstance(value, str) else []
    if len(parts) != 1 or not isinstance(parts[0], Reference):
        return policy_statements(value)
    reference = parts[0]
    if stack is None or depth > _MAX_DEPTH:
        return None
    if reference.block.startswith(("var.", "local.")):
        known, held = stack.value(reference)
        return policy_document(held, stack, depth + 1) if known else None
    block = stack.block(reference.block)
    if block is None or not reference.block.startswith("data.aws_iam_policy_document."):
        return None
    read = unwrap(block.get("json"))
    if isinstance(read, str) and "{" in read:
        return policy_statements(read)
    return _document_statements(block, stack, depth)


def _document_statements(block: Mapping[str, Any], stack: Stack, depth: int) -> list[dict[str, Any]] | None:
    merged: list[dict[str, Any]] = []

    def merge(statements: list[dict[str, Any]]) -> None:
        for statement in statements:
            sid = statement.get("Sid")
            same = [i for i, s in enumerate(merged) if sid and s.get("Sid") == sid]
            if same:
                merged[same[0]] = statement
            else:
                merged.append(statement)

    for source in as_list(unwrap(block.get("source_policy_documents"))):
        statements = policy_document(source, stack, depth + 1)
        if statements is None:
            return None
        merge(statements)
    merge([_statement(s) for s in _blocks(block.get("statement"))])
    for override in as_list(unwrap(block.get("override_policy_documents"))):
        statements = policy_document(override, stack, depth + 1)
        if statements is None:
            return None
        merge(statements)
    return merged


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Nested blocks (``statement``, ``principals``, ``condition``) as a list of dicts, whatever the wrapping."""
    value = value if isinstance(value, list) else [value]
    found: list[dict[str, Any]] = []
    for item in value:
        item = unwrap(item)
        if isinstance(item, dict):
            found.append(item)
        elif isinstance(item, list):
            found += _blocks(item)
    return found


def _statement(block: dict[str, Any]) -> dict[str, Any]:
    """One ``statement`` block of aws_iam_policy_document in IAM JSON shape."""
    statement: dict[str, Any] = {"Effect": unwrap(block.get("effect")) or "Allow"}
    if unwrap(block.get("sid")):
        statement["Sid"] = unwrap(block.get("sid"))
    for name, key in (("actions", "Action"), ("not_actions", "NotAction")):
        if block.get(name) is not None:
            statement[key] = _strings(block[name])
    for name, key in (("resources", "Resource"), ("not_resources", "NotResource")):
        if block.get(name) is not None:
            statement[key] = _strings(block[name])
    for name, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        principals: dict[str, list[str]] = {}
        for principal in _blocks(block.get(name)):
            principals.setdefault(str(unwrap(principal.get("type"))), []).extend(_strings(principal.get("identifiers")))
        if principals:
            statement[key] = "*" if principals == {"*": ["*"]} else principals
    conditions: dict[str, dict[str, list[str]]] = {}
    for condition in _blocks(block.get("condition")):
        operator, variable = str(unwrap(condition.get("test"))), str(unwrap(condition.get("variable")))
        keys = conditions.setdefault(operator, {})
        # a repeated test + variable is a second condition that must also hold: keep both, under distinct keys
        keys[variable if variable not in keys else f"{variable}#{len(keys)}"] = _strings(condition.get("values"))
    if conditions:
        statement["Condition"] = conditions
    return statement


def _strings(value: Any) -> list[str]:
    flat: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, list):
            flat += _strings(item)
        elif item is not None:
            flat.append(item if isinstance(item, str) else json.dumps(item))
    return flat


def tags(conf: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The resource's tags: ``defaults`` (its provider's default_tags), then ``tags_all``, then ``tags`` (the
    resource's own value wins); None when they are an unresolved reference."""
    merged: dict[str, Any] = dict(defaults or {})
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
