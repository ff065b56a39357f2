"""Ensure Step Functions log to CloudWatch without execution data."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get, is_reference


class StateMachineLogsWithoutExecutionData(BaseResourceCheck):
    """Ensure Step Functions log to CloudWatch without execution data."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Step Functions log to CloudWatch without execution data",
            id="CKV_PAY_022",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_sfn_state_machine"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        level = get(conf, "logging_configuration", "level")
        destination = get(conf, "logging_configuration", "log_destination")
        include_data = get(conf, "logging_configuration", "include_execution_data")
        if is_reference(level) or is_reference(include_data):
            return CheckResult.UNKNOWN
        if level not in ("ALL", "ERROR", "FATAL") or not isinstance(destination, str) or not destination:
            return CheckResult.FAILED
        # Execution data carries payment payloads: it must not reach the logs (PCI DSS 3.3/3.4).
        return CheckResult.FAILED if include_data is True else CheckResult.PASSED


check = StateMachineLogsWithoutExecutionData()
