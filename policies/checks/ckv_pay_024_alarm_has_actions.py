"""Ensure CloudWatch alarms are enabled and notify someone when they fire."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import unwrap


class AlarmHasActions(BaseResourceCheck):
    """Ensure CloudWatch alarms are enabled and notify someone when they fire."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure CloudWatch alarms are enabled and notify someone when they fire",
            id="CKV_PAY_024",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_cloudwatch_metric_alarm"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if unwrap(conf.get("actions_enabled")) is False:
            return CheckResult.FAILED
        actions = conf.get("alarm_actions")
        actions = unwrap(actions) if isinstance(actions, list) and actions and isinstance(actions[0], list) else actions
        if isinstance(actions, str):
            actions = [actions]
        return CheckResult.PASSED if isinstance(actions, list) and any(actions) else CheckResult.FAILED


check = AlarmHasActions()
