"""EnvironmentTags: every taggable resource carries the environment's tags explicitly in cdk.tf.json."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cdktf import TerraformResource

REQUIRED = ("Environment", "Application", "DataClassification")
# AWS tag values: up to 256 Unicode letters, digits, spaces and _.:/=+-@
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")


def taggable(synthesized: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(construct, synthesized body) of every resource whose construct has a ``tags_input`` attribute."""
    found = []
    for node in synthesized.stack.node.find_all():
        if isinstance(node, TerraformResource) and hasattr(node, "tags_input"):
            body = synthesized.resources(node.terraform_resource_type)[node.friendly_unique_id]
            found.append((node, body))
    return found


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_every_taggable_resource_carries_the_environment_tags(fixture: str, request: pytest.FixtureRequest) -> None:
    synthesized = request.getfixturevalue(fixture)
    resources = taggable(synthesized)

    assert len(resources) >= 40
    for node, body in resources:
        where = f"{node.terraform_resource_type}.{node.friendly_unique_id}"
        assert set(REQUIRED) <= set(body.get("tags", {})), where
        assert body["tags"]["Environment"] == synthesized.config.environment, where
        assert body["tags"]["Application"] == "paygate", where
        assert body["tags"]["DataClassification"] in ("confidential", "internal"), where


def test_every_taggable_resource_type_is_covered(stack) -> None:
    types = {node.terraform_resource_type for node, _ in taggable(stack)}
    assert {
        "aws_kms_key",
        "aws_s3_bucket",
        "aws_dynamodb_table",
        "aws_sqs_queue",
        "aws_sns_topic",
        "aws_lambda_function",
        "aws_iam_role",
        "aws_cloudwatch_log_group",
        "aws_sfn_state_machine",
        "aws_api_gateway_rest_api",
        "aws_api_gateway_stage",
        "aws_cloudwatch_metric_alarm",
    } <= types


def test_a_resource_keeps_its_own_classification(stack) -> None:
    assert stack.bucket("access-logs")[1]["tags"]["DataClassification"] == "internal"
    assert stack.bucket("batch-files")[1]["tags"]["DataClassification"] == "confidential"
    _, idempotency = stack.named("aws_dynamodb_table", "paygate-dev-idempotency")
    assert idempotency["tags"]["DataClassification"] == "internal"


def test_commit_tag_appears_only_when_configured(stack, protected_stack) -> None:
    assert all("GitCommit" not in body["tags"] for _, body in taggable(stack))
    assert all(body["tags"]["GitCommit"] == "0123abc" for _, body in taggable(protected_stack))


def test_tag_values_are_valid_aws_tag_values(stack) -> None:
    for _, body in taggable(stack):
        for key, value in body["tags"].items():
            assert len(key) <= 128
            assert TAG_VALUE.fullmatch(value), f"{key}={value!r}"
