"""Names shared by the infrastructure, the pipeline and the tests (one place, no drift)."""

STACK_NAME = "paygate"

# Lambda functions: key -> handler (module path inside the archive).
FUNCTION_HANDLERS = {
    "api_handler": "lambdas.api_handler.handler.handler",
    "payment_processor": "lambdas.payment_processor.handler.handler",
    "batch_processor": "lambdas.batch_processor.handler.handler",
    "workflow_tasks": "lambdas.workflow_tasks.handler.handler",
    "reconciliation": "lambdas.reconciliation.handler.handler",
}
LAMBDA_RUNTIME = "python3.12"
LAMBDA_ARCHITECTURE = "x86_64"

# Batch files land under this prefix; only these trigger the batch processor.
BATCH_PREFIX = "incoming/"
# ... each merchant's files under its own folder: incoming/<merchant_id>/<name>.csv (the bucket policy and the
# batch function hold a merchant to its folder).
BATCH_SUFFIX = ".csv"

# Queue settings.
PAYMENT_QUEUE_MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance: queue visibility >= 6x the consumer's timeout.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

# Stage of the REST API.
API_STAGE = "v1"

# Terraform outputs (keys are read by the e2e tests and the promotion pipeline).
OUTPUT_API_ENDPOINT = "api_endpoint"
OUTPUT_API_ID = "api_id"
OUTPUT_API_STAGE = "api_stage"
OUTPUT_API_KEY_ID = "api_key_id"
OUTPUT_PAYMENTS_TABLE = "payments_table_name"
OUTPUT_BATCHES_TABLE = "batches_table_name"
OUTPUT_AUDIT_TABLE = "audit_table_name"
OUTPUT_IDEMPOTENCY_TABLE = "idempotency_table_name"
OUTPUT_CALLERS_TABLE = "callers_table_name"
OUTPUT_USAGE_PLAN_ID = "usage_plan_id"
OUTPUT_BATCH_BUCKET = "batch_bucket_name"
OUTPUT_PAYMENT_QUEUE_URL = "payment_queue_url"
OUTPUT_PAYMENT_DLQ_URL = "payment_dlq_url"
OUTPUT_NOTIFICATION_QUEUE_URL = "notification_queue_url"
OUTPUT_STATE_MACHINE_ARN = "state_machine_arn"
OUTPUT_EVENTS_TOPIC_ARN = "payment_events_topic_arn"
OUTPUT_ALARM_TOPIC_ARN = "alarm_topic_arn"
OUTPUT_KMS_KEY_ARN = "kms_key_arn"
OUTPUT_WEB_ACL_ARN = "web_acl_arn"
OUTPUT_CODE_BUCKET = "function_code_bucket_name"
OUTPUT_SIGNING_PROFILE_NAME = "signing_profile_name"
OUTPUT_SIGNING_PROFILE_VERSION_ARN = "signing_profile_version_arn"
OUTPUT_CODE_SIGNING_CONFIG_ARN = "code_signing_config_arn"
OUTPUT_RECONCILIATION_FUNCTION = "reconciliation_function_name"
