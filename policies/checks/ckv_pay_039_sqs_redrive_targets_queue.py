"""Ensure an SQS redrive policy names a dead-letter queue and a bounded receive count."""

from __future__ import annotations

import json
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, referenced_types, unwrap

MAX_RECEIVE_COUNT = 10


class SQSRedriveTargetsQueue(BaseResourceCheck):
    """Ensure an SQS redrive policy names a dead-letter queue and a bounded receive count."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure SQS redrive policies target a dead-letter queue with maxReceiveCount between 1 and 10",
            id="CKV_PAY_039",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_sqs_queue"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        policy = unwrap(conf.get("redrive_policy"))
        if policy is None or policy == "":
            return CheckResult.PASSED  # whether a queue needs one is CKV_PAY_034's question
        if isinstance(policy, str):
            if is_reference(policy):
                return CheckResult.UNKNOWN
            try:
                policy = json.loads(policy)
            except ValueError:
                return CheckResult.FAILED
        if not isinstance(policy, dict):
            return CheckResult.FAILED
        target = unwrap(policy.get("deadLetterTargetArn"))
        count = unwrap(policy.get("maxReceiveCount"))
        if not isinstance(target, str) or not target:
            return CheckResult.FAILED
        points_at_queue = target.startswith("arn:aws") and ":sqs:" in target
        points_at_queue = points_at_queue or "aws_sqs_queue" in referenced_types(target)
        if not points_at_queue:
            return CheckResult.UNKNOWN if is_reference(target) or "${" in target else CheckResult.FAILED
        if isinstance(count, str) and count.isdigit():
            count = int(count)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_RECEIVE_COUNT:
            return CheckResult.FAILED
        return CheckResult.PASSED


check = SQSRedriveTargetsQueue()
