"""Step Functions standard workflow for the payment lifecycle, with retries and a failure path."""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.sfn_state_machine import SfnStateMachine
from constructs import Construct

from stacks.config import ConfigError
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.functions import PaymentFunction
from stacks.constructs.iam import Statement, grant, service_role
from stacks.constructs.workflow_definition import (
    lambda_invoke,
    lifecycle_definition,
    required_task_concurrency,
    tasks_per_execution,
)
from stacks.context import StackContext

# The definition's builders stay importable from here (they lived in this module before the split).
__all__ = ["KMS_DATA_KEY_REUSE_SECONDS", "PaymentWorkflow", "lambda_invoke", "lifecycle_definition"]
KMS_DATA_KEY_REUSE_SECONDS = 300


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
        # Every execution of this state machine (Step Functions ARN format: ...:execution:<state machine>:<name>).
        self.executions_arn = f"arn:{ctx.partition}:states:{ctx.config.region}:{ctx.account_id}:execution:{self.name}:*"
        self.definition = lifecycle_definition(
            tasks.arn, task_timeout=tasks.timeout_seconds + 5, partition=ctx.partition
        )
        # Executions are started by the API only (the queue consumer processes batch payments itself), at
        # most at the API's throttle rate; below this, throttles are the steady state, not a burst.
        needed = required_task_concurrency(
            starts_per_second=ctx.config.api_rate_limit,
            tasks_per_execution=tasks_per_execution(self.definition),
            task_seconds=ctx.config.workflow_task_p99_seconds,
        )
        if tasks.reserved_concurrency < needed:
            raise ConfigError(
                f"workflow_tasks: reserved concurrency {tasks.reserved_concurrency} is below the {needed} the workflow "
                f"needs at the API's {ctx.config.api_rate_limit:g} starts/s "
                f"({tasks_per_execution(self.definition)} tasks of {ctx.config.workflow_task_p99_seconds:g} s each)"
            )
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
            definition=json.dumps(self.definition, sort_keys=True),
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
