"""The reconciliation's schedule: an EventBridge rule that runs the reconciliation function every few minutes."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from stacks.constructs.functions import PaymentFunction
from stacks.context import StackContext


def rate_expression(minutes: int) -> str:
    """EventBridge's rate expression: ``rate(1 minute)``, ``rate(5 minutes)`` (the unit is singular for 1)."""
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


class ReconciliationSchedule(Construct):
    """Runs ``function`` every ``reconciliation_every_minutes`` (lambdas/reconciliation). A run EventBridge could
    not deliver is dropped once the next one is due (the next run finds everything it would have)."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: StackContext, function: PaymentFunction) -> None:
        super().__init__(scope, construct_id)
        every = ctx.config.reconciliation_every_minutes
        self.rule = CloudwatchEventRule(
            self,
            "schedule",
            name=ctx.naming.event_rule("reconciliation"),
            description="Re-drive payments and batch files stuck short of the end of their processing",
            schedule_expression=rate_expression(every),
        )
        CloudwatchEventTarget(
            self,
            "target",
            rule=self.rule.name,
            target_id="reconciliation",
            arn=function.arn,
            retry_policy={"maximum_event_age_in_seconds": every * 60, "maximum_retry_attempts": 2},
        )
        # Only this rule may invoke the function on EventBridge's behalf (the confused-deputy guard: SourceArn).
        LambdaPermission(
            self,
            "invoke-permission",
            statement_id="AllowReconciliationSchedule",
            action="lambda:InvokeFunction",
            function_name=function.function.function_name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
        )
