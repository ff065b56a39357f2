"""The environment a promotion changes: its account, region, state backend, and the AWS session to reach it.

An ``aws`` environment is reached with the caller's own credentials (the standard chain: OIDC role in CI,
a profile or SSO locally). A ``localstack`` environment is the emulator at ``endpoint``; when no
credentials are set, the harness uses the environment's account id as access key id, which LocalStack
takes as the account (https://docs.localstack.cloud/references/multi-account-setups/).

Checks made before anything is planned: credentials exist and STS says they belong to the declared
account (the provider's ``allowed_account_ids`` would refuse later, after init); the S3 state bucket
answers. ``bootstrap_backend`` creates the state bucket (versioned, encrypted, public access blocked,
TLS only) where it does not exist yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from pipeline.deploy.outputs import operator_session
from pipeline.promote.refusals import Reason, Refusal

KINDS = ("aws", "localstack")
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=20)


@dataclass(frozen=True)
class Target:
    """One declared environment as promotion needs it.

    ``account_id`` is 12 digits; ``endpoint`` is the LocalStack URL for the ``localstack`` kind, else None.
    """

    environment: str
    kind: str
    region: str
    account_id: str
    state_bucket: str
    state_region: str
    endpoint: str | None = None

    @property
    def state_key(self) -> str:
        return f"{self.environment}/paygate.tfstate"

    @property
    def audit_prefix(self) -> str:
        return f"{self.environment}/promotions/"

    @property
    def emulated(self) -> bool:
        return self.kind == "localstack"


def session(target: Target, environ: Mapping[str, str]) -> boto3.session.Session:
    """The boto3 session for ``target``: the caller's credentials; for LocalStack the account id when none are set."""
    return operator_session(target.region, localstack=target.emulated, account_id=target.account_id, environ=environ)


def credentials_env(target: Target, made: boto3.session.Session) -> dict[str, str]:
    """The AWS_* variables terraform needs to act as ``made`` (frozen credentials of the session)."""
    found = made.get_credentials()
    if found is None:
        raise Refusal(Reason.NO_CREDENTIALS, _no_credentials(target))
    frozen = found.get_frozen_credentials()
    env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        env["AWS_SESSION_TOKEN"] = frozen.token
    env["AWS_REGION"] = target.region
    return env


def client(target: Target, made: boto3.session.Session, service: str, region: str | None = None) -> Any:
    """A client of ``service`` for the target (LocalStack's endpoint for the emulated kind)."""
    region_name = region or target.region
    return made.client(service, region_name=region_name, endpoint_url=target.endpoint, config=_CLIENT_CONFIG)


def _no_credentials(target: Target) -> str:
    return (
        f"no AWS credentials for environment {target.environment}: assume the deploy role of account "
        f"{target.account_id} (OIDC in CI, a profile or SSO locally) and run again."
    )


def check_account(target: Target, made: boto3.session.Session) -> str:
    """The caller's ARN when STS says it belongs to ``target.account_id``; else a ``Refusal``."""
    try:
        identity = client(target, made, "sts").get_caller_identity()
    except botocore.exceptions.NoCredentialsError:
        raise Refusal(Reason.NO_CREDENTIALS, _no_credentials(target)) from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise Refusal(
            Reason.NO_CREDENTIALS, f"the credentials for environment {target.environment} were refused by STS: {exc}."
        ) from None
    if identity.get("Account") != target.account_id:
        raise Refusal(
            Reason.WRONG_ACCOUNT,
            f"the credentials belong to account {identity.get('Account')}, but environment {target.environment} "
            f"is account {target.account_id}: nothing was planned.",
        )
    return str(identity.get("Arn", ""))


def check_backend(target: Target, made: boto3.session.Session) -> None:
    """The state bucket answers (HeadBucket); else a ``Refusal`` naming bucket and cause."""
    try:
        client(target, made, "s3", target.state_region).head_bucket(Bucket=target.state_bucket)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise Refusal(
            Reason.BACKEND_UNREACHABLE,
            f"the state backend s3://{target.state_bucket} ({target.state_region}) of environment "
            f"{target.environment} is unreachable ({exc}): create it with `make promote-bootstrap "
            f"ENV={target.environment}` or fix access.",
        ) from None


def bootstrap_backend(target: Target, made: boto3.session.Session) -> bool:
    """Create the state bucket if missing: versioning, SSE-KMS default encryption, public access blocked,
    TLS-only policy (the same properties the policy pack demands of the stack's buckets). True if created."""
    s3 = client(target, made, "s3", target.state_region)
    try:
        s3.head_bucket(Bucket=target.state_bucket)
        return False
    except botocore.exceptions.ClientError:
        pass
    create: dict[str, Any] = {"Bucket": target.state_bucket}
    if target.state_region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": target.state_region}
    s3.create_bucket(**create)
    s3.put_bucket_versioning(Bucket=target.state_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=target.state_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=target.state_bucket,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    arn = f"arn:aws:s3:::{target.state_bucket}"
    deny_plain_http = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    if not target.emulated:  # LocalStack is reached over plain HTTP on the host
        s3.put_bucket_policy(
            Bucket=target.state_bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_plain_http]})
        )
    return True
