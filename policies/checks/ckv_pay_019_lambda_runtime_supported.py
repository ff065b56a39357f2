"""Ensure Lambda functions use a runtime AWS still supports."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

from policies.lib import is_reference, unwrap

# Lambda runtimes not deprecated as of 2026 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html).
SUPPORTED_RUNTIMES = (
    "python3.11",
    "python3.12",
    "python3.13",
    "nodejs20.x",
    "nodejs22.x",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.3",
    "ruby3.4",
    "provided.al2023",
)


class LambdaRuntimeSupported(BaseResourceCheck):
    """Ensure Lambda functions use a runtime AWS still supports."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Lambda functions use a runtime AWS still supports",
            id="CKV_PAY_019",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_lambda_function"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        runtime = unwrap(conf.get("runtime"))
        if is_reference(runtime):
            return CheckResult.UNKNOWN
        if runtime is None and unwrap(conf.get("package_type")) == "Image":
            return CheckResult.PASSED  # container images carry their own runtime
        return CheckResult.PASSED if runtime in SUPPORTED_RUNTIMES else CheckResult.FAILED


check = LambdaRuntimeSupported()
