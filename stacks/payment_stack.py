"""The paygate platform stack: wires the capability constructs together, nothing more."""

from __future__ import annotations

from cdktf import Aspects, S3Backend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import LambdaEventSourceMapping
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from stacks import constants as c
from stacks.config import PlatformConfig
from stacks.constructs.alarms import PlatformAlarms
from stacks.constructs.api import PaymentsApi
from stacks.constructs.code_signing import CodeSigning
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.functions import PaymentFunction
from stacks.constructs.grants import Grants
from stacks.constructs.messaging import Messaging
from stacks.constructs.reconciliation import ReconciliationSchedule
from stacks.constructs.storage import PlatformStorage
from stacks.constructs.tables import PaymentTables
from stacks.constructs.waf import ApiFirewall
from stacks.constructs.workflow import PaymentWorkflow
from stacks.context import StackContext
from stacks.naming import Naming
from stacks.tagging import EnvironmentTags

PAYMENT_BATCH_SIZE = 10
PAYMENT_BATCH_WINDOW_SECONDS = 1


class PaymentPlatformStack(TerraformStack):
    """API -> Lambda -> DynamoDB, S3 batches -> Lambda -> SQS -> Lambda, Step Functions, SNS, alarms."""

    def __init__(self, scope: Construct, stack_name: str, *, config: PlatformConfig) -> None:
        super().__init__(scope, stack_name)
        # Credentials of any other account than the environment declares fail before any change.
        AwsProvider(self, "aws", region=config.region, allowed_account_ids=list(config.allowed_account_ids))
        backend = S3Backend(
            self,
            bucket=config.state_bucket,
            key=config.state_key(stack_name),
            region=config.state_region,
            encrypt=True,
        )
        # S3-native state locking (Terraform >= 1.10); cdktf 0.21 has no typed field for it.
        backend.add_override("use_lockfile", True)

        ctx = StackContext(
            config=config,
            naming=Naming(config.prefix),
            account_id=DataAwsCallerIdentity(self, "caller").account_id,
            partition=DataAwsPartition(self, "partition").partition,
        )
        key = PlatformKey(self, "encryption", ctx=ctx)
        tables = PaymentTables(self, "tables", ctx=ctx, key=key)
        storage = PlatformStorage(self, "storage", ctx=ctx, key=key)
        code_signing = CodeSigning(
            self, "code-signing", ctx=ctx, bucket=storage.code_bucket, bucket_ready=storage.code_bucket_ready
        )
        messaging = Messaging(
            self,
            "messaging",
            ctx=ctx,
            key=key,
            payment_consumer_timeout_seconds=config.limits("payment_processor").timeout_seconds,
        )

        common_env = {
            "PAYGATE_ENVIRONMENT": config.environment,
            "POWERTOOLS_SERVICE_NAME": "paygate",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "PAYMENTS_TABLE": tables.payments.name,
            "AUDIT_TABLE": tables.audit.name,
            "MAX_PAYMENT_MINOR_UNITS": str(config.max_payment_minor_units),
            "SCREENING_MAX_MINOR_UNITS": str(config.screening_max_minor_units),
            "MERCHANT_VELOCITY_PER_HOUR": str(config.merchant_velocity_per_hour),
        }

        def function(key_name: str, **env: str) -> PaymentFunction:
            return PaymentFunction(
                self,
                key_name.replace("_", "-"),
                ctx=ctx,
                key=key,
                function_key=key_name,
                environment={**common_env, **env},
                dead_letter_queue=messaging.function_dlq,
                code_signing=code_signing,
            )

        workflow_tasks = function("workflow_tasks", EVENTS_TOPIC_ARN=messaging.events_topic.arn)
        workflow = PaymentWorkflow(self, "workflow", ctx=ctx, key=key, tasks=workflow_tasks)
        api_handler = function(
            "api_handler",
            IDEMPOTENCY_TABLE=tables.idempotency.name,
            CALLERS_TABLE=tables.callers.name,
            STATE_MACHINE_ARN=workflow.arn,
        )
        payment_processor = function(
            "payment_processor",
            IDEMPOTENCY_TABLE=tables.idempotency.name,
            EVENTS_TOPIC_ARN=messaging.events_topic.arn,
        )
        batch_processor = function(
            "batch_processor",
            BATCHES_TABLE=tables.batches.name,
            PAYMENT_QUEUE_URL=messaging.payment_queue.url,
        )
        reconciliation = function(
            "reconciliation",
            STATE_MACHINE_ARN=workflow.arn,
            BATCHES_TABLE=tables.batches.name,
            BATCH_FUNCTION_NAME=batch_processor.function.function_name,
            RECONCILE_STUCK_AFTER_SECONDS=str(config.reconciliation_stuck_after_seconds),
            RECONCILE_ALARM_AFTER_SECONDS=str(config.reconciliation_alarm_after_seconds),
            RECONCILE_LOOKBACK_SECONDS=str(config.reconciliation_lookback_seconds),
        )
        functions = {
            "api_handler": api_handler,
            "payment_processor": payment_processor,
            "batch_processor": batch_processor,
            "workflow_tasks": workflow_tasks,
            "reconciliation": reconciliation,
        }

        grants = Grants(tables=tables, messaging=messaging, storage=storage, workflow=workflow)
        grants.api_handler(api_handler)
        grants.workflow_tasks(workflow_tasks)
        grants.batch_processor(batch_processor)
        consume = grants.payment_processor(payment_processor)
        grants.reconciliation(reconciliation, batch_function=batch_processor)
        ReconciliationSchedule(self, "reconciliation-schedule", ctx=ctx, function=reconciliation)

        LambdaEventSourceMapping(
            self,
            "payment-queue-consumer",
            event_source_arn=messaging.payment_queue.arn,
            function_name=payment_processor.function.function_name,
            batch_size=PAYMENT_BATCH_SIZE,
            maximum_batching_window_in_seconds=PAYMENT_BATCH_WINDOW_SECONDS,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": max(2, config.limits("payment_processor").reserved_concurrency)},
            depends_on=[consume],
        )
        storage.notify_on_new_batch_file(batch_processor.function)

        api = PaymentsApi(self, "api", ctx=ctx, key=key, handler=api_handler)
        firewall = ApiFirewall(
            self,
            "waf",
            ctx=ctx,
            key=key,
            stage_arn=api.stage.arn,
            rate_limit_per_5_minutes=config.waf_rate_limit_per_5_minutes,
        )
        PlatformAlarms(
            self,
            "alarms",
            ctx=ctx,
            topic=messaging.alarm_topic,
            dead_letter_queues=messaging.dead_letter_queues,
            functions=functions,
            api_name=api.api.name,
            state_machine_arn=workflow.arn,
        )

        outputs = {
            c.OUTPUT_API_ENDPOINT: api.invoke_url,
            c.OUTPUT_API_ID: api.api.id,
            c.OUTPUT_API_STAGE: api.stage.stage_name,
            c.OUTPUT_API_KEY_ID: api.api_key.id,
            c.OUTPUT_PAYMENTS_TABLE: tables.payments.name,
            c.OUTPUT_BATCHES_TABLE: tables.batches.name,
            c.OUTPUT_AUDIT_TABLE: tables.audit.name,
            c.OUTPUT_IDEMPOTENCY_TABLE: tables.idempotency.name,
            c.OUTPUT_CALLERS_TABLE: tables.callers.name,
            c.OUTPUT_USAGE_PLAN_ID: api.usage_plan.id,
            c.OUTPUT_BATCH_BUCKET: storage.bucket.bucket,
            c.OUTPUT_PAYMENT_QUEUE_URL: messaging.payment_queue.url,
            c.OUTPUT_PAYMENT_DLQ_URL: messaging.payment_dlq.url,
            c.OUTPUT_NOTIFICATION_QUEUE_URL: messaging.notification_queue.url,
            c.OUTPUT_STATE_MACHINE_ARN: workflow.arn,
            c.OUTPUT_EVENTS_TOPIC_ARN: messaging.events_topic.arn,
            c.OUTPUT_ALARM_TOPIC_ARN: messaging.alarm_topic.arn,
            c.OUTPUT_KMS_KEY_ARN: key.arn,
            c.OUTPUT_WEB_ACL_ARN: firewall.web_acl.arn,
            c.OUTPUT_CODE_BUCKET: storage.code_bucket.bucket,
            c.OUTPUT_SIGNING_PROFILE_NAME: code_signing.profile.name,
            c.OUTPUT_SIGNING_PROFILE_VERSION_ARN: code_signing.profile.version_arn,
            c.OUTPUT_CODE_SIGNING_CONFIG_ARN: code_signing.config.arn,
            c.OUTPUT_RECONCILIATION_FUNCTION: reconciliation.function.function_name,
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)

        Aspects.of(self).add(EnvironmentTags(config.tags))
