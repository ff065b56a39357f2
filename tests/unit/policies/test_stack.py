"""Following references through the whole input (policies/stack.py) and the rules built on it (policies/lib.py).

The fixtures prove each check on both input kinds; these pin the members of each kind a fixture cannot show
(cases whose plan would need real AWS, command lines Checkov may be started with, wildcard corner cases).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from checkov.common.models.enums import CheckResult

from policies import lib, stack
from policies.checks import ckv_pay_038_s3_policy_denies_insecure_transport as tls
from policies.checks import ckv_pay_050_sns_subscription_encrypted_delivery as sns
from policies.stack import Reference, Stack
from tests.unit.policies.support import FakeCheck


def a_stack(**blocks: dict[str, Any]) -> Stack:
    """A stack from ``type__name=attrs`` (``data__type__name`` for data sources)."""
    return Stack({k.replace("__", "."): {**v, "__provider__": v.get("provider", "aws")} for k, v in blocks.items()})


# --- references -----------------------------------------------------------------------------------------------


def test_template_splits_literals_and_references() -> None:
    parts = stack.template("arn:${data.aws_partition.p.partition}:s3:::${aws_s3_bucket.b[0].id}/*")
    assert parts == [
        "arn:",
        Reference("data.aws_partition.p", "partition", "data.aws_partition.p.partition"),
        ":s3:::",
        Reference("aws_s3_bucket.b", "id", "aws_s3_bucket.b[0].id"),
        "/*",
    ]


def test_a_function_call_is_an_expression_the_pack_does_not_follow() -> None:
    assert stack.template('${lookup(var.keys, "s3")}') == [Reference("", None, 'lookup(var.keys, "s3")')]


def test_a_plans_bare_reference_is_one_reference_but_a_literal_arn_is_not() -> None:
    assert stack.template("aws_kms_key.k.arn") == [Reference("aws_kms_key.k", "arn", "aws_kms_key.k.arn")]
    assert stack.template("arn:aws:kms:us-east-1:123456789012:key/1") == ["arn:aws:kms:us-east-1:123456789012:key/1"]


def test_split_address_separates_nested_modules_and_drops_indices() -> None:
    assert stack.split_address('module.a["x"].module.b.data.aws_kms_key.k[0]') == (
        "module.a.module.b",
        "data.aws_kms_key.k",
    )
    assert stack.split_address("aws_sqs_queue.q") == ("", "aws_sqs_queue.q")


# --- locating the input from Checkov's command line ---------------------------------------------------------------


def write_module(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "main.tf.json").write_text(json.dumps({"resource": {"aws_sqs_queue": {"q": {}}}}), encoding="utf-8")
    (folder / "keys.tf.json").write_text(
        json.dumps({"data": {"aws_kms_alias": {"s3": {"name": "alias/aws/s3"}}}, "variable": {"v": {"default": 1}}}),
        encoding="utf-8",
    )
    return folder / "main.tf.json"


def test_locate_finds_a_scanned_directory_and_reads_the_whole_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path / "root" / "stack")
    monkeypatch.setattr(sys, "argv", ["checkov", "--directory", str(tmp_path / "root"), "--framework", "x"])
    found = stack.locate(FakeCheck("/stack/main.tf.json:aws_sqs_queue:q"), {})
    assert found is not None
    located, address = found
    assert address == "aws_sqs_queue.q"
    assert located.block("data.aws_kms_alias.s3") == {"name": "alias/aws/s3", "__provider__": "aws"}
    assert located.value(Reference("var.v", None, "var.v")) == (True, 1)


def test_locate_finds_a_scanned_file_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path / "stack")
    monkeypatch.chdir(tmp_path / "stack")
    monkeypatch.setattr(sys, "argv", ["checkov", "-f", "main.tf.json"])
    assert stack.locate(FakeCheck("/main.tf.json:aws_sqs_queue:q"), {}) is not None


def test_locate_refuses_a_file_that_does_not_declare_the_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path / "stack")
    monkeypatch.chdir(tmp_path / "stack")
    monkeypatch.setattr(sys, "argv", ["checkov", "-f", "main.tf.json"])
    assert stack.locate(FakeCheck("/main.tf.json:aws_sqs_queue:other"), {}) is None
    assert stack.locate(FakeCheck("/missing.tf.json:aws_sqs_queue:q"), {}) is None


def test_an_untraceable_key_fails_when_the_input_cannot_be_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["checkov"])
    check = FakeCheck("/nowhere.tf.json:aws_sqs_queue:q")
    assert lib.checked_key(check, {}, "${data.aws_kms_alias.x.target_key_arn}") == CheckResult.FAILED
    assert lib.checked_key(check, {}, "${aws_kms_key.k.arn}") == CheckResult.PASSED


def test_locate_reads_a_plan_module_named_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = {
        "format_version": "1.2",
        "planned_values": {"root_module": {"child_modules": [{"address": "module.m", "resources": []}]}},
        "prior_state": {
            "values": {
                "root_module": {
                    "child_modules": [
                        {
                            "address": "module.m",
                            "resources": [
                                {
                                    "address": "module.m.data.aws_kms_key.k",
                                    "mode": "data",
                                    "values": {"arn": "arn:aws:kms:us-east-1:1:key/k1", "key_manager": "AWS"},
                                }
                            ],
                        }
                    ]
                }
            }
        },
        "configuration": {
            "provider_config": {
                "module.m:aws": {
                    "name": "aws",
                    "expressions": {"default_tags": [{"tags": {"constant_value": {"A": "1"}}}]},
                }
            },
            "root_module": {
                "module_calls": {
                    "m": {
                        "module": {
                            "resources": [
                                {
                                    "address": "aws_sqs_queue.q",
                                    "provider_config_key": "module.m:aws",
                                    "expressions": {},
                                },
                                {"address": "data.aws_kms_key.k", "expressions": {"key_id": {"constant_value": "x"}}},
                            ]
                        }
                    }
                }
            },
        },
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    monkeypatch.setattr(
        sys, "argv", ["checkov", "--file", str(tmp_path / "plan.json"), "--framework", "terraform_plan"]
    )
    found = stack.locate(FakeCheck("/plan.json:aws_sqs_queue:q"), {"__address__": "module.m.aws_sqs_queue.q"})
    assert found is not None
    located, address = found
    assert lib.default_tags(located, address) == {"A": "1"}
    assert located.known_keys == {"arn:aws:kms:us-east-1:1:key/k1": "AWS"}
    assert lib.key_manager("arn:aws:kms:us-east-1:1:key/k1", located) == lib.AWS_MANAGED
    assert lib.key_manager("${data.aws_kms_key.k.arn}", located) == lib.AWS_MANAGED


def test_a_plan_tells_what_the_configuration_wrote_from_what_the_provider_read_back() -> None:
    role = "aws_iam_role.r"
    plan = Stack(
        {role: {"arn": "arn:aws:iam::000000000000:role/r", "name": "r", "inline_policy": [{"name": "p"}]}},
        configuration={
            role: {
                "name": {"constant_value": "r"},
                "assume_role_policy": {
                    "references": ["data.aws_caller_identity.c.account_id", "data.aws_caller_identity.c"]
                },
                "tags": [{"team": {"references": ["var.team"]}}],
            }
        },
    )
    assert plan.is_plan
    assert plan.declares(role, "name") and not plan.declares(role, "inline_policy") and not plan.declares(role, "arn")
    assert plan.references(role) == ("data.aws_caller_identity.c.account_id", "data.aws_caller_identity.c", "var.team")
    assert plan.references(role, "name") == ()
    assert plan.references(role, "tags") == ("var.team",)
    synthesized = a_stack(aws_iam_role__r={"name": "r", "policy": "arn:${data.aws_partition.p.partition}:${var.x}"})
    assert not synthesized.is_plan
    assert synthesized.declares(role, "name") and not synthesized.declares(role, "inline_policy")
    assert synthesized.references(role) == ("data.aws_partition.p.partition", "var.x")
    assert synthesized.references(role, "name") == ()


# --- keys ---------------------------------------------------------------------------------------------------------

KEYS = a_stack(
    aws_kms_key__k={},
    data__aws_kms_alias__aws={"name": "alias/aws/s3"},
    data__aws_kms_alias__mine={"name": "alias/payments"},
    data__aws_kms_key__by_var={"key_id": "${var.key}"},
    data__aws_kms_key__unset_var={"key_id": "${var.unset}"},
    data__aws_kms_key__loop_a={"key_id": "${data.aws_kms_key.loop_b.arn}"},
    data__aws_kms_key__loop_b={"key_id": "${data.aws_kms_key.loop_a.arn}"},
)
KEYS = Stack(KEYS.blocks, variables={"key": "alias/aws/dynamodb"}, locals={"key": "${aws_kms_key.k.arn}"})


@pytest.mark.parametrize(
    ("value", "manager"),
    [
        ("alias/aws/s3", lib.AWS_MANAGED),
        ("arn:aws:kms:us-east-1:123456789012:alias/aws/sqs", lib.AWS_MANAGED),
        ("arn:${data.aws_partition.p.partition}:kms:${var.region}:${var.account}:alias/aws/sns", lib.AWS_MANAGED),
        ("${data.aws_kms_alias.aws.target_key_arn}", lib.AWS_MANAGED),
        ("${data.aws_kms_key.by_var.arn}", lib.AWS_MANAGED),
        ("${var.key}", lib.AWS_MANAGED),
        ("alias/payments", lib.CUSTOMER_MANAGED),
        ("${data.aws_kms_alias.mine.target_key_id}", lib.CUSTOMER_MANAGED),
        ("${local.key}", lib.CUSTOMER_MANAGED),
        ("arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", lib.CUSTOMER_MANAGED),
        (
            "arn:${data.aws_partition.p.partition}:kms:${var.region}:${var.account}:key/1234abcd-12ab",
            lib.CUSTOMER_MANAGED,
        ),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", lib.UNRESOLVED),  # an id alone does not say who manages the key
        ("${data.aws_kms_key.unset_var.arn}", lib.UNRESOLVED),
        ("${data.aws_kms_key.loop_a.arn}", lib.UNRESOLVED),
        ("${data.aws_kms_alias.missing.arn}", lib.UNRESOLVED),
        ("${aws_ssm_parameter.key.value}", lib.UNRESOLVED),
        ("${module.kms.key_arn}", lib.UNRESOLVED),
        ("", lib.NO_KEY),
        (None, lib.NO_KEY),
    ],
)
def test_key_manager_follows_the_reference_to_who_manages_the_key(value: Any, manager: str) -> None:
    assert lib.key_manager(value, KEYS) == manager


def test_only_a_customer_managed_key_passes() -> None:
    results = {v: lib.customer_managed_key(v, KEYS) for v in ("${aws_kms_key.k.arn}", "alias/aws/s3", "x", None)}
    assert results == {
        "${aws_kms_key.k.arn}": CheckResult.PASSED,
        "alias/aws/s3": CheckResult.FAILED,
        "x": CheckResult.FAILED,
        None: CheckResult.FAILED,
    }


# --- tags ---------------------------------------------------------------------------------------------------------


def test_default_tags_come_from_the_resources_own_provider_and_its_values_win() -> None:
    providers = {
        "aws": {"default_tags": [{"tags": {"Environment": "dev", "Application": "paygate"}}]},
        "aws.other": {"default_tags": {"tags": "${var.tags}"}},
        "aws.unknown": {"default_tags": {"tags": "${var.unset}"}},
    }
    blocks = {
        "aws_sqs_queue.a": {"__provider__": "aws"},
        "aws_sqs_queue.b": {"__provider__": "aws.other"},
        "aws_sqs_queue.c": {"__provider__": "aws.unknown"},
    }
    located = Stack(blocks, providers, variables={"tags": {"Environment": "prod"}})
    assert lib.default_tags(located, "aws_sqs_queue.a") == {"Environment": "dev", "Application": "paygate"}
    assert lib.default_tags(located, "aws_sqs_queue.b") == {"Environment": "prod"}
    assert lib.default_tags(located, "aws_sqs_queue.c") is None
    defaults = lib.default_tags(located, "aws_sqs_queue.a")
    assert lib.tags({"tags": [{"Environment": "prod"}]}, defaults) == {"Environment": "prod", "Application": "paygate"}


# --- IAM wildcards ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "covers"),
    [
        *[("*", True), ("s3:*", True), ("s3:?*", True), ("s3*", True), ("s3:*?*", True), ("s?:*", True)],
        *[("s3:??*", False), ("s3:Get*", False), ("s3:", False), ("s3:?", False), ("sqs:*", False)],
    ],
)
def test_an_action_pattern_covers_every_s3_action_only_when_it_matches_any_name(pattern: str, covers: bool) -> None:
    assert lib.iam_glob_covers_prefix(pattern.lower(), "s3:") is covers


@pytest.mark.parametrize(
    ("pattern", "bucket", "objects"),
    [
        ("arn:aws:s3:::b", True, False),
        ("arn:aws:s3:::b/*", False, True),
        ("arn:aws:s3:::b*", True, True),
        ("arn:aws:s3:::*", True, True),
        ("arn:aws:s3:::b/a*", False, False),
        ("arn:aws:s3:::?", True, False),
        ("arn:aws:s3:::bb*", False, False),
    ],
)
def test_a_resource_pattern_covers_the_bucket_and_its_objects(pattern: str, bucket: bool, objects: bool) -> None:
    assert lib.iam_glob_match(pattern, "arn:aws:s3:::b") is bucket
    assert lib.iam_glob_covers_prefix(pattern, "arn:aws:s3:::b/") is objects


def test_may_match_prefix_is_true_for_any_pattern_that_could_name_one_object() -> None:
    assert lib.iam_glob_may_match_prefix("arn:aws:s3:::b/private/*", "arn:aws:s3:::b/")
    assert lib.iam_glob_may_match_prefix("*", "s3:")
    assert not lib.iam_glob_may_match_prefix("sqs:*", "s3:")
    assert not lib.iam_glob_may_match_prefix("arn:aws:s3:::b/", "arn:aws:s3:::b/")  # an empty key is no object


# --- the TLS-only Deny (CKV_PAY_038) -----------------------------------------------------------------------------

BOTH = ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def deny(**changes: Any) -> dict[str, Any]:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": BOTH,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    statement.update(changes)
    return {k: v for k, v in statement.items() if v is not None}


@pytest.mark.parametrize(
    ("statement", "covers"),
    [
        (deny(), True),
        (deny(Action="S3:*"), True),
        (deny(Action=None, NotAction=["sqs:*"]), True),
        (deny(Action=None, NotAction=["s3:GetObject"]), False),
        (deny(Resource=None, NotResource=["arn:aws:s3:::other/*"]), True),
        (deny(Resource=None, NotResource=["arn:aws:s3:::b/public/*"]), False),
        (deny(Condition={"Bool": {"aws:securetransport": False}}), True),
        (deny(Condition={"Bool": {"aws:SecureTransport": ["false"]}}), True),
        (deny(Condition={"Bool": {"aws:SecureTransport": "true"}}), False),
        (deny(Condition={"ForAnyValue:Bool": {"aws:SecureTransport": "false"}}), False),
        (deny(Condition={"Bool": {"aws:SecureTransport": "false", "aws:ViaAWSService": "false"}}), False),
        (deny(Condition=None), False),
        (deny(Principal={"AWS": ["arn:aws:iam::123456789012:root", "*"]}), True),
        (deny(Principal={"Service": "*"}), False),
        (deny(Effect="Allow"), False),
    ],
)
def test_the_deny_must_cover_everything_without_narrowing(statement: dict[str, Any], covers: bool) -> None:
    assert tls.covers_bucket_and_objects([statement], "b", None) is covers


def test_bucket_references_resolve_to_the_buckets_name() -> None:
    located = a_stack(aws_s3_bucket__b={"bucket": "paygate-${data.aws_caller_identity.c.account_id}"})
    name = tls.resolve_text("${aws_s3_bucket.b.id}", located)
    assert name == "paygate-⟨data.aws_caller_identity.c.account_id⟩"
    assert tls.arn_text("arn:aws-us-gov:s3:::${aws_s3_bucket.b.bucket}/*", located) == f"arn:aws:s3:::{name}/*"
    assert tls.resolve_text("${aws_s3_bucket.b.arn}", located) == f"arn:aws:s3:::{name}"
    assert tls.resolve_text("${var.other}", located) == "⟨var.other⟩"


def test_a_policy_document_merges_source_statements_and_overrides_by_sid() -> None:
    source = json.dumps({"Statement": [{"Sid": "Tls", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    located = a_stack(
        data__aws_iam_policy_document__doc={
            "source_policy_documents": [source],
            "statement": [
                {
                    "sid": "Tls",
                    "effect": "Deny",
                    "actions": ["s3:*"],
                    "resources": BOTH,
                    "not_principals": [{"type": "AWS", "identifiers": ["arn:aws:iam::1:root"]}],
                    "condition": [
                        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]},
                        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]},
                    ],
                }
            ],
            "override_policy_documents": ["${data.aws_iam_policy_document.extra.json}"],
        },
        data__aws_iam_policy_document__extra={"statement": [{"effect": "Deny", "actions": ["s3:PutObject"]}]},
    )
    statements = lib.policy_document("${data.aws_iam_policy_document.doc.json}", located)
    assert statements is not None and len(statements) == 2
    tls_statement = statements[0]
    assert tls_statement["Effect"] == "Deny" and tls_statement["NotPrincipal"] == {"AWS": ["arn:aws:iam::1:root"]}
    assert tls_statement["Condition"] == {"Bool": {"aws:SecureTransport": ["false"], "aws:SecureTransport#1": ["true"]}}
    assert lib.policy_document("${data.aws_iam_policy_document.missing.json}", located) is None
    assert lib.policy_document('${jsonencode({"Statement": []})}', located) is None


# --- SNS subscriptions (CKV_PAY_050) ------------------------------------------------------------------------------


def test_a_topic_carries_payment_data_unless_classified_public_or_internal() -> None:
    located = Stack(
        {
            "aws_sns_topic.alarms": {
                "name": "alarms",
                "tags": {"DataClassification": "Internal"},
                "__provider__": "aws",
            },
            "aws_sns_topic.events": {"name": "events", "__provider__": "aws"},
            "aws_sns_topic.by_default": {"name": "d", "__provider__": "aws.public"},
            "data.aws_sns_topic.alarms": {"name": "alarms", "__provider__": "aws"},
        },
        {"aws.public": {"default_tags": [{"tags": {"DataClassification": "public"}}]}},
    )
    assert sns.topic_of("${data.aws_sns_topic.alarms.arn}", located) == "aws_sns_topic.alarms"
    assert sns.topic_of("arn:aws:sns:us-east-1:1:events", located) == "aws_sns_topic.events"
    assert sns.topic_of("${aws_sns_topic.events.id}", located) == "aws_sns_topic.events"
    assert sns.topic_of("${var.topic}", located) is None
    assert not sns.carries_payment_data("aws_sns_topic.alarms", located)
    assert not sns.carries_payment_data("aws_sns_topic.by_default", located)
    assert sns.carries_payment_data("aws_sns_topic.events", located)
    assert sns.carries_payment_data(None, located)
