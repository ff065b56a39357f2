"""A Lambda function with its own role, log group, dead letters and signed, deterministic archive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import LambdaFunctionEventInvokeConfig
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from stacks.config import ConfigError
from stacks.constants import FUNCTION_HANDLERS, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME
from stacks.constructs.code_signing import CodeSigning
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.iam import Statement, grant, service_role
from stacks.context import StackContext

ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600


def archive_path(ctx: StackContext, key: str) -> Path:
    """The packaged archive of one function; a clear error if packaging has not run."""
    path = (ctx.config.artifacts_dir / f"{key}.zip").resolve()
    if not path.is_file():
        raise ConfigError(f"Lambda archive {path} is missing: run `make package` before synthesizing")
    return path


class PaymentFunction(Construct):
    """python3.12 function: signed code, traced, reserved concurrency, KMS env, DLQ, 365-day encrypted logs.

    The code is the packaged archive signed by ``code_signing`` (see ``stacks/constructs/code_signing.py``); the
    function carries that config, so Lambda refuses any code update the platform's profile did not sign.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        key: PlatformKey,
        function_key: str,
        environment: Mapping[str, str],
        dead_letter_queue: SqsQueue,
        code_signing: CodeSigning,
    ) -> None:
        super().__init__(scope, construct_id)
        limits = ctx.config.limits(function_key)
        self.name = ctx.naming.function(function_key)
        self.timeout_seconds = limits.timeout_seconds
        self.reserved_concurrency = limits.reserved_concurrency
        self._scope_id = construct_id

        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=ctx.naming.lambda_log_group(self.name),
            retention_in_days=ctx.config.log_retention_days,
            kms_key_id=key.arn,
        )
        self.role: IamRole = service_role(
            self, "role", name=ctx.naming.role(function_key), service="lambda.amazonaws.com"
        )
        # Lambda checks at create time that the role may send to the dead-letter queue, so the
        # function waits for this policy.
        base_policy = grant(
            self,
            "base-policy",
            role=self.role,
            name="base",
            statements=[
                Statement(
                    sid="WriteOwnLogs",
                    actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                    resources=(f"{self.log_group.arn}:*",),
                ),
                Statement(
                    sid="XRayTracing",
                    actions=("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
                    # X-Ray has no resource-level permissions: AWS requires "*" for these actions.
                    resources=("*",),
                    why="X-Ray supports no resource-level permissions",
                ),
                Statement(sid="DeadLetter", actions=("sqs:SendMessage",), resources=(dead_letter_queue.arn,)),
                key.use_statement("UsePlatformKey"),
            ],
        )
        self.code = code_signing.sign(self, function_key, archive_path(ctx, function_key))
        self.function = LambdaFunction(
            self,
            "function",
            function_name=self.name,
            role=self.role.arn,
            handler=FUNCTION_HANDLERS[function_key],
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            s3_bucket=self.code.bucket,
            s3_key=self.code.key,
            code_signing_config_arn=code_signing.config.arn,
            memory_size=limits.memory_mb,
            timeout=limits.timeout_seconds,
            reserved_concurrent_executions=limits.reserved_concurrency,
            kms_key_arn=key.arn,
            environment={"variables": dict(sorted(environment.items()))},
            tracing_config={"mode": "Active"},
            dead_letter_config={"target_arn": dead_letter_queue.arn},
            depends_on=[self.log_group, base_policy],
        )
        LambdaFunctionEventInvokeConfig(
            self,
            "async-config",
            function_name=self.function.function_name,
            maximum_retry_attempts=ASYNC_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": dead_letter_queue.arn}},
        )

    @property
    def arn(self) -> str:
        return self.function.arn

    def grant(self, name: str, statements: Sequence[Statement]) -> IamRolePolicy:
        """Add one named least-privilege policy (a capability) to this function's role."""
        return grant(self, f"grant-{name}", role=self.role, name=name, statements=statements)
