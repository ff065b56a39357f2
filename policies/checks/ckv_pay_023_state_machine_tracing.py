"""Ensure Step Functions state machines have X-Ray tracing enabled."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import get


class StateMachineTracing(BaseResourceCheck):
    """Ensure Step Functions state machines have X-Ray tracing enabled."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Step Functions state machines have X-Ray tracing enabled",
            id="CKV_PAY_023",
            categories=[CheckCategories.LOGGING],
            supported_resources=["aws_sfn_state_machine"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return CheckResult.PASSED if get(conf, "tracing_configuration", "enabled") is True else CheckResult.FAILED


check = StateMachineTracing()
