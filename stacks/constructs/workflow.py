"""Step Functions standard workflow for the payment lifecycle, with retries and a failure path."""

from __future__ import annotations

import json
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.sfn_state_machine import SfnStateMachine
from constructs import Construct

from stacks.constructs.encryption import PlatformKey
from stacks.constructs.functions import PaymentFunction
from stacks.constructs.iam import Statement, grant, service_role
from stacks.context import StackContext

TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
    "TransientError",
)
RETRY = {"ErrorEquals": list(TRANSIENT_ERRORS), "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}
KMS_DATA_KEY_REUSE_SECONDS = 300


def lambda_invoke(partition: str) -> str:
    """The optimized Lambda integration: Lambda's own errors reach Retry as Lambda.<Code> (a throttle is
    Lambda.TooManyRequestsException); the state's output is the function's result (OutputPath)."""
    return f"arn:{partition}:states:::lambda:invoke"


def _invoke(function_arn: str, task: str, partition: str) -> dict[str, Any]:
    return {
        "Resource": lambda_invoke(partition),
        "Parameters": {"FunctionName": function_arn, "Payload": {"task": task, "payment.$": "$"}},
        "OutputPath": "$.Payload",
    }


def _task(function_arn: str, task: str, next_state: str | None, *, timeout: int, partition: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        **_invoke(function_arn, task, partition),
        "TimeoutSeconds": timeout,
        "Retry": [RETRY],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}],
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def lifecycle_definition(function_arn: str, *, task_timeout: int, partition: str = "aws") -> dict[str, Any]:
    """validate -> screen -> (authorize -> record | decline) -> notify; any error -> MarkFailed -> Fail."""
    t = task_timeout
    return {
        "Comment": "paygate payment lifecycle",
        "StartAt": "Validate",
        "States": {
            "Validate": _task(function_arn, "validate", "Screen", timeout=t, partition=partition),
            "Screen": _task(function_arn, "screen", "ScreeningDecision", timeout=t, partition=partition),
            "ScreeningDecision": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.decision", "StringEquals": "APPROVE", "Next": "Authorize"}],
                "Default": "Decline",
            },
            "Authorize": _task(function_arn, "authorize", "Record", timeout=t, partition=partition),
            "Record": _task(function_arn, "record", "Notify", timeout=t, partition=partition),
            "Decline": _task(function_arn, "decline", "Notify", timeout=t, partition=partition),
            "Notify": _task(function_arn, "notify", None, timeout=t, partition=partition),
            "MarkFailed": {
                "Type": "Task",
                **_invoke(function_arn, "fail", partition),
                "TimeoutSeconds": t,
                "Retry": [RETRY],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.mark_failed_error", "Next": "Failed"}],
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "PaymentFailed", "Cause": "The payment workflow could not complete"},
        },
    }


class PaymentWorkflow(Construct):
    """Standard state machine: logs without execution data, X-Ray tracing, CMK encryption."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        key: PlatformKey,
        tasks: PaymentFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = ctx.naming.state_machine("payment-lifecycle")
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=ctx.naming.log_group("vendedlogs/states", "payment-lifecycle"),
            retention_in_days=ctx.config.log_retention_days,
            kms_key_id=key.arn,
        )
        role = service_role(
            self,
            "role",
            name=ctx.naming.role("workflow"),
            service="states.amazonaws.com",
            source_account=ctx.account_id,
        )
        policy = grant(
            self,
            "role-policy",
            role=role,
            name="payment-lifecycle",
            statements=[
                Statement(
                    sid="InvokeWorkflowTasks",
                    actions=("lambda:InvokeFunction",),
                    resources=(tasks.arn, f"{tasks.arn}:*"),
                ),
                Statement(
                    sid="DeliverExecutionLogs",
                    actions=(
                        "logs:CreateLogDelivery",
                        "logs:GetLogDelivery",
                        "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries",
                        "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies",
                        "logs:DescribeLogGroups",
                    ),
                    # AWS documents these vended-log delivery actions as supporting only "*"
                    # (Step Functions "IAM policies for logging to CloudWatch Logs").
                    resources=("*",),
                    why="CloudWatch Logs vended-log delivery APIs have no resource-level permissions",
                ),
                Statement(
                    sid="XRayTracing",
                    actions=(
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                    ),
                    resources=("*",),
                    why="X-Ray supports no resource-level permissions",
                ),
                key.use_statement("UsePlatformKey"),
            ],
        )
        self.state_machine = SfnStateMachine(
            self,
            "state-machine",
            name=self.name,
            type="STANDARD",
            role_arn=role.arn,
            definition=json.dumps(
                lifecycle_definition(tasks.arn, task_timeout=tasks.timeout_seconds + 5, partition=ctx.partition),
                sort_keys=True,
            ),
            logging_configuration={
                "log_destination": f"{self.log_group.arn}:*",
                "include_execution_data": False,
                "level": "ALL",
            },
            tracing_configuration={"enabled": True},
            encryption_configuration={
                "type": "CUSTOMER_MANAGED_KMS_KEY",
                "kms_key_id": key.arn,
                "kms_data_key_reuse_period_seconds": KMS_DATA_KEY_REUSE_SECONDS,
            },
            depends_on=[policy],
        )

    @property
    def arn(self) -> str:
        return self.state_machine.arn
