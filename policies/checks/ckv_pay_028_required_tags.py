"""Ensure every taggable resource carries Environment, Application and DataClassification tags."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, resource_tags

REQUIRED_TAGS = ("Environment", "Application", "DataClassification")
DATA_CLASSES = ("public", "internal", "confidential", "restricted", "cardholder")
# The taggable resource types the platform uses (aws_*_policy, methods, integrations etc. take no tags).
TAGGABLE = [
    "aws_api_gateway_api_key",
    "aws_api_gateway_rest_api",
    "aws_api_gateway_stage",
    "aws_api_gateway_usage_plan",
    "aws_cloudwatch_log_group",
    "aws_cloudwatch_metric_alarm",
    "aws_dynamodb_table",
    "aws_iam_role",
    "aws_kms_key",
    "aws_lambda_function",
    "aws_s3_bucket",
    "aws_sfn_state_machine",
    "aws_sns_topic",
    "aws_sqs_queue",
]


class RequiredTags(BaseResourceCheck):
    """Ensure every taggable resource carries Environment, Application and DataClassification tags."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure every taggable resource carries Environment, Application and DataClassification tags",
            id="CKV_PAY_028",
            categories=[CheckCategories.CONVENTION],
            supported_resources=TAGGABLE,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        found = resource_tags(self, conf)
        if found is None:
            return CheckResult.UNKNOWN
        values = [found.get(name) for name in REQUIRED_TAGS]
        if any(not isinstance(v, str) or not v for v in values):
            return CheckResult.FAILED
        if any(is_reference(v) for v in values):
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if str(values[2]).lower() in DATA_CLASSES else CheckResult.FAILED


check = RequiredTags()
