"""What a saved plan would do, in words people review: counts by action, and every stateful loss called out.

Input is ``terraform show -json <planfile>`` (the plan representation, `format_version` 1.x:
https://developer.hashicorp.com/terraform/internals/json-format#plan-representation): each entry of
``resource_changes`` has ``address``, ``type`` and ``change.actions``, one of ``["no-op"]``,
``["create"]``, ``["read"]``, ``["update"]``, ``["delete"]``, ``["delete", "create"]`` or
``["create", "delete"]`` (the last two: replace). A replace or destroy of a resource that holds data
(tables, buckets, keys, queues, log groups, topics) loses that data or its audit trail (PCI DSS v4.0.1
10.5.1 keeps logs 12 months; 3.5.1 keeps keys that protect stored data), so each one must be named in
``ALLOW_REPLACE`` on top of the plan's approval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import PipelineError

# Resource types whose replace or destroy loses data, keys or an audit trail.
STATEFUL_TYPES = {
    "aws_dynamodb_table": "table",
    "aws_s3_bucket": "bucket",
    "aws_kms_key": "key",
    "aws_sqs_queue": "queue",
    "aws_cloudwatch_log_group": "log group",
    "aws_sns_topic": "topic",
}
ACTIONS = ("create", "update", "replace", "delete", "read", "no-op")


@dataclass(frozen=True)
class Change:
    """One resource's planned change: Terraform address, resource type, action (one of ``ACTIONS``)."""

    address: str
    type: str
    action: str

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES and self.action in ("replace", "delete")


@dataclass(frozen=True)
class PlanReview:
    """The counts per action and the stateful replaces/destroys of one plan."""

    counts: Mapping[str, int]
    changes: tuple[Change, ...]

    @property
    def stateful(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.stateful)

    @property
    def changes_anything(self) -> bool:
        return any(self.counts.get(a, 0) for a in ("create", "update", "replace", "delete"))

    def unapproved(self, allow_replace: Iterable[str]) -> tuple[Change, ...]:
        """Stateful replaces/destroys whose address is not in ``allow_replace``."""
        allowed = set(allow_replace)
        return tuple(c for c in self.stateful if c.address not in allowed)


def _action(actions: list[str]) -> str:
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if len(actions) == 1 and actions[0] in ACTIONS:
        return actions[0]
    raise PipelineError(f"the plan holds an action terraform does not document: {actions}")


def review(plan: Mapping[str, Any]) -> PlanReview:
    """Review a plan JSON document; raises ``PipelineError`` when it is not one."""
    if "resource_changes" not in plan and "planned_values" not in plan:
        raise PipelineError("not a terraform plan JSON document (no resource_changes): `terraform show -json tfplan`")
    changes = []
    for entry in plan.get("resource_changes") or []:
        actions = entry.get("change", {}).get("actions")
        if entry.get("mode") == "data" or not isinstance(actions, list):
            continue
        changes.append(Change(str(entry["address"]), str(entry["type"]), _action(actions)))
    counts = Counter(c.action for c in changes)
    return PlanReview({a: counts.get(a, 0) for a in ACTIONS}, tuple(changes))


def render(found: PlanReview, allow_replace: Iterable[str] = ()) -> str:
    """The change summary: one line of counts, then each stateful replace/destroy and whether it is allowed."""
    allowed = set(allow_replace)
    counts = found.counts
    lines = [
        f"plan: {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to destroy ({counts['no-op']} unchanged)"
    ]
    for change in found.stateful:
        state = "allowed by ALLOW_REPLACE" if change.address in allowed else "needs ALLOW_REPLACE"
        what = STATEFUL_TYPES[change.type]
        lines.append(f"  !! {change.action} of {what} {change.address} (its data is lost): {state}")
    return "\n".join(lines) + "\n"
