"""CloudWatch alarms on the signals that mean money is stuck or failing; all notify the alarm topic."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from contracts import (
    ENVIRONMENT_DIMENSION,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    RECONCILIATION_SERVICE,
    RECONCILIATION_STILL_STUCK_METRIC,
    WORKFLOW_START_FAILED_METRIC,
)
from stacks.constants import API_STAGE
from stacks.constructs.functions import PaymentFunction
from stacks.context import StackContext

PERIOD_SECONDS = 60


class PlatformAlarms(Construct):
    """DLQ depth > 0, function errors/throttles, API 5xx, failed, timed-out or throttled workflow executions,
    failed workflow starts, payments or batch files still stuck after the reconciliation's re-drives."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        topic: SnsTopic,
        dead_letter_queues: Mapping[str, SqsQueue],
        functions: Mapping[str, PaymentFunction],
        api_name: str,
        state_machine_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._ctx = ctx
        self._topic = topic
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}-depth",
                description=f"Messages are waiting in {name}: a payment or event could not be processed",
                namespace="AWS/SQS",
                metric="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue.name},
                statistic="Maximum",
            )
        for key, function in functions.items():
            for metric in ("Errors", "Throttles"):
                self._alarm(
                    f"{key.replace('_', '-')}-{metric.lower()}",
                    description=f"{function.name} reported {metric.lower()}",
                    namespace="AWS/Lambda",
                    metric=metric,
                    # A reference, not the literal name: the policy gate sees the alarm-function relation.
                    dimensions={"FunctionName": function.function.function_name},
                    statistic="Sum",
                )
        self._alarm(
            "api-5xx",
            description="The payments API answered with server errors",
            namespace="AWS/ApiGateway",
            metric="5XXError",
            dimensions={"ApiName": api_name, "Stage": API_STAGE},
            statistic="Sum",
        )
        # Counted by api_handler as an Embedded Metric Format log line (no PutMetricData call): a payment is
        # PENDING without a workflow until its client retries (or the reconciliation picks it up).
        self._platform_alarm(
            "workflow-start-failed",
            description="Payments were stored but their workflow did not start (api_handler answered 202); "
            "the FailureKind dimension tells transient from permanent causes",
            service=METRICS_SERVICE,
            metric=WORKFLOW_START_FAILED_METRIC,
        )
        # Counted by the reconciliation (EMF, both entity types summed): a payment in flight, or a batch file not
        # finished, past the alarm age despite its re-drives; people have to look.
        self._platform_alarm(
            "reconciliation-still-stuck",
            description="Payments or batch files are still short of the end of their processing past the alarm age "
            "of the reconciliation; the EntityType dimension says which",
            service=RECONCILIATION_SERVICE,
            metric=RECONCILIATION_STILL_STUCK_METRIC,
        )
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            self._alarm(
                f"workflow-{metric.lower()}",
                description=f"Payment lifecycle executions: {metric}",
                namespace="AWS/States",
                metric=metric,
                dimensions={"StateMachineArn": state_machine_arn},
                statistic="Sum",
            )
        # Step Functions throttling the workflow's own state transitions (its StateTransition quota): a capacity
        # limit no Retry sees, which delays every payment (README "Concurrency sizing").
        self._alarm(
            "workflow-executionthrottled",
            description="Step Functions throttled payment lifecycle state transitions: the workflow is near its quota",
            namespace="AWS/States",
            metric="ExecutionThrottled",
            dimensions={"StateMachineArn": state_machine_arn},
            statistic="Sum",
        )

    def _platform_alarm(self, purpose: str, *, description: str, service: str, metric: str) -> None:
        """On a count a handler emits as Embedded Metric Format: namespace paygate, dimensions (service,
        Environment) (contracts.METRICS_*)."""
        self._alarm(
            purpose,
            description=description,
            namespace=METRICS_NAMESPACE,
            metric=metric,
            dimensions={"service": service, ENVIRONMENT_DIMENSION: self._ctx.config.environment},
            statistic="Sum",
        )

    def _alarm(
        self, purpose: str, *, description: str, namespace: str, metric: str, dimensions: dict[str, str], statistic: str
    ) -> None:
        self.alarms[purpose] = CloudwatchMetricAlarm(
            self,
            purpose,
            alarm_name=self._ctx.naming.alarm(purpose),
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self._topic.arn],
            ok_actions=[self._topic.arn],
        )
