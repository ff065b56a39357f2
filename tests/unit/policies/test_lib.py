"""IAM semantics of the pack's shared library (policies/lib.py): wildcards, documents, principals and pins.

The fixtures prove each check end to end through Checkov; these pin the rules themselves, case by case,
including inputs the offline fixture plan cannot hold (malformed text, data-source lookups, Terraform inputs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from checkov.common.models.enums import CheckResult

from policies import lib
from policies.checks import (
    ckv_pay_025_iam_policy_no_wildcard_action as ckv_025,
)
from policies.checks import (
    ckv_pay_040_iam_managed_policies_allow_listed as ckv_040,
)
from policies.checks import (
    ckv_pay_041_resource_policy_not_open_outside_account as ckv_041,
)

CALLER = "${data.aws_caller_identity.current.account_id}"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/payments"


@pytest.mark.parametrize(
    ("action", "wildcard", "every_action"),
    [
        ("dynamodb:GetItem", False, False),
        ("DynamoDB:getitem", False, False),
        ("dynamodb:?*", True, False),
        ("dynamodb:*Item*", True, False),
        ("dynamodb:GetIte?", True, False),
        ("*:Get*", True, False),
        ("*", True, True),
        ("*:*", True, True),
        ("?*", True, True),
        ("*:?*", True, True),
        ("${var.action}", False, False),
    ],
)
def test_action_wildcards_follow_iam_semantics(action: str, wildcard: bool, every_action: bool) -> None:
    assert lib.has_wildcard(action) is wildcard
    assert lib.matches_every_action(action) is every_action


@pytest.mark.parametrize(
    ("pattern", "ignore_case", "text", "matches"),
    [
        ("dynamodb:Get?tem", False, "dynamodb:GetItem", True),  # ? is exactly one character
        ("dynamodb:Get?tem", False, "dynamodb:Gettem", False),
        ("dynamodb:Get?tem", False, "dynamodb:GetIItem", False),
        ("dynamodb:Get*", False, "dynamodb:Get", True),  # * is any run, the empty one included
        ("dynamodb:*Item", False, "dynamodb:BatchGetItem", True),
        ("dynamodb:GetItem", False, "dynamodb:GetItem?", False),  # literal characters are literal
        ("dynamodb:Get.tem", False, "dynamodb:GetItem", False),  # "." is no wildcard in IAM
        ("DynamoDB:getitem", True, "dynamodb:GetItem", True),  # actions: case-insensitive
        ("arn:aws:s3:::Bucket", False, "arn:aws:s3:::bucket", False),  # resources: case-sensitive
        ("arn:aws:s3:::b/*", False, "arn:aws:s3:::b/x\ny", True),  # a wildcard matches any character at all
        ("arn:aws:s3:::b/?", False, "arn:aws:s3:::b/\n", True),
    ],
)
def test_iam_wildcard_patterns(pattern: str, ignore_case: bool, text: str, matches: bool) -> None:
    """IAM wildcard semantics (IAM User Guide, "IAM JSON policy elements: Action/Resource"), tested on the
    compiler itself: the public matchers cache their answers, so a fault in it could hide behind a cache."""
    assert (lib._glob(pattern, ignore_case).fullmatch(text) is not None) is matches


@pytest.mark.parametrize(
    ("reference", "is_input"),
    [
        ("var.tags", True),
        ("local.policy", True),
        ("module.network.vpc_id", True),
        ("each.value", True),
        ("count.index", True),
        (" var.tags ", True),
        ("aws_sqs_queue.q.arn", False),
        ("data.aws_caller_identity.current.account_id", False),
        ("variable.x", False),
    ],
)
def test_inputs_are_variables_locals_module_outputs_and_iteration_values(reference: str, is_input: bool) -> None:
    """What only the plan resolves (Terraform language: input variables, locals, module outputs, for_each/count
    values), as opposed to objects the stack declares or reads."""
    assert lib.is_input_reference(reference) is is_input


@pytest.mark.parametrize(
    ("pattern", "scope"),
    [
        ("${aws_dynamodb_table.t.arn}", "named"),
        ("aws_dynamodb_table.t.arn", "named"),  # unknown in a plan: Checkov substitutes the reference
        ("${aws_dynamodb_table.t.arn}/index/*", "named"),
        ("${aws_s3_bucket.b.arn}/incoming/*", "named"),
        ("${aws_cloudwatch_log_group.g.arn}:*", "named"),
        ("${aws_dynamodb_table.t.arn}*", "wide"),
        (TABLE, "named"),
        (f"{TABLE}/index/*", "named"),
        (f"{TABLE}/*", "named"),
        (f"{TABLE}*", "wide"),
        (f"{TABLE[:-1]}?", "wide"),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/*", "wide"),
        ("arn:aws:dynamodb:*:*:table/payments", "wide"),
        ("arn:aws:dynamodb:us-east-?:123456789012:table/payments", "wide"),
        ("arn:*:dynamodb:us-east-1:123456789012:table/payments", "wide"),
        (f"arn:aws:dynamodb:us-east-1:{CALLER}:table/payments", "named"),
        (f"arn:aws:dynamodb:us-east-1:{CALLER}:table/${{aws_dynamodb_table.t.name}}*", "wide"),
        ("arn:aws:s3:::bucket/*", "named"),
        ("arn:aws:s3:::bucket*", "wide"),
        ("arn:aws:s3:::*/*", "wide"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:*", "named"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/*", "wide"),
        ("arn:aws:states:us-east-1:123456789012:execution:lifecycle:*", "named"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:*", "named"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn*", "wide"),
        ("arn:aws:execute-api:us-east-1:123456789012:abc123/*/POST/payments", "named"),
        ("arn:aws:sqs:us-east-1:123456789012:paygate-*", "wide"),
        ("arn:aws:kms:us-east-1:123456789012:key/*", "wide"),
        ("arn:aws:madeup:us-east-1:123456789012:thing/x/*", "wide"),  # no ARN format known: not provably named
        ("*", "wide"),
        ("*-payments", "wide"),
        ("${var.table_arn}", "unknown"),
        ("arn:aws:dynamodb:${var.region}:123456789012:table/payments", "unknown"),
        ("arn:aws:dynamodb:${var.region}:123456789012:table/*", "wide"),
        ("var.table_arn", "unknown"),  # an input a plan shows unsubstituted
        ("${var.bucket_arn}/incoming/*", "unknown"),  # a sub-path of a named resource only the plan knows
        ("arn:aws:dynamodb:${var.region}:123456789012:table/payments/index/*", "unknown"),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/p/index/*", "named"),  # a one-character table name
        ("arn:aws:dynamodb:us-east-1:123456789012:table/p*/index/*", "wide"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:g:*", "named"),
    ],
)
def test_resource_patterns_are_named_only_inside_one_resource(pattern: str, scope: str) -> None:
    assert lib.resource_scope(pattern) == scope


@pytest.mark.parametrize(
    ("pattern", "everything"),
    [
        ("*", True),
        ("arn:*", True),
        ("arn:aws:*", True),
        ("arn:aws:*:*:*:*", True),
        ("arn:aws-cn:*", True),
        ("arn:aws:s3:::*", False),
        ("arn:aws:dynamodb:*:*:*", False),
        (TABLE, False),
        (" * ", True),
        ("${var.anything}", False),  # an input is not a wildcard
        ("ARN:AWS:*", False),  # ARNs are case-sensitive: no resource's ARN starts like this
    ],
)
def test_resource_patterns_matching_everything(pattern: str, everything: bool) -> None:
    assert lib.matches_every_resource(pattern) is everything


def test_actions_without_resource_level_permissions_come_from_the_iam_database() -> None:
    assert lib.has_no_resource_level_permissions("xray:PutTraceSegments")
    assert lib.has_no_resource_level_permissions("logs:CreateLogDelivery")
    assert lib.has_no_resource_level_permissions("LOGS:describeloggroups")
    assert not lib.has_no_resource_level_permissions("dynamodb:GetItem")
    assert not lib.has_no_resource_level_permissions("xray:Put*")
    assert not lib.has_no_resource_level_permissions("nosuchservice:Thing")


def test_one_parser_reads_every_spelling_of_a_policy() -> None:
    statement = {"Effect": "Allow", "NotAction": "iam:CreateUser", "Resource": TABLE}
    as_text = lib.parse_policy(json.dumps({"Statement": [statement]}))
    as_dict = lib.parse_policy([{"Statement": statement}])  # a plan: Checkov parsed it, one statement as a dict
    encoded = lib.parse_policy(
        '${jsonencode({"Statement" = [{"Effect" = "Allow", "NotAction" = "iam:CreateUser", "Resource" = "'
        + TABLE
        + '"}]})}'
    )
    for document in (as_text, as_dict, encoded):
        assert document.statements == as_text.statements
        assert not document.unresolved and not document.malformed
    assert as_text.statements[0].granted_actions == ("*",)
    assert lib.parse_policy("${data.aws_iam_policy_document.x.json}").unresolved
    assert lib.parse_policy("aws_iam_policy.x.policy").unresolved
    assert lib.parse_policy('${replace(data.aws_iam_policy_document.x.json, "a", "b")}').unresolved
    assert lib.parse_policy("Allow everything").malformed
    assert lib.parse_policy('{"Statement": 3}').malformed
    assert lib.parse_policy(None) == lib.Document()


def test_a_policy_document_data_source_renders_like_terraform() -> None:
    source = json.dumps({"Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    override = json.dumps({"Statement": [{"Sid": "Write", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})
    conf: dict[str, Any] = {
        "source_policy_documents": [[source]],
        "override_policy_documents": [[override, "${data.aws_iam_policy_document.other.json}"]],
        "statement": [
            {"sid": ["Read"], "actions": [["s3:GetObject"]], "resources": [["arn:aws:s3:::b/*"]]},
            {"sid": ["Write"], "actions": [["sqs:SendMessage"]], "resources": [["arn:aws:sqs:us-east-1:1:q"]]},
            {
                "effect": [None],  # a plan's default
                "actions": [["kms:Decrypt"]],
                "not_actions": [None],
                "resources": [["*"]],
                "not_resources": [None],
                "principals": [[{"type": ["AWS"], "identifiers": [["*"]]}]],
                "not_principals": [[]],
                "condition": [[{"test": ["StringEquals"], "variable": ["kms:CallerAccount"], "values": [[CALLER]]}]],
            },
        ],
    }
    document = lib.policy_document_data(conf)
    assert document.unresolved  # the second override is another document, checked on its own
    read, write, key = document.statements
    assert read.actions == ("s3:GetObject",)  # the block replaced the source statement with the same Sid
    assert write.actions == ("sqs:*",)  # the override replaced the block
    assert (key.allows, key.not_action, key.principals) == (True, False, (lib.Principal("AWS", "*"),))
    assert key.conditions == (lib.Condition("StringEquals", "kms:CallerAccount", (CALLER,)),)
    assert [s.principals for s in lib.identity_documents(conf, lib.POLICY_DOCUMENT)[0].statements] == [None, None]
    assert lib.resource_policy_documents(conf, lib.POLICY_DOCUMENT)[0].statements == (key,)


def statement(principal: Any, condition: dict[str, Any] | None = None, **extra: Any) -> lib.Statement:
    raw = {"Effect": "Allow", "Principal": principal, "Action": "sqs:SendMessage", "Resource": "*", **extra}
    if condition:
        raw["Condition"] = condition
    (parsed,) = lib.parse_policy(json.dumps({"Statement": [raw]})).statements
    return parsed


@pytest.mark.parametrize(
    ("principal", "condition", "exposure"),
    [
        ("*", None, "open"),
        ({"AWS": "*"}, None, "open"),
        ({"AWS": "arn:aws:iam::*:root"}, None, "open"),
        ({"AWS": f"arn:aws:iam::{CALLER}:root"}, None, "closed"),
        ({"AWS": "${aws_iam_role.r.arn}"}, None, "closed"),
        ({"AWS": "999999999999"}, None, "open"),
        ({"AWS": [f"arn:aws:iam::{CALLER}:root", "arn:aws:iam::999999999999:role/x"]}, None, "open"),
        ({"AWS": "${var.reader}"}, None, "unknown"),
        ({"Service": "sns.amazonaws.com"}, None, "open"),
        ({"Service": "sns.amazonaws.com"}, {"ArnEquals": {"aws:SourceArn": "${aws_sns_topic.t.arn}"}}, "closed"),
        ({"Service": "sns.amazonaws.com"}, {"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}, "closed"),
        ({"Service": "sns.amazonaws.com"}, {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": CALLER}}, "closed"),
        ({"Service": "sns.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": "999999999999"}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": "${var.account}"}}, "unknown"),
        ({"Service": "sns.amazonaws.com"}, {"StringEqualsIfExists": {"aws:SourceAccount": CALLER}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"ForAllValues:StringEquals": {"aws:SourceAccount": CALLER}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"ForAnyValue:StringEquals": {"aws:SourceAccount": CALLER}}, "closed"),
        ({"Service": "sns.amazonaws.com"}, {"StringNotEquals": {"aws:SourceAccount": CALLER}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"StringLike": {"aws:SourceAccount": "*"}}, "open"),
        ({"Service": "sns.amazonaws.com"}, {"StringEquals": {"aws:SourceVpce": "vpce-1"}}, "open"),
        ({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, "closed"),
        ({"AWS": "*"}, {"StringLike": {"aws:PrincipalOrgID": "o-*"}}, "open"),
        (
            {"AWS": "*"},
            {"StringEquals": {"kms:CallerAccount": CALLER, "kms:ViaService": "sqs.us-east-1.amazonaws.com"}},
            "closed",
        ),
        ({"AWS": "*"}, {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}, "open"),
        (
            {"Service": "logs.us-east-1.amazonaws.com"},
            {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{CALLER}:log-group:/aws/*"}},
            "closed",
        ),
        ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, None, "open"),
        ({"Federated": f"arn:aws:iam::{CALLER}:oidc-provider/token.actions.githubusercontent.com"}, None, "open"),
        (
            {"Federated": f"arn:aws:iam::{CALLER}:oidc-provider/token.actions.githubusercontent.com"},
            {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/paygate:environment:prod"}},
            "closed",
        ),
        (
            {"Federated": f"arn:aws:iam::{CALLER}:oidc-provider/token.actions.githubusercontent.com"},
            {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}},
            "open",
        ),
        (
            {"Federated": f"arn:aws:iam::{CALLER}:oidc-provider/token.actions.githubusercontent.com"},
            {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
            "open",
        ),
        (
            {"Federated": "cognito-identity.amazonaws.com"},
            {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:12345678-1234-1234-1234-123456789012"}},
            "closed",
        ),
    ],
)
def test_a_resource_policy_statement_is_open_unless_inside_the_account_or_pinned(
    principal: Any, condition: dict[str, Any] | None, exposure: str
) -> None:
    assert lib.statement_exposure(statement(principal, condition), references_caller=False) == exposure


def test_deny_not_principal_and_trust_statements() -> None:
    deny = lib.Statement("Deny", ("s3:*",), ("*",), principals=(lib.Principal("*", "*"),))
    assert lib.statement_exposure(deny, False) == "closed"
    own = {"AWS": f"arn:aws:iam::{CALLER}:root"}
    assert lib.statement_exposure(statement(own), False) == "closed"
    raw = {"Effect": "Allow", "NotPrincipal": own, "Action": "s3:GetObject", "Resource": "*"}
    (not_principal,) = lib.parse_policy(json.dumps({"Statement": raw})).statements
    assert lib.statement_exposure(not_principal, False) == "open"
    service = {"Service": "lambda.amazonaws.com"}
    assert lib.statement_exposure(statement(service, Action="sts:AssumeRole"), False) == "closed"
    assert lib.statement_exposure(statement(service, Action=["sts:AssumeRole", "sqs:*"]), False) == "open"


def test_in_a_plan_the_callers_literal_account_is_unknown_and_others_are_outside() -> None:
    literal = statement({"AWS": "arn:aws:iam::123456789012:root"})
    assert lib.statement_exposure(literal, references_caller=True) == "unknown"
    assert lib.statement_exposure(literal, references_caller=False) == "open"
    assert lib.references_caller_identity({"references_": [["data.aws_caller_identity.current.account_id"]]})
    assert not lib.references_caller_identity({"references_": [["aws_sqs_queue.q.arn"]]})
    assert lib.statement_exposure(statement("*"), references_caller=True) == "open"


@pytest.mark.parametrize(
    ("arn", "verdict"),
    [
        ("${aws_iam_policy.reader.arn}", "allowed"),
        ("aws_iam_policy.reader.arn", "allowed"),
        ("arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess", "allowed"),
        ("arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess", "allowed"),
        ("arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess", "refused"),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", "refused"),
        ("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", "refused"),
        ("arn:aws:iam::123456789012:policy/payments-reader", "refused"),
        ("${data.aws_iam_policy.dynamodb_full_access.arn}", "refused"),
        ("${aws_iam_role.r.arn}", "refused"),
        ("${var.extra_policy_arn}", "unknown"),
        ("arn:aws:iam::${var.account}:policy/x", "unknown"),
    ],
)
def test_attached_managed_policies_come_from_the_stack_or_the_allow_list(arn: str, verdict: str) -> None:
    assert ckv_040.policy_arn_verdict(arn) == verdict


def test_unreadable_policy_text_fails_and_references_are_unknown() -> None:
    check = ckv_025.check
    assert check.scan_entity_conf({"policy": ["Allow everything"]}, "aws_iam_policy") == CheckResult.FAILED
    assert check.scan_entity_conf({"policy": ["${data.aws_iam_policy_document.x.json}"]}, "aws_iam_policy") == (
        CheckResult.UNKNOWN
    )
    resource_policy = ckv_041.check
    assert resource_policy.scan_entity_conf({"policy": ["not json"]}, "aws_sqs_queue_policy") == CheckResult.FAILED


# --- plans made against existing state: literal accounts read back from state -------------------------------------

OWN = "000000000000"
# Statement AllowAccountManagement of the SNS topic policies, as a plan against state reads it back.
ACCOUNT_MANAGEMENT = {
    "Sid": "AllowAccountManagement",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OWN}:root"},
    "Action": ["sns:GetTopicAttributes", "sns:Subscribe", "sns:Publish"],
    "Resource": f"arn:aws:sns:us-east-1:{OWN}:paygate-dev-alarms",
    "Condition": {"StringEquals": {"aws:SourceOwner": OWN}},
}


def read_back(**changes: Any) -> lib.Statement:
    (parsed,) = lib.parse_policy(json.dumps({"Statement": [{**ACCOUNT_MANAGEMENT, **changes}]})).statements
    return parsed


def test_a_literal_account_equal_to_the_resources_own_is_this_account() -> None:
    own = frozenset({OWN})
    assert lib.statement_exposure(read_back(), False, own) == "closed"
    assert lib.statement_exposure(read_back(), False) == "open"  # without the plan's knowledge: outside
    assert lib.account_scope(OWN, False, own) == "own"
    assert lib.account_scope(f"arn:aws:iam::{OWN}:role/r", True, own) == "own"


def test_a_literal_foreign_account_in_the_same_statement_still_fails() -> None:
    own = frozenset({OWN})
    foreign = {"AWS": "arn:aws:iam::999999999999:root"}
    pinned_foreign = {"StringEquals": {"aws:SourceOwner": "999999999999"}}
    assert lib.statement_exposure(read_back(Principal=foreign, Condition=pinned_foreign), False, own) == "open"
    # the caller identity the configuration references may be it only while the plan does not show it
    assert lib.statement_exposure(read_back(Principal=foreign, Condition=pinned_foreign), True, own) == "unknown"
    service = {"Service": "cloudwatch.amazonaws.com"}
    assert lib.statement_exposure(read_back(Principal=service, Condition=pinned_foreign), False, own) == "open"
    assert lib.statement_exposure(read_back(Principal=service), False, own) == "closed"
    assert lib.account_scope("999999999999", False, own) == "outside"


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:sns:us-east-1:000000000000:paygate-dev-alarms", "000000000000"),
        ("arn:aws:iam::123456789012:role/r", "123456789012"),
        ("arn:aws-us-gov:kms:us-gov-west-1:210987654321:key/k", "210987654321"),
        ("arn:aws:s3:::bucket", None),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", None),
        ("${aws_sns_topic.t.arn}", None),
        (None, None),
    ],
)
def test_arn_account_reads_the_account_field(arn: Any, account: str | None) -> None:
    assert lib.arn_account(arn) == account


def test_what_another_block_sets_is_not_judged_here() -> None:
    assert lib.NOWHERE.covers("any") is False
    assert lib.SetElsewhere(whole=True).covers(None)
    by_name = lib.SetElsewhere(entries=frozenset({"push-to-cloudwatch-logs"}))
    assert by_name.covers("push-to-cloudwatch-logs") and not by_name.covers("added-in-console")
    exclusive = lib.SetElsewhere(kept=frozenset({"kept"}))
    assert exclusive.covers("removed-at-apply") and not exclusive.covers("kept")


def test_a_stack_policy_arn_read_from_state_is_allowed_and_no_other() -> None:
    stack_policy = "arn:aws:iam::000000000000:policy/paygate-dev-reader"
    assert ckv_040.policy_arn_verdict(stack_policy, frozenset({stack_policy})) == "allowed"
    assert ckv_040.policy_arn_verdict(stack_policy) == "refused"
    assert ckv_040.policy_arn_verdict("arn:aws:iam::999999999999:policy/x", frozenset({stack_policy})) == "refused"


@pytest.mark.parametrize(
    ("failed", "unknown", "result"),
    [
        (False, False, CheckResult.PASSED),
        (False, True, CheckResult.UNKNOWN),
        (True, True, CheckResult.FAILED),
        (True, False, CheckResult.FAILED),
    ],
)
def test_a_verdict_is_failed_over_unknown_over_passed(failed: bool, unknown: bool, result: CheckResult) -> None:
    assert lib.verdict(failed, unknown) is result


def test_nested_values_are_flattened_in_order() -> None:
    """Checkov wraps values and blocks in lists at any depth: every item is kept, in order."""
    assert lib._document_blocks([[{"a": 1}], [[{"b": 2}], {"c": 3}], "x"]) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert lib._strings([["a"], ["b", [1, None]], True]) == ["a", "b", "1", "true"]


def test_a_statement_keeps_its_sid() -> None:
    document = {"Statement": [{"Sid": "AllowPublish", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}
    [named] = lib.parse_policy(json.dumps(document)).statements
    [anonymous] = lib.parse_policy(json.dumps({"Statement": [{"Effect": "Deny", "Action": "*"}]})).statements
    assert (named.sid, anonymous.sid) == ("AllowPublish", None)
