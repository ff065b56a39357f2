"""IAM policy documents as plain JSON (readable by Checkov and by humans in cdk.tf.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct


@dataclass(frozen=True)
class Statement:
    """One IAM statement; ``resources=("*",)`` must carry a ``why`` naming the AWS requirement.

    ``not_resource``: the statement applies to every resource *except* ``resources`` (IAM ``NotResource``);
    only for ``Deny`` statements (an Allow with NotResource grants everything else).
    """

    sid: str
    actions: Sequence[str]
    resources: Sequence[str]
    effect: str = "Allow"
    principals: Mapping[str, Any] | None = None
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    why: str | None = None
    not_resource: bool = False

    def __post_init__(self) -> None:
        if any(action == "*" or action.endswith(":*") for action in self.actions) and self.principals is None:
            raise ValueError(f"statement {self.sid}: wildcard actions are not allowed in identity policies")
        if "*" in self.resources and not self.why:
            raise ValueError(f"statement {self.sid}: a '*' resource needs a documented reason (why=...)")
        if self.not_resource and self.effect != "Deny":
            raise ValueError(f"statement {self.sid}: NotResource only in Deny statements")

    def render(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principals is not None:
            body["Principal"] = dict(self.principals)
        body["Action"] = list(self.actions) if len(self.actions) > 1 else self.actions[0]
        body["NotResource" if self.not_resource else "Resource"] = (
            list(self.resources) if len(self.resources) > 1 else self.resources[0]
        )
        if self.conditions:
            body["Condition"] = {op: dict(values) for op, values in self.conditions.items()}
        return body


def policy_document(statements: Sequence[Statement]) -> str:
    """Deterministic JSON policy (sorted keys) from statements."""
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [s.render() for s in statements]},
        sort_keys=True,
        separators=(",", ":"),
    )


def policy_variable(name: str) -> str:
    """An IAM policy variable (``${aws:PrincipalTag/…}``) as Terraform must receive it: ``$${`` is Terraform's
    escape for a literal ``${`` (Terraform docs, "Strings and Templates"), which it would otherwise interpolate."""
    return "$${" + name + "}"


def deny_insecure_transport(service: str, resources: Sequence[str]) -> Statement:
    """Resource-policy statement refusing any request not sent over TLS (PCI DSS 4.2.1).

    Actions are scoped to the service (``sns:*``): SNS refuses a bare ``*`` as out of scope.
    """
    return Statement(
        sid="DenyInsecureTransport",
        effect="Deny",
        principals={"AWS": "*"},
        actions=(f"{service}:*",),
        resources=resources,
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


def service_role(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    service: str,
    source_account: str | None = None,
    statements: Sequence[Statement] = (),
) -> IamRole:
    """A role assumable only by ``service`` with one inline least-privilege policy.

    The inline policy is a separate resource so other resources (e.g. a KMS key policy naming the
    role) can depend on the role without a cycle through the permissions.
    """
    trust_conditions = {"StringEquals": {"aws:SourceAccount": source_account}} if source_account else {}
    trust = Statement(
        sid="AssumeByService",
        principals={"Service": service},
        actions=("sts:AssumeRole",),
        resources=("*",),
        conditions=trust_conditions,
        why="trust policies have no Resource element; rendered without it",
    ).render()
    del trust["Resource"]
    role = IamRole(
        scope,
        construct_id,
        name=name,
        assume_role_policy=json.dumps(
            {"Version": "2012-10-17", "Statement": [trust]}, sort_keys=True, separators=(",", ":")
        ),
    )
    if statements:
        grant(scope, f"{construct_id}-base", role=role, name="base", statements=statements)
    return role


def grant(
    scope: Construct, construct_id: str, *, role: IamRole, name: str, statements: Sequence[Statement]
) -> IamRolePolicy:
    """Attach one named inline policy (one capability: "payments-table-write", ...) to a role."""
    return IamRolePolicy(
        scope,
        construct_id,
        name=name,
        role=role.id,
        policy=policy_document(statements),
    )
