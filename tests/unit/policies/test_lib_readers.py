"""policies.lib on the values Checkov hands a check: lists of one, references in both input kinds, policy text.

The fixture folders test the checks end to end through Checkov; these test the shared readers directly
(fast, and what `make mutation` runs against ``policies/lib.py``).
"""

from __future__ import annotations

import json

import pytest
from checkov.common.models.enums import CheckResult

from policies import lib

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_unwrap_takes_lists_of_one_apart_repeatedly_and_leaves_everything_else() -> None:
    assert lib.unwrap([[["x"]]]) == "x"
    assert lib.unwrap([{"a": 1}]) == {"a": 1}
    assert lib.unwrap(["a", "b"]) == ["a", "b"]
    assert lib.unwrap([]) == []
    assert lib.unwrap([[1, 2]]) == [1, 2]
    assert lib.unwrap("x") == "x"
    assert lib.unwrap(None) is None


def test_get_walks_a_path_through_lists_of_one() -> None:
    conf = {"server_side_encryption": [{"enabled": [True], "kms_key_arn": [[KEY_ARN]]}]}
    assert lib.get(conf, "server_side_encryption", "kms_key_arn") == KEY_ARN
    assert lib.get(conf, "server_side_encryption", "enabled") is True
    assert lib.get([conf], "server_side_encryption") == {"enabled": [True], "kms_key_arn": [[KEY_ARN]]}
    assert lib.get(conf) == conf
    assert lib.get(conf, "missing") is None
    assert lib.get(conf, "server_side_encryption", "enabled", "deeper") is None
    assert lib.get("not a mapping", "x") is None


@pytest.mark.parametrize(
    "value",
    [
        "${aws_kms_key.payments.arn}",
        "aws_kms_key.payments.arn",
        "${data.aws_iam_policy_document.x.json}",
        "data.aws_caller_identity.current.account_id",
        "${var.key_arn}",
        "local.tags",
        "module.storage.bucket",
        "  ${aws_sqs_queue.q.arn}  ",
        '${aws_iam_role.r["a"].arn}',
        "aws_lambda_function.f[0].arn",
    ],
)
def test_a_value_that_is_only_a_reference_is_one(value: str) -> None:
    assert lib.is_reference(value) is True


@pytest.mark.parametrize(
    "value",
    [
        KEY_ARN,
        "arn:${data.aws_partition.p.partition}:s3:::bucket",
        "alias/aws/s3",
        "${aws_kms_key.payments.arn}/suffix",
        "prefix-${aws_kms_key.payments.arn}",
        "aws_kms_key",
        "",
        None,
        ["${aws_kms_key.payments.arn}"],
        42,
    ],
)
def test_literals_and_strings_that_only_contain_a_reference_are_not_references(value: object) -> None:
    assert lib.is_reference(value) is False


def test_referenced_types_are_read_from_every_interpolation_or_the_bare_reference() -> None:
    assert lib.referenced_types("${aws_kms_key.k.arn}") == {"aws_kms_key"}
    assert lib.referenced_types("aws_kms_alias.a.target_key_arn") == {"aws_kms_alias"}
    assert lib.referenced_types("${aws_s3_bucket.b.arn}/${aws_sqs_queue.q.name}") == {"aws_s3_bucket", "aws_sqs_queue"}
    assert lib.referenced_types("${var.x}") == {"var"}
    assert lib.referenced_types("alias/aws/s3") == set()
    assert lib.referenced_types(KEY_ARN) == set()
    assert lib.referenced_types("${aws_kms_key.k.arn") == {"aws_kms_key"}  # no closing brace: not an interpolation


@pytest.mark.parametrize(
    ("value", "result"),
    [
        (KEY_ARN, CheckResult.PASSED),
        ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abcd-12", CheckResult.PASSED),
        ([[KEY_ARN]], CheckResult.PASSED),
        ("${aws_kms_key.payments.arn}", CheckResult.PASSED),
        ("aws_kms_key.payments.arn", CheckResult.PASSED),
        ("${aws_kms_alias.payments.arn}", CheckResult.PASSED),
        ("${aws_kms_replica_key.r.arn}", CheckResult.PASSED),
        ("${aws_kms_external_key.e.arn}", CheckResult.PASSED),
        ("arn:aws:kms:${var.region}:123456789012:key/${aws_kms_key.k.key_id}", CheckResult.PASSED),
        ("${var.key_arn}", CheckResult.FAILED),
        ("${aws_s3_bucket.b.arn}", CheckResult.FAILED),
        ("arn:aws:kms:${var.region}:123456789012:alias/x", CheckResult.FAILED),
        ("alias/aws/s3", CheckResult.FAILED),
        ("arn:aws:kms:eu-west-1:123456789012:alias/aws/sqs", CheckResult.FAILED),
        ("arn:aws:kms:eu-west-1:1234:key/abcd", CheckResult.FAILED),
        ("arn:aws:kms:eu-west-1:123456789012:key/ABCD", CheckResult.FAILED),
        ("", CheckResult.FAILED),
        ("   ", CheckResult.FAILED),
        (None, CheckResult.FAILED),
        (True, CheckResult.FAILED),
        (["a", "b"], CheckResult.FAILED),
    ],
)
def test_a_customer_managed_key_is_a_key_arn_or_a_reference_to_a_key_resource(value: object, result) -> None:
    assert lib.customer_managed_key(value) == result


def test_tags_merge_the_resource_tags_over_the_provider_ones_without_checkov_bookkeeping() -> None:
    conf = {
        "tags_all": [{"Team": ["platform"], "Environment": ["dev"], "__startline__": 3}],
        "tags": [{"Environment": ["prod"], "Owner": "payments", "start_line": 4, "end_line": 9}],
    }
    assert lib.tags(conf) == {"Team": "platform", "Environment": "prod", "Owner": "payments"}
    assert lib.tags({}) == {}
    assert lib.tags({"tags": ["not a mapping"]}) == {}
    assert lib.tags({"tags": ["${local.tags}"]}) is None
    assert lib.tags({"tags_all": "var.tags", "tags": [{"A": "b"}]}) is None


def test_policy_statements_come_from_json_text_or_a_parsed_document() -> None:
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    text = json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]})
    assert lib.policy_statements(text) == [allow, deny]
    assert lib.policy_statements([text]) == [allow, deny]
    assert lib.policy_statements({"Statement": allow}) == [allow]
    assert lib.policy_statements({"Statement": [[allow]]}) == [allow]
    assert lib.policy_statements({"Statement": [allow, "junk", 3]}) == [allow]
    assert lib.policy_statements({"Version": "2012-10-17"}) == []


@pytest.mark.parametrize(
    "value",
    ["${data.aws_iam_policy_document.x.json}", "data.aws_iam_policy_document.x.json", "{not json", "[1, 2]", 7, None],
)
def test_an_unresolved_or_unreadable_policy_has_no_statements(value: object) -> None:
    assert lib.policy_statements(value) is None


def test_as_list_makes_a_list_of_one_value_and_keeps_lists() -> None:
    assert lib.as_list(None) == []
    assert lib.as_list("s3:GetObject") == ["s3:GetObject"]
    assert lib.as_list(["a", "b"]) == ["a", "b"]
