"""IAM: no wildcard actions, ``*`` resources only where AWS offers nothing narrower, one role per workload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.iam import Statement, deny_insecure_transport, policy_document, policy_variable, service_role

# The only actions that may be granted on Resource "*": AWS documents no resource-level
# permissions for them. One list for the whole stack; anything else on "*" fails.
STAR_RESOURCE_ALLOW_LIST = frozenset(
    {
        # X-Ray (Lambda active tracing, Step Functions tracing)
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        # CloudWatch Logs vended-log delivery (Step Functions execution logging)
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)
RESOURCE_POLICIES = {
    "aws_kms_key": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_sqs_queue": "policy",
    "aws_sns_topic_policy": "policy",
}


def is_wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def identity_statements(stack: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (body["name"], statement)
        for body in stack.resources("aws_iam_role_policy").values()
        for statement in stack.statements(body["policy"])
    ]


def resource_statements(stack: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{rtype}.{rid}", statement)
        for rtype, attribute in RESOURCE_POLICIES.items()
        for rid, body in stack.resources(rtype).items()
        for statement in stack.statements(body[attribute])
    ]


# --- the Statement class ------------------------------------------------------------------------


def test_star_resource_needs_a_documented_reason() -> None:
    with pytest.raises(ValueError, match="statement Trace: a '\\*' resource needs a documented reason"):
        Statement(sid="Trace", actions=("xray:PutTraceSegments",), resources=("*",))
    assert Statement(sid="Trace", actions=("xray:PutTraceSegments",), resources=("*",), why="X-Ray").why == "X-Ray"


@pytest.mark.parametrize("action", ["*", "s3:*", "dynamodb:*"])
def test_wildcard_actions_are_refused_in_identity_policies(action: str) -> None:
    with pytest.raises(ValueError, match="wildcard actions are not allowed in identity policies"):
        Statement(sid="Broad", actions=("s3:GetObject", action), resources=("arn:aws:s3:::b/*",))


def test_wildcard_actions_are_allowed_in_resource_policies() -> None:
    statement = Statement(sid="Deny", effect="Deny", principals={"AWS": "*"}, actions=("s3:*",), resources=("arn",))
    assert statement.render()["Action"] == "s3:*"


def test_render_uses_a_string_for_one_value_and_a_list_for_several() -> None:
    one = Statement(sid="One", actions=("sqs:SendMessage",), resources=("arn:q",)).render()
    many = Statement(
        sid="Many",
        actions=("sqs:SendMessage", "sqs:ReceiveMessage"),
        resources=("arn:q1", "arn:q2"),
        conditions={"Bool": {"aws:SecureTransport": "true"}},
    ).render()

    assert one == {"Sid": "One", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:q"}
    assert many["Action"] == ["sqs:SendMessage", "sqs:ReceiveMessage"]
    assert many["Resource"] == ["arn:q1", "arn:q2"]
    assert many["Condition"] == {"Bool": {"aws:SecureTransport": "true"}}
    assert "Principal" not in many


def test_policy_document_is_deterministic_json() -> None:
    statements = [Statement(sid="B", actions=("s3:GetObject",), resources=("arn:b",))]
    document = policy_document(statements)
    assert document == policy_document(statements)
    assert document == (
        '{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:b","Sid":"B"}],"Version":"2012-10-17"}'
    )


def test_deny_insecure_transport_is_scoped_to_the_service() -> None:
    rendered = deny_insecure_transport("sns", ("arn:topic",)).render()
    assert rendered == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sns:*",
        "Resource": "arn:topic",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_service_role_trusts_one_service_and_attaches_its_base_policy(tmp_path: Path) -> None:
    from cdktf import TerraformStack
    from cdktf import Testing as TfTesting

    scratch = TerraformStack(TfTesting.app(outdir=str(tmp_path)), "scratch")
    service_role(
        scratch,
        "role",
        name="r",
        service="states.amazonaws.com",
        source_account="123456789012",
        statements=[Statement(sid="Run", actions=("lambda:InvokeFunction",), resources=("arn:fn",))],
    )

    doc = json.loads(TfTesting.synth(scratch))
    (role,) = doc["resource"]["aws_iam_role"].values()
    (policy,) = doc["resource"]["aws_iam_role_policy"].values()

    assert json.loads(role["assume_role_policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeByService",
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
            }
        ],
    }
    assert policy["name"] == "base"
    assert json.loads(policy["policy"])["Statement"][0]["Action"] == "lambda:InvokeFunction"


# --- the synthesized policies -------------------------------------------------------------------


def test_no_identity_policy_grants_a_wildcard_action(stack) -> None:
    statements = identity_statements(stack)
    assert len(statements) >= 20
    for policy, statement in statements:
        wild = [a for a in statement["Action"] if is_wildcard_action(a)]
        assert wild == [], f"{policy}/{statement['Sid']} grants {wild}"


def test_no_trust_policy_grants_a_wildcard_action(stack) -> None:
    for role in stack.resources("aws_iam_role").values():
        for statement in json.loads(role["assume_role_policy"])["Statement"]:
            assert statement["Action"] == "sts:AssumeRole", role["name"]
            assert "Resource" not in statement, role["name"]


def test_star_resources_appear_only_for_allow_listed_actions(stack) -> None:
    star = [(policy, s) for policy, s in identity_statements(stack) if "*" in s["Resource"]]
    assert star, "expected the documented X-Ray / log-delivery exceptions"
    for policy, statement in star:
        assert statement["Resource"] == ["*"], f"{policy}/{statement['Sid']} mixes '*' with ARNs"
        outside = set(statement["Action"]) - STAR_RESOURCE_ALLOW_LIST
        assert outside == set(), f"{policy}/{statement['Sid']} grants {sorted(outside)} on '*'"


def test_no_identity_resource_is_a_partial_wildcard_of_a_whole_service(stack) -> None:
    for policy, statement in identity_statements(stack):
        for resource in statement["Resource"]:
            assert not resource.endswith(":*:*"), f"{policy}/{statement['Sid']}: {resource}"
            assert resource != "arn:*", f"{policy}/{statement['Sid']}"


def test_allow_list_check_would_catch_a_broader_grant() -> None:
    statement = {"Sid": "S", "Action": ["xray:PutTraceSegments", "dynamodb:Scan"], "Resource": ["*"]}
    assert set(statement["Action"]) - STAR_RESOURCE_ALLOW_LIST == {"dynamodb:Scan"}
    assert is_wildcard_action("kms:*") and is_wildcard_action("*") and not is_wildcard_action("kms:Decrypt")


def test_resource_policies_never_allow_a_public_principal(stack) -> None:
    statements = resource_statements(stack)
    assert len(statements) >= 15
    for where, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        principal = statement["Principal"]
        assert principal != "*" and principal.get("AWS") != "*", f"{where}/{statement['Sid']} is public"


def test_resource_policies_allow_wildcard_actions_only_to_the_key_administrator(stack) -> None:
    root = f"arn:{stack.PARTITION}:iam::{stack.ACCOUNT}:root"
    for where, statement in resource_statements(stack):
        wild = [a for a in statement["Action"] if is_wildcard_action(a)]
        if statement["Effect"] == "Allow" and wild:
            assert where.startswith("aws_kms_key."), where
            assert (wild, statement["Principal"]) == (["kms:*"], {"AWS": root})


def test_every_role_is_assumable_by_exactly_one_service(stack) -> None:
    services = {}
    for role in stack.resources("aws_iam_role").values():
        (trust,) = json.loads(role["assume_role_policy"])["Statement"]
        services[role["name"]] = trust["Principal"]["Service"]
    assert services == {
        "paygate-dev-api-handler-role": "lambda.amazonaws.com",
        "paygate-dev-payment-processor-role": "lambda.amazonaws.com",
        "paygate-dev-batch-processor-role": "lambda.amazonaws.com",
        "paygate-dev-workflow-tasks-role": "lambda.amazonaws.com",
        "paygate-dev-reconciliation-role": "lambda.amazonaws.com",
        "paygate-dev-workflow-role": "states.amazonaws.com",
        "paygate-dev-apigw-logs-role": "apigateway.amazonaws.com",
    }


def test_every_function_has_its_own_role(stack) -> None:
    roles = [f["role"] for f in stack.resources("aws_lambda_function").values()]
    assert len(roles) == 5
    assert len(set(roles)) == 5


def test_not_resource_renders_notresource_and_only_in_deny_statements() -> None:
    deny = Statement(
        sid="D", effect="Deny", principals={"AWS": "*"}, actions=("s3:PutObject",), resources=("a",), not_resource=True
    )
    assert deny.render()["NotResource"] == "a" and "Resource" not in deny.render()
    with pytest.raises(ValueError, match="NotResource only in Deny"):
        Statement(sid="A", actions=("s3:GetObject",), resources=("a",), not_resource=True)


def test_a_policy_variable_reaches_aws_unexpanded_by_terraform() -> None:
    assert policy_variable("aws:PrincipalTag/MerchantId") == "$${aws:PrincipalTag/MerchantId}"
