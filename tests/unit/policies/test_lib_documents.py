"""Resource-policy statements written as resource arguments (policies/lib.py ``_permission_statement``):
Lambda permissions, Lambda layer permissions, EventBridge bus permissions and KMS grants, read the way AWS
applies them (AWS Lambda Developer Guide, "Using resource-based policies"; AWS KMS Developer Guide, "Grants in
AWS KMS"; EventBridge User Guide, "Permissions for event buses"), and the exposure CKV_PAY_041 judges from them.

Each case names the argument a one-line mistake in the reader would drop or misread.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from policies import lib

TOPIC = "arn:aws:sns:us-east-1:123456789012:payment-events"


def permission(entity_type: str, **conf: Any) -> lib.Statement:
    """The one statement ``resource_policy_documents`` reads from a permission resource's conf (Checkov's shape:
    every value wrapped in a list)."""
    (document,) = lib.resource_policy_documents({k: [v] for k, v in conf.items()}, entity_type)
    (statement,) = document.statements
    return statement


def test_a_lambda_permission_for_a_service_is_a_service_principal_pinned_by_its_source() -> None:
    statement = permission(
        "aws_lambda_permission",
        action="lambda:InvokeFunction",
        principal="sns.amazonaws.com",
        source_arn=TOPIC,
        source_account="123456789012",
        principal_org_id="o-a1b2c3d4e5",
    )
    assert statement == lib.Statement(
        "Allow",
        ("lambda:InvokeFunction",),
        principals=(lib.Principal("Service", "sns.amazonaws.com"),),
        conditions=(
            lib.Condition("ArnLike", "aws:SourceArn", (TOPIC,)),
            lib.Condition("StringEquals", "aws:SourceAccount", ("123456789012",)),
            lib.Condition("StringEquals", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",)),
        ),
    )
    assert lib.statement_exposure(statement, references_caller=False) == "closed"


@pytest.mark.parametrize(
    ("principal", "kind"),
    [
        ("events.amazonaws.com", "Service"),
        ("logs.cn-north-1.amazonaws.com.cn", "Service"),  # the China partition's service principals
        ("123456789012", "AWS"),
        ("arn:aws:iam::123456789012:role/caller", "AWS"),
        ("amazonaws.com.evil.example", "AWS"),  # only the suffix makes a service principal
    ],
)
def test_the_principal_kind_comes_from_the_service_suffix(principal: str, kind: str) -> None:
    statement = permission("aws_lambda_permission", action="lambda:InvokeFunction", principal=principal)
    assert statement.principals == (lib.Principal(kind, principal),)
    assert statement.conditions == ()


def test_anyone_is_anyone_and_open_without_a_pin() -> None:
    statement = permission("aws_lambda_permission", action="lambda:InvokeFunction", principal="*")
    assert statement.principals == (lib.Principal("*", "*"),)
    assert lib.statement_exposure(statement, references_caller=False) == "open"
    pinned = permission(
        "aws_lambda_permission", action="lambda:InvokeFunction", principal="*", source_arn="${aws_sns_topic.t.arn}"
    )
    assert lib.statement_exposure(pinned, references_caller=False) == "closed"


def test_a_plans_unset_arguments_are_no_conditions() -> None:
    # A plan writes unset optional arguments as null; Checkov's string form of that is "None".
    statement = permission(
        "aws_lambda_permission",
        action="lambda:InvokeFunction",
        principal="s3.amazonaws.com",
        source_arn=None,
        source_account="None",
        principal_org_id="",
    )
    assert statement.conditions == ()
    assert lib.statement_exposure(statement, references_caller=False) == "open"


def test_a_layer_permission_reads_its_organization() -> None:
    statement = permission(
        "aws_lambda_layer_version_permission",
        action="lambda:GetLayerVersion",
        principal="*",
        organization_id="o-a1b2c3d4e5",
    )
    assert statement.conditions == (lib.Condition("StringEquals", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",)),)
    assert lib.statement_exposure(statement, references_caller=False) == "closed"


def test_an_event_bus_permission_reads_its_condition_block() -> None:
    statement = permission(
        "aws_cloudwatch_event_permission",
        action="events:PutEvents",
        principal="*",
        condition=[{"key": ["aws:PrincipalOrgID"], "type": ["StringEquals"], "value": ["o-a1b2c3d4e5"]}],
    )
    assert statement.actions == ("events:PutEvents",)
    assert statement.conditions == (lib.Condition("StringEquals", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",)),)
    assert lib.statement_exposure(statement, references_caller=False) == "closed"


def test_a_kms_grant_lets_in_its_grantee_and_its_retiring_principal() -> None:
    statement = permission(
        "aws_kms_grant",
        operations=["Decrypt", "GenerateDataKey"],
        grantee_principal="${aws_iam_role.processor.arn}",
        retiring_principal="arn:aws:iam::999999999999:role/retirer",
    )
    assert statement == lib.Statement(
        "Allow",
        ("Decrypt", "GenerateDataKey"),
        principals=(
            lib.Principal("AWS", "${aws_iam_role.processor.arn}"),
            lib.Principal("AWS", "arn:aws:iam::999999999999:role/retirer"),
        ),
    )
    # the retiring principal is another account's: the grant lets it in
    assert lib.statement_exposure(statement, references_caller=False) == "open"
    own = permission("aws_kms_grant", operations=["Decrypt"], grantee_principal="${aws_iam_role.processor.arn}")
    assert lib.statement_exposure(own, references_caller=False) == "closed"


# --- data "aws_iam_policy_document" read as IAM JSON (``policy_document``, used by CKV_PAY_038) -------------------


def document_stack(**documents: dict[str, Any]) -> lib.Stack:
    """A stack of ``data.aws_iam_policy_document.<name>`` blocks, plus one variable and one local."""
    return lib.Stack(
        {f"data.aws_iam_policy_document.{name}": block for name, block in documents.items()},
        variables={"document": '{"Statement": {"Effect": "Deny", "Action": "s3:*"}}'},
        locals={"unknown": "${aws_s3_bucket.b.policy}"},
    )


def read(name: str, stack: lib.Stack) -> list[dict[str, Any]] | None:
    return lib.policy_document(f"${{data.aws_iam_policy_document.{name}.json}}", stack)


def test_a_statement_block_becomes_the_json_statement_terraform_renders() -> None:
    stack = document_stack(
        doc={
            "statement": [
                [  # Checkov wraps nested blocks once more; the reader takes any wrapping apart
                    {
                        "sid": "Everything",
                        "not_actions": [["iam:*"]],
                        "not_resources": ["arn:aws:iam::*:role/admin"],
                        "principals": [
                            {"type": "AWS", "identifiers": ["arn:aws:iam::111122223333:root"]},
                            {"type": "AWS", "identifiers": [["arn:aws:iam::444455556666:root"]]},
                            {"type": "Service", "identifiers": "sns.amazonaws.com"},
                        ],
                        "condition": {
                            "test": "NumericLessThan",
                            "variable": "aws:MultiFactorAuthAge",
                            "values": [3600],
                        },
                    }
                ]
            ]
        }
    )
    assert read("doc", stack) == [
        {
            "Effect": "Allow",  # no effect argument: Terraform's default
            "Sid": "Everything",
            "NotAction": ["iam:*"],
            "NotResource": ["arn:aws:iam::*:role/admin"],
            "Principal": {
                "AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"],
                "Service": ["sns.amazonaws.com"],
            },
            "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": ["3600"]}},  # values are text in IAM JSON
        }
    ]


def test_anyone_is_written_as_a_star_and_unset_arguments_are_left_out() -> None:
    stack = document_stack(
        doc={
            "statement": [
                {
                    "effect": "Deny",
                    "sid": "",
                    "actions": ["s3:*", None],
                    "resources": ["*"],
                    "not_principals": [{"type": "*", "identifiers": ["*"]}],
                },
                {
                    "effect": "Allow",
                    "actions": ["s3:GetObject"],
                    "principals": [{"type": "*", "identifiers": ["*", "x"]}],
                },
            ]
        }
    )
    deny, allow = read("doc", stack) or []
    assert deny == {"Effect": "Deny", "Action": ["s3:*"], "Resource": ["*"], "NotPrincipal": "*"}
    assert allow == {"Effect": "Allow", "Action": ["s3:GetObject"], "Principal": {"*": ["*", "x"]}}


def test_sources_come_first_then_statements_then_overrides_and_a_sid_replaces_in_place() -> None:
    stack = document_stack(
        base={"statement": [{"sid": "A", "actions": ["s3:GetObject"]}, {"sid": "B", "actions": ["s3:PutObject"]}]},
        doc={
            "source_policy_documents": ["${data.aws_iam_policy_document.base.json}"],
            "statement": [{"sid": "C", "actions": ["sqs:SendMessage"]}, {"actions": ["sns:Publish"]}],
            "override_policy_documents": [
                json.dumps(
                    {
                        "Statement": [
                            {"Sid": "A", "Effect": "Deny", "Action": "s3:*"},
                            {"Effect": "Deny", "Action": "kms:*"},
                        ]
                    }
                )
            ],
        },
    )
    assert [(s.get("Sid"), s["Effect"], s["Action"]) for s in read("doc", stack) or []] == [
        ("A", "Deny", "s3:*"),  # replaced where it stood
        ("B", "Allow", ["s3:PutObject"]),
        ("C", "Allow", ["sqs:SendMessage"]),
        (None, "Allow", ["sns:Publish"]),
        (None, "Deny", "kms:*"),  # no Sid: added, never replacing another Sid-less statement
    ]


def test_json_a_plan_read_wins_over_the_blocks() -> None:
    stack = document_stack(
        doc={"json": '{"Statement": [{"Effect": "Deny", "Action": "s3:*"}]}', "statement": [{"actions": ["x:y"]}]}
    )
    assert read("doc", stack) == [{"Effect": "Deny", "Action": "s3:*"}]
    unknown = document_stack(doc={"json": "known after apply", "statement": [{"actions": ["x:y"]}]})
    assert read("doc", unknown) == [{"Effect": "Allow", "Action": ["x:y"]}]


def test_what_the_reader_cannot_prove_is_none() -> None:
    stack = document_stack(
        doc={"source_policy_documents": ["${data.aws_iam_policy_document.missing.json}"], "statement": []},
        over={"statement": [], "override_policy_documents": ["${aws_s3_bucket.b.policy}"]},
        empty={},
    )
    assert read("doc", stack) is None  # a source the stack does not declare
    assert read("over", stack) is None  # an override that is another resource's attribute
    assert read("empty", stack) == []
    assert lib.policy_document("${aws_s3_bucket_policy.p.policy}", stack) is None  # not a policy document
    assert lib.policy_document("${data.aws_iam_policy_document.doc.json}", None) is None  # no input to follow
    assert lib.policy_document("${var.document}", stack) == [{"Effect": "Deny", "Action": "s3:*"}]
    assert lib.policy_document("${var.undeclared}", stack) is None
    assert lib.policy_document("${local.unknown}", stack) is None


def test_a_chain_of_documents_is_followed_to_a_depth_and_a_cycle_is_not() -> None:
    chain = {
        f"d{i}": {"source_policy_documents": [f"${{data.aws_iam_policy_document.d{i + 1}.json}}"]} for i in range(8)
    }
    chain["d8"] = {"statement": [{"actions": ["s3:GetObject"]}]}
    stack = document_stack(**chain)
    assert read("d0", stack) == [{"Effect": "Allow", "Action": ["s3:GetObject"]}]  # 8 links: followed
    longer = document_stack(
        **{"start": {"source_policy_documents": ["${data.aws_iam_policy_document.d0.json}"]}, **chain}
    )
    assert read("start", longer) is None  # 9 links: the pack does not prove it
    cycle = document_stack(
        a={"source_policy_documents": ["${data.aws_iam_policy_document.b.json}"]},
        b={"source_policy_documents": ["${data.aws_iam_policy_document.a.json}"]},
    )
    assert read("a", cycle) is None


# --- who a value names: account_scope, principal_scope (their exact documented answers) -------------------------

CALLER = "${data.aws_caller_identity.current.account_id}"
OWN = frozenset({"123456789012"})


@pytest.mark.parametrize(
    ("value", "references_caller", "scope"),
    [
        ("${aws_iam_role.r.arn}", False, "own"),  # a declared object
        (" ${aws_iam_role.r.arn} ", False, "own"),
        ("${var.role_arn}", False, "unknown"),  # a Terraform input
        ("${local.role_arn}", False, "unknown"),
        ("${aws_api_gateway_rest_api.a.execution_arn}/*/POST/payments", False, "own"),
        ("${var.api}/*/POST/payments", False, "unknown"),
        ("${aws_iam_role.r.arn}${var.suffix}", False, "own"),  # the first interpolation decides
        ("${var.prefix}${aws_iam_role.r.arn}", False, "unknown"),
        (f"arn:aws:iam::{CALLER}:root", False, "own"),
        ("arn:aws:iam::${var.account}:root", False, "unknown"),
        ("arn:${data.aws_partition.p.partition}:iam::${var.account}:root", False, "unknown"),
        ("arn:${data.aws_partition.p.partition}:iam::" + CALLER + ":root", False, "own"),
        ("arn:aws:iam::123456789012:root", False, "own"),  # a literal this plan shows to be this account
        ("arn:aws:iam::999999999999:root", False, "outside"),
        ("arn:aws:iam::999999999999:root", True, "unknown"),  # may be the caller's, in a plan that read it
        ("123456789012", False, "own"),
        ("999999999999", False, "outside"),
        ("999999999999", True, "unknown"),
        ("arn:aws:s3:::bucket", False, "outside"),  # no account field: not this account's by its name
        ("arn:aws:iam::", False, "outside"),  # too few fields
        ("12345678901", False, "outside"),  # eleven digits: no account id
        ("someone@example.com", False, "outside"),
    ],
)
def test_account_scope(value: str, references_caller: bool, scope: str) -> None:
    assert lib.account_scope(value, references_caller, OWN) == scope


@pytest.mark.parametrize(
    ("principal", "scope"),
    [
        (lib.Principal("*", "*"), "anyone"),
        (lib.Principal("*", "x"), "anyone"),  # the kind alone decides
        (lib.Principal("AWS", " * "), "anyone"),
        (lib.Principal("AWS", "arn:aws:iam::*:root"), "anyone"),
        (lib.Principal("AWS", "arn:aws:iam::12345678901?:root"), "anyone"),
        (lib.Principal("Service", "sns.amazonaws.com"), "service"),
        (lib.Principal("Federated", f"arn:aws:iam::{CALLER}:oidc-provider/x"), "federated"),
        (lib.Principal("AWS", "${aws_iam_role.r.arn}"), "own"),
        (lib.Principal("AWS", "arn:aws:iam::999999999999:root"), "outside"),
        (lib.Principal("AWS", "${var.reader}"), "unknown"),
        (lib.Principal("CanonicalUser", "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"), "outside"),
    ],
)
def test_principal_scope(principal: lib.Principal, scope: str) -> None:
    assert lib.principal_scope(principal, False) == scope


# --- condition_pin: which conditions confine a grant (AWS IAM User Guide, "AWS global condition context keys") ----


@pytest.mark.parametrize(
    ("operator", "key", "values", "pin"),
    [
        ("StringEquals", "aws:SourceAccount", (CALLER,), "pinned"),
        ("stringequals", "AWS:SOURCEACCOUNT", (CALLER,), "pinned"),  # operators and keys are case-insensitive
        ("ForAnyValue:StringLike", "aws:SourceAccount", (CALLER,), "pinned"),
        ("ForAllValues:StringEquals", "aws:SourceAccount", (CALLER,), "unpinned"),  # holds for an empty set
        ("StringEqualsIfExists", "aws:SourceAccount", (CALLER,), "unpinned"),  # holds when the key is absent
        ("StringNotEquals", "aws:SourceAccount", (CALLER,), "unpinned"),
        ("StringEquals", "aws:SourceAccount", (), "unpinned"),
        ("StringEquals", "aws:SourceVpce", ("vpce-1",), "unpinned"),  # not a key that names an account or source
        ("StringEquals", "aws:SourceAccount", ("999999999999",), "unpinned"),
        ("StringEquals", "aws:SourceAccount", ("${var.account}",), "unknown"),
        ("StringLike", "aws:SourceAccount", ("1234*",), "unpinned"),
        ("StringEquals", "aws:SourceAccount", (CALLER, "999999999999"), "unpinned"),  # any value lets it in
        ("StringEquals", "aws:SourceAccount", (CALLER, "${var.account}"), "unknown"),
        ("StringEquals", "kms:CallerAccount", ("123456789012",), "pinned"),
        ("StringEquals", "aws:SourceOwner", ("123456789012",), "pinned"),
        ("StringEquals", "aws:PrincipalAccount", ("999999999999",), "unpinned"),
        # ARNs: a named source, or anything in this account
        ("ArnLike", "aws:SourceArn", ("${aws_sns_topic.t.arn}",), "pinned"),
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:999999999999:t",), "pinned"),  # named: one topic
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:123456789012:*",), "pinned"),  # all of this account
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:999999999999:*",), "unpinned"),
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:*:t",), "unpinned"),  # any account
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:12345678901?:t",), "unpinned"),
        ("ArnLike", "aws:SourceArn", ("",), "unpinned"),
        ("ArnLike", "aws:SourceArn", ("*",), "unpinned"),
        ("ArnLike", "aws:SourceArn", ("${var.topic_arn}",), "unknown"),
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:${var.account}:*",), "unknown"),
        ("ArnLike", "aws:PrincipalArn", (f"arn:aws:iam::{CALLER}:role/*",), "pinned"),
        # a named source in another account whose name only the plan knows: that account may be this one
        ("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:999999999999:${var.topic}",), "unknown"),
        ("ArnLike", "aws:SourceArn", (f"arn:aws:sns:us-east-1:{CALLER}:${{var.topic}}",), "pinned"),  # this account
        ("ArnLike", "kms:EncryptionContext:aws:logs:arn", ("arn:aws:logs:us-east-1:999999999999:*",), "unpinned"),
        # organizations: a named organization (its path may end in a wildcard under the root)
        ("StringEquals", "aws:PrincipalOrgID", ("o-a1b2c3d4e5",), "pinned"),
        ("StringLike", "aws:PrincipalOrgID", ("o-*",), "unpinned"),
        ("StringEquals", "aws:PrincipalOrgID", ("",), "unpinned"),
        ("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", ("o-a1b2c3d4e5/r-ab12/*",), "pinned"),
        ("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", ("o-*/r-ab12/ou-1",), "unpinned"),
        ("ForAnyValue:StringLike", "aws:PrincipalOrgPaths", ("o-a1b2c3d4e5/r-*/ou-1",), "pinned"),  # within one org
        ("StringEquals", "aws:SourceOrgID", ("o-a1b2c3d4e5",), "pinned"),
        # federation: a named audience or subject
        (
            "StringEquals",
            "token.actions.githubusercontent.com:sub",
            ("repo:acme/paygate:ref:refs/heads/main",),
            "pinned",
        ),
        ("StringLike", "token.actions.githubusercontent.com:sub", ("repo:acme/*",), "unpinned"),
        ("StringEquals", "token.actions.githubusercontent.com:aud", (" STS.amazonaws.com ",), "unpinned"),
        ("StringEquals", "cognito-identity.amazonaws.com:aud", ("us-east-1:1234",), "pinned"),
        ("StringEquals", "graph.facebook.com:app_id", ("1234",), "pinned"),
        ("StringEquals", "accounts.google.com:sub", ("  ",), "unpinned"),
    ],
)
def test_condition_pin(operator: str, key: str, values: tuple[str, ...], pin: str) -> None:
    assert lib.condition_pin(lib.Condition(operator, key, values), False, OWN) == pin


def test_a_literal_account_a_plan_may_show_for_the_caller_is_unknown_not_outside() -> None:
    outside = lib.Condition("StringEquals", "aws:SourceAccount", ("999999999999",))
    assert lib.condition_pin(outside, True) == "unknown"
    arn = lib.Condition("ArnLike", "aws:SourceArn", ("arn:aws:sns:us-east-1:999999999999:*",))
    assert lib.condition_pin(arn, True) == "unknown"
    anyone = lib.Statement("Allow", ("sqs:SendMessage",), ("*",), principals=(lib.Principal("AWS", "999999999999"),))
    assert lib.statement_exposure(anyone, True) == "unknown"
    assert lib.statement_exposure(replace_conditions(anyone, outside), True) == "unknown"
    assert lib.statement_exposure(anyone, False, frozenset({"999999999999"})) == "closed"
    # Everyone, confined by a condition naming an account the plan may show for the caller: that condition may
    # be what closes it (unknown); without the caller's reference the account is another one (open).
    everyone = lib.Statement("Allow", ("sqs:SendMessage",), ("*",), principals=(lib.Principal("*", "*"),))
    assert lib.statement_exposure(replace_conditions(everyone, outside), True) == "unknown"
    assert lib.statement_exposure(replace_conditions(everyone, outside), False) == "open"


def replace_conditions(statement: lib.Statement, *conditions: lib.Condition) -> lib.Statement:
    return dataclasses.replace(statement, conditions=conditions)


def test_one_pinning_condition_closes_a_statement_whatever_the_others_say() -> None:
    anyone = lib.Statement("Allow", ("sqs:SendMessage",), ("*",), principals=(lib.Principal("*", "*"),))
    pinned = lib.Condition("StringEquals", "aws:SourceAccount", (CALLER,))
    unknown = lib.Condition("StringEquals", "aws:SourceAccount", ("${var.account}",))
    unpinned = lib.Condition("StringEquals", "aws:SourceVpce", ("vpce-1",))
    assert lib.statement_exposure(replace_conditions(anyone, unpinned, pinned), False) == "closed"
    assert lib.statement_exposure(replace_conditions(anyone, unpinned, unknown), False) == "unknown"
    assert lib.statement_exposure(replace_conditions(anyone, unpinned), False) == "open"
    variable = lib.Statement("Allow", ("sqs:SendMessage",), ("*",), principals=(lib.Principal("AWS", "${var.a}"),))
    assert lib.statement_exposure(variable, False) == "unknown"
    mixed = lib.Statement(
        "Allow", ("sqs:*",), ("*",), principals=(lib.Principal("AWS", "${var.a}"), lib.Principal("*", "*"))
    )
    assert lib.statement_exposure(mixed, False) == "open"
    not_principal = lib.Statement(
        "Allow", ("sqs:*",), ("*",), principals=(lib.Principal("AWS", "${aws_iam_role.r.arn}"),), not_principal=True
    )
    assert lib.statement_exposure(not_principal, False) == "open"  # everyone but the named role
    assert lib.statement_exposure(replace_conditions(not_principal, unknown), False) == "unknown"
    identity = lib.Statement("Allow", ("sqs:*",), ("*",))
    assert lib.statement_exposure(identity, False) == "closed"  # no principal: an identity policy


# --- parse_policy and policy_document_data: every field of the normalized Statement -------------------------------


def test_a_json_statement_keeps_every_element_and_its_negation() -> None:
    (statement,) = lib.parse_policy(
        {
            "Statement": {
                "Sid": "S1",
                "Effect": "Deny",
                "NotAction": "s3:GetObject",
                "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:root"], "Service": "sns.amazonaws.com"},
                "Condition": {"Bool": {"aws:SecureTransport": False}, "Ignored": "not a map"},
            }
        }
    ).statements
    assert statement == lib.Statement(
        effect="Deny",
        actions=("s3:GetObject",),
        resources=("arn:aws:s3:::b", "arn:aws:s3:::b/*"),
        not_action=True,
        not_resource=True,
        principals=(
            lib.Principal("AWS", "arn:aws:iam::123456789012:root"),
            lib.Principal("Service", "sns.amazonaws.com"),
        ),
        not_principal=True,
        conditions=(lib.Condition("Bool", "aws:SecureTransport", ("false",)),),
        sid="S1",
    )
    assert statement.granted_actions == ("*",) and statement.granted_resources == ("*",)


def test_a_json_statement_defaults() -> None:
    (plain,) = lib.parse_policy(
        '{"Statement": [{"Action": ["sqs:SendMessage"], "Resource": "*", "Sid": ""}]}'
    ).statements
    assert plain == lib.Statement("Allow", ("sqs:SendMessage",), ("*",))
    assert (plain.allows, plain.granted_actions, plain.granted_resources) == (True, ("sqs:SendMessage",), ("*",))
    (anyone,) = lib.parse_policy({"Statement": [{"Principal": " * ", "Action": "s3:*"}]}).statements
    assert anyone.principals == (lib.Principal("*", "*"),) and not anyone.not_principal
    (account,) = lib.parse_policy({"Statement": [{"Principal": "123456789012", "Action": "s3:*"}]}).statements
    assert account.principals == (lib.Principal("AWS", "123456789012"),)
    (odd,) = lib.parse_policy({"Statement": [{"Principal": 12, "Action": "s3:*"}]}).statements
    assert odd.principals == ()  # a principal the reader cannot read lets no one in by itself


@pytest.mark.parametrize(
    ("value", "document"),
    [
        (None, lib.Document()),
        ("  ", lib.Document()),
        ({"Statement": "x"}, lib.Document(malformed=True)),
        (["not", "a", "document"], lib.Document(malformed=True)),
        ("[1, 2]", lib.Document(malformed=True)),
        ("${data.aws_iam_policy_document.d.json}", lib.Document(unresolved=True)),
        ('${jsonencode({"Statement": [{"Action": "s3:*"}]})}', lib.Document((lib.Statement("Allow", ("s3:*",)),))),
        ('${jsonencode({"Statement": [], "Version": var.v})}', lib.Document(unresolved=True)),
        ("${jsonencode(var.document)}", lib.Document(unresolved=True)),
        ({"Version": "2012-10-17"}, lib.Document()),
    ],
)
def test_parse_policy_tells_empty_malformed_and_unresolved_apart(value: Any, document: lib.Document) -> None:
    assert lib.parse_policy(value) == document


def test_a_document_data_source_block_keeps_every_element() -> None:
    conf: dict[str, Any] = {
        "statement": [
            [
                {
                    "sid": ["S1"],
                    "effect": ["Deny"],
                    "not_actions": [["s3:GetObject"]],
                    "actions": [["ignored:WithNotActions"]],
                    "not_resources": [["arn:aws:s3:::b/*"]],
                    "resources": [["ignored"]],
                    "principals": [[{"type": ["AWS"], "identifiers": [["arn:aws:iam::1:root"]]}]],
                    "not_principals": [[{"type": ["*", "AWS"], "identifiers": [["*"]]}]],
                    "condition": [
                        [
                            {"test": ["Bool", "x"], "variable": ["aws:SecureTransport", "y"], "values": [["false"]]},
                            {"test": ["StringEquals"], "variable": ["aws:SourceAccount"], "values": [["1", "2"]]},
                        ]
                    ],
                },
                {"actions": [["s3:GetObject"]], "resources": [["*"]]},
            ]
        ]
    }
    denied, allowed = lib.policy_document_data(conf).statements
    assert denied == lib.Statement(
        effect="Deny",
        actions=("s3:GetObject",),
        resources=("arn:aws:s3:::b/*",),
        not_action=True,
        not_resource=True,
        principals=(lib.Principal("*", "*"),),  # NotPrincipal wins over Principal, its first type only
        not_principal=True,
        conditions=(
            lib.Condition("Bool", "aws:SecureTransport", ("false",)),
            lib.Condition("StringEquals", "aws:SourceAccount", ("1", "2")),
        ),
        sid="S1",
    )
    assert allowed == lib.Statement("Allow", ("s3:GetObject",), ("*",))
    typed = lib.policy_document_data(
        {"statement": [{"principals": [{"type": ["Service", "AWS"], "identifiers": ["sns.amazonaws.com"]}]}]}
    )
    assert typed.statements[0].principals == (lib.Principal("Service", "sns.amazonaws.com"),)
    assert typed.statements[0].not_principal is False


def test_document_data_reads_source_json_and_override_json_and_reports_what_it_could_not_read() -> None:
    conf: dict[str, Any] = {
        "source_json": ['{"Statement": [{"Sid": "A", "Action": "s3:GetObject"}]}'],
        "statement": [{"sid": ["B"], "actions": [["sqs:SendMessage"]]}],
        "override_json": ['{"Statement": [{"Sid": "A", "Effect": "Deny", "Action": "s3:*"}]}'],
    }
    document = lib.policy_document_data(conf)
    assert [(s.sid, s.effect, s.actions) for s in document.statements] == [
        ("A", "Deny", ("s3:*",)),
        ("B", "Allow", ("sqs:SendMessage",)),
    ]
    assert (document.unresolved, document.malformed) == (False, False)
    broken = lib.policy_document_data({"source_policy_documents": [["not json", '{"Statement": []}']]})
    assert (broken.unresolved, broken.malformed) == (False, True)  # a later good document does not clear it
    later = lib.policy_document_data(
        {"source_policy_documents": [["${data.aws_iam_policy_document.a.json}", '{"Statement": []}']]}
    )
    assert (later.unresolved, later.malformed) == (True, False)


# --- which documents a resource carries ------------------------------------------------------------------------------

ALLOW_ALL = '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


def test_identity_documents_of_each_kind_of_resource() -> None:
    role = {
        "inline_policy": [
            [{"name": ["a"], "policy": [ALLOW_ALL]}, {"name": ["empty"], "policy": [""]}, {"name": ["b"]}]
        ],
        "assume_role_policy": ['{"Statement": [{"Principal": "*", "Action": "sts:AssumeRole"}]}'],
    }
    inline, empty = lib.identity_documents(role, "aws_iam_role")  # a block without a policy has no document
    assert inline.statements == (lib.Statement("Allow", ("*",), ("*",)),)
    assert empty == lib.Document()
    permission_set = {"inline_policy": [ALLOW_ALL], "policy": ['{"Statement": []}']}
    assert lib.identity_documents(permission_set, "aws_ssoadmin_permission_set_inline_policy")[0].statements == (
        lib.Statement("Allow", ("*",), ("*",)),
    )
    for resource_type in lib.IAM_POLICY_RESOURCES:
        (document,) = lib.identity_documents(
            {"policy": [ALLOW_ALL], "inline_policy": ['{"Statement": []}']}, resource_type
        )
        assert document.statements == (lib.Statement("Allow", ("*",), ("*",)),), resource_type


def test_resource_policy_documents_read_the_attributes_of_each_type() -> None:
    anyone = '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}]}'
    for resource_type, attributes in lib.RESOURCE_POLICY_ATTRIBUTES.items():
        conf = {attribute: [anyone] for attribute in attributes}
        documents = lib.resource_policy_documents({**conf, "other": [ALLOW_ALL]}, resource_type)
        assert [d.statements[0].principals for d in documents] == [(lib.Principal("*", "*"),)], resource_type
    assert lib.resource_policy_documents({"policy": [anyone]}, "aws_lambda_function") == []
    role = {"assume_role_policy": [anyone], "inline_policy": [[{"name": ["a"], "policy": [ALLOW_ALL]}]]}
    (trust,) = lib.resource_policy_documents(role, "aws_iam_role")
    assert trust.statements[0].actions == ("sqs:*",)


@pytest.mark.parametrize(
    ("principal", "scope"),
    [
        (lib.Principal("Service", "*"), "anyone"),  # a wildcard value lets anyone in, whatever its kind
        (lib.Principal("AWS", " * "), "anyone"),
        (lib.Principal("Service", "sns.amazonaws.com"), "service"),
        (lib.Principal("AWS", "aws_iam_role.r.arn"), "own"),  # a plan shows an unknown ARN as the bare reference
        (lib.Principal("AWS", "var.role_arn"), "unknown"),
    ],
)
def test_principal_scopes(principal: lib.Principal, scope: str) -> None:
    assert lib.principal_scope(principal, False, OWN) == scope
