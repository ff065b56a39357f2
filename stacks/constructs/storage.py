"""S3 buckets: the batch-file inbox and the function-code bucket (SSE-KMS), and the access-log bucket both log to."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_notification import (
    S3BucketNotification,
    S3BucketNotificationLambdaFunction,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import S3BucketOwnershipControls
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA
from constructs import Construct

from contracts.callers import MERCHANT_TAG
from stacks.constants import BATCH_PREFIX, BATCH_SUFFIX
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.iam import Statement, deny_insecure_transport, policy_document, policy_variable
from stacks.context import StackContext

ACCESS_LOG_RETENTION_DAYS = 400  # > 1 year of access logs online (PCI DSS 10.5.1)
NONCURRENT_VERSION_DAYS = 90
BATCH_FILE_RETENTION_DAYS = 400


class _Bucket(Construct):
    """A private, versioned, TLS-only bucket with owner-enforced object ownership."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        force_destroy: bool,
        classification: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = S3Bucket(
            self,
            "bucket",
            bucket=name,
            force_destroy=force_destroy,
            tags={"DataClassification": classification},
        )
        S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self, "ownership", bucket=self.bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}
        )
        self.versioning = S3BucketVersioningA(
            self, "versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}
        )

    def tls_only_policy(self, extra: list[Statement] | None = None) -> None:
        statements = [
            deny_insecure_transport("s3", (self.bucket.arn, f"{self.bucket.arn}/*")),
            *(extra or []),
        ]
        S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=policy_document(statements))

    def lifecycle(self, *, current_days: int | None) -> None:
        """Old versions expire after NONCURRENT_VERSION_DAYS, current objects after ``current_days`` (None: kept)."""
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-old-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=NONCURRENT_VERSION_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                    expiration=(
                        [S3BucketLifecycleConfigurationRuleExpiration(days=current_days)] if current_days else None
                    ),
                )
            ],
        )

    def encrypt(self, key_arn: str | None) -> None:
        """Default encryption: SSE-KMS with ``key_arn`` (S3 Bucket Keys on), or SSE-S3 (AES256) when None."""
        default = {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn} if key_arn else {"sse_algorithm": "AES256"}
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "sse",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=True if key_arn else None
                )
            ],
        )

    @property
    def log_prefix(self) -> str:
        """Where this bucket's access logs go in the log bucket: ``<construct id>/``."""
        return f"{self.node.id}/"

    def log_access_to(self, logs: _Bucket) -> None:
        """S3 server access logs of this bucket into ``logs`` under :attr:`log_prefix`."""
        S3BucketLoggingA(
            self, "access-logging", bucket=self.bucket.id, target_bucket=logs.bucket.id, target_prefix=self.log_prefix
        )


class PlatformStorage(Construct):
    """The batch-file inbox, the function-code bucket AWS Signer signs from, and the access-log bucket of both."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: StackContext, key: PlatformKey) -> None:
        super().__init__(scope, construct_id)
        force_destroy = not ctx.config.deletion_protection
        self._ctx = ctx

        logs = _Bucket(
            self,
            "access-logs",
            name=ctx.naming.bucket("access-logs", ctx.account_id),
            force_destroy=force_destroy,
            classification="internal",
        )
        # S3 server access log delivery supports only SSE-S3 on the target bucket (SSE-KMS is
        # refused by the log delivery service), so this bucket alone uses AES256. It holds request
        # metadata, never payment data.
        logs.encrypt(None)
        logs.lifecycle(current_days=ACCESS_LOG_RETENTION_DAYS)
        self.log_bucket = logs.bucket

        inbox = _Bucket(
            self,
            "batch-files",
            name=ctx.naming.bucket("batch-files", ctx.account_id),
            force_destroy=force_destroy,
            classification="confidential",
        )
        inbox.encrypt(key.arn)
        inbox.lifecycle(current_days=BATCH_FILE_RETENTION_DAYS)
        inbox.log_access_to(logs)
        inbox.tls_only_policy(
            [
                Statement(
                    sid="DenyUnencryptedObjectUploads",
                    effect="Deny",
                    principals={"AWS": "*"},
                    actions=("s3:PutObject",),
                    resources=(f"{inbox.bucket.arn}/*",),
                    conditions={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                ),
                # Tenant isolation (issue 12): a principal tagged as a merchant's writes only in that merchant's
                # folder, incoming/<MerchantId>/ (the batch function re-checks the folder and every line).
                Statement(
                    sid="HoldMerchantsToTheirFolder",
                    effect="Deny",
                    principals={"AWS": "*"},
                    actions=("s3:PutObject",),
                    resources=(
                        f"{inbox.bucket.arn}/{BATCH_PREFIX}{policy_variable(f'aws:PrincipalTag/{MERCHANT_TAG}')}/*",
                    ),
                    not_resource=True,
                    conditions={"Null": {f"aws:PrincipalTag/{MERCHANT_TAG}": "false"}},
                ),
            ]
        )
        # Function archives, unsigned (``unsigned/<function>.zip``, one version per build) and as AWS Signer's signing
        # jobs write them (``signed/<job id>.zip``), which Lambda deploys from (stacks/constructs/code_signing.py).
        # Current objects are kept: a signed object is the evidence of what a function runs.
        code = _Bucket(
            self,
            "function-code",
            name=ctx.naming.bucket("function-code", ctx.account_id),
            force_destroy=force_destroy,
            classification="internal",
        )
        code.encrypt(key.arn)
        code.lifecycle(current_days=None)
        code.log_access_to(logs)
        code.tls_only_policy()
        logged = (inbox, code)
        logs.tls_only_policy(
            [
                Statement(
                    sid="AllowS3ServerAccessLogDelivery",
                    principals={"Service": "logging.s3.amazonaws.com"},
                    actions=("s3:PutObject",),
                    resources=tuple(f"{logs.bucket.arn}/{bucket.log_prefix}*" for bucket in logged),
                    conditions={
                        "ArnLike": {"aws:SourceArn": [bucket.bucket.arn for bucket in logged]},
                        "StringEquals": {"aws:SourceAccount": ctx.account_id},
                    },
                )
            ]
        )
        self.bucket = inbox.bucket
        self.code_bucket = code.bucket
        # Objects are written only once the bucket is versioned: a signing job signs an object *version*.
        self.code_bucket_ready = code.versioning

    def notify_on_new_batch_file(self, function: LambdaFunction) -> None:
        """ObjectCreated under ``incoming/*.csv`` invokes the batch function (permission first)."""
        permission = LambdaPermission(
            self,
            "allow-s3-invoke",
            statement_id="AllowBatchBucketInvoke",
            action="lambda:InvokeFunction",
            function_name=function.function_name,
            principal="s3.amazonaws.com",
            source_arn=self.bucket.arn,
            source_account=self._ctx.account_id,
        )
        S3BucketNotification(
            self,
            "notification",
            bucket=self.bucket.id,
            lambda_function=[
                S3BucketNotificationLambdaFunction(
                    lambda_function_arn=function.arn,
                    events=["s3:ObjectCreated:*"],
                    filter_prefix=BATCH_PREFIX,
                    filter_suffix=BATCH_SUFFIX,
                )
            ],
            depends_on=[permission],
        )
