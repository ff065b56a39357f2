"""Typed, validated platform configuration: built once at the entry point, passed explicitly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

APPLICATION = "paygate"
ENV_PREFIX = "PAYGATE_"
MIN_LOG_RETENTION_DAYS = 365
# CloudWatch Logs accepts only these retention values (PutRetentionPolicy).
ALLOWED_LOG_RETENTION_DAYS = (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# The environment suffix lands in S3 bucket names ("paygate-<env>-batch-files-<account>") and
# IAM role names, so it is held to the strictest of those alphabets: lowercase letters, digits
# and single hyphens, starting with a letter, ending with a letter or digit.
ENVIRONMENT_PATTERN = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,15}$")
# [0-9], not \d: \d also matches non-ASCII decimal digits ("us-east-\u0661").
# Only the commercial and GovCloud partitions: service principals and kms:ViaService values are
# built as "<service>.<region>.amazonaws.com", which China (.com.cn) and ISO partitions do not use.
REGION_PATTERN = re.compile(r"^(?!cn-)[a-z]{2}(?:-gov)?-[a-z]+-[0-9]$")
BUCKET_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{1,61})[a-z0-9]$")
TAG_VALUE_PATTERN = re.compile(r"^[\w .:/=+\-@]{1,256}$")
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{7,40}$")


class ConfigError(ValueError):
    """The configuration cannot produce a valid platform; the message says which setting and why."""


@dataclass(frozen=True)
class FunctionLimits:
    """Per-function runtime limits."""

    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int


@dataclass(frozen=True)
class PlatformConfig:
    """Everything a stack needs to know about one environment."""

    environment: str
    region: str
    state_bucket: str
    state_region: str
    artifacts_dir: Path
    repository: str = "paygate"
    author: str = "platform-team"
    team: str = "payments-platform"
    commit: str | None = None
    deletion_protection: bool = False
    log_retention_days: int = MIN_LOG_RETENTION_DAYS
    max_payment_minor_units: int = 1_000_000_00
    # Screening declines payments above this amount (risk review threshold, below the hard maximum the
    # API refuses outright) and merchants over their hourly velocity.
    screening_max_minor_units: int = 10_000_00
    merchant_velocity_per_hour: int = 1000
    api_rate_limit: float = 50.0
    api_burst_limit: int = 100
    api_quota_per_day: int = 100_000
    functions: Mapping[str, FunctionLimits] = field(default_factory=dict)
    # Concurrency sizing (README "Concurrency sizing"): the p99 duration of one workflow task on AWS
    # (a Lambda invoke doing a few DynamoDB calls and at most one SNS publish), and the account's
    # Lambda concurrency quota, of which AWS keeps UNRESERVED_CONCURRENCY unreserved.
    workflow_task_p99_seconds: float = 0.2
    account_concurrency_limit: int = 1000

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def prefix(self) -> str:
        """Name prefix that keeps environments apart: ``paygate-<env>``."""
        return f"{APPLICATION}-{self.environment}"

    @property
    def state_key_prefix(self) -> str:
        return self.environment

    def state_key(self, stack_name: str) -> str:
        """Backend key for one stack of this environment: ``<env>/<stack>.tfstate``."""
        return f"{self.environment}/{stack_name}.tfstate"

    @property
    def tags(self) -> dict[str, str]:
        """Tags every taggable resource carries (resources may add, e.g. a stricter classification)."""
        tags = {
            "Application": APPLICATION,
            "Environment": self.environment,
            "DataClassification": "confidential",
            "Repository": self.repository,
            "Author": self.author,
            "Team": self.team,
            "ManagedBy": "cdktf",
        }
        if self.commit:
            tags["GitCommit"] = self.commit
        return tags

    def limits(self, function: str) -> FunctionLimits:
        return self.functions.get(function, DEFAULT_FUNCTION_LIMITS[function])


DEFAULT_FUNCTION_LIMITS: Mapping[str, FunctionLimits] = {
    "api_handler": FunctionLimits(memory_mb=512, timeout_seconds=10, reserved_concurrency=20),
    "payment_processor": FunctionLimits(memory_mb=512, timeout_seconds=30, reserved_concurrency=10),
    "batch_processor": FunctionLimits(memory_mb=1024, timeout_seconds=300, reserved_concurrency=5),
    # 50 = the API's start rate (50/s) x 5 tasks per execution x 0.2 s per task (README "Concurrency sizing").
    "workflow_tasks": FunctionLimits(memory_mb=512, timeout_seconds=20, reserved_concurrency=50),
}
# Lambda keeps this much of the account's concurrency unreserved (PutFunctionConcurrency refuses more).
UNRESERVED_CONCURRENCY = 100
# An SQS event source mapping's maximum concurrency is at least 2 (Lambda ScalingConfig).
MIN_EVENT_SOURCE_CONCURRENCY = 2


def _validate(config: PlatformConfig) -> None:
    if not ENVIRONMENT_PATTERN.fullmatch(config.environment):
        raise ConfigError(
            f"environment {config.environment!r} is invalid: it becomes part of S3 bucket and IAM "
            "names, so use 1-16 lowercase letters, digits or single hyphens, starting with a letter "
            "and ending with a letter or digit (e.g. 'dev', 'pr-123')"
        )
    for setting, value in (("region", config.region), ("state region", config.state_region)):
        if not REGION_PATTERN.fullmatch(value):
            raise ConfigError(
                f"{setting} {value!r} is not a supported AWS region name (e.g. 'eu-west-1'; "
                "the China and ISO partitions are not supported)"
            )
    if not BUCKET_PATTERN.fullmatch(config.state_bucket) or ".." in config.state_bucket:
        raise ConfigError(
            f"state bucket {config.state_bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens, starting and ending alphanumeric)"
        )
    for name in ("repository", "author", "team"):
        value = getattr(config, name)
        if not TAG_VALUE_PATTERN.fullmatch(value):
            raise ConfigError(
                f"{name} {value!r} is not a valid AWS tag value (1-256 of letters, digits, spaces, _.:/=+-@)"
            )
    if config.commit is not None and not COMMIT_PATTERN.fullmatch(config.commit):
        raise ConfigError(f"commit {config.commit!r} is not a git commit id (7-40 lowercase hex digits)")
    if config.log_retention_days not in ALLOWED_LOG_RETENTION_DAYS:
        raise ConfigError(
            f"log retention {config.log_retention_days} days is not allowed: PCI DSS 10.5.1 needs at "
            f"least {MIN_LOG_RETENTION_DAYS} and CloudWatch accepts {', '.join(map(str, ALLOWED_LOG_RETENTION_DAYS))}"
        )
    if config.max_payment_minor_units <= 0:
        raise ConfigError("max payment amount must be a positive integer of minor units")
    if not (0 < config.screening_max_minor_units <= config.max_payment_minor_units):
        raise ConfigError(
            f"screening amount threshold {config.screening_max_minor_units} must be positive and at most the "
            f"max payment amount {config.max_payment_minor_units}"
        )
    if config.merchant_velocity_per_hour <= 0:
        raise ConfigError("merchant velocity per hour must be a positive number of payments")
    if not (0 < config.api_rate_limit <= 10_000) or not (0 < config.api_burst_limit <= 5_000):
        raise ConfigError("API throttling must be positive: rate 1-10000 req/s, burst 1-5000")
    if config.api_quota_per_day <= 0:
        raise ConfigError("API quota per day must be positive")
    unknown = set(config.functions) - set(DEFAULT_FUNCTION_LIMITS)
    if unknown:
        raise ConfigError(f"limits given for unknown functions: {', '.join(sorted(unknown))}")
    for name, limits in config.functions.items():
        if not (128 <= limits.memory_mb <= 10_240):
            raise ConfigError(f"{name}: memory {limits.memory_mb} MB is outside Lambda's 128-10240 MB")
        if not (1 <= limits.timeout_seconds <= 900):
            raise ConfigError(f"{name}: timeout {limits.timeout_seconds} s is outside Lambda's 1-900 s")
        if limits.reserved_concurrency < 1:
            raise ConfigError(f"{name}: reserved concurrency must be at least 1 (0 disables the function)")
    _validate_concurrency(config)


def _validate_concurrency(config: PlatformConfig) -> None:
    """The reserved concurrencies fit the account, and the queue consumer is never throttled by its own poller."""
    if not (0 < config.workflow_task_p99_seconds <= 900):
        raise ConfigError("workflow task p99 duration must be positive seconds, at most Lambda's 900 s timeout")
    reserved = sum(config.limits(name).reserved_concurrency for name in DEFAULT_FUNCTION_LIMITS)
    reservable = config.account_concurrency_limit - UNRESERVED_CONCURRENCY
    if reserved > reservable:
        raise ConfigError(
            f"the functions reserve {reserved} concurrent executions, but an account limit of "
            f"{config.account_concurrency_limit} leaves only {reservable} to reserve "
            f"(Lambda keeps {UNRESERVED_CONCURRENCY} unreserved): lower them or raise the quota"
        )
    consumer = config.limits("payment_processor").reserved_concurrency
    if consumer < MIN_EVENT_SOURCE_CONCURRENCY:
        raise ConfigError(
            f"payment_processor: reserved concurrency {consumer} is below the SQS event source's minimum maximum "
            f"concurrency ({MIN_EVENT_SOURCE_CONCURRENCY}); the poller would be throttled and valid payments "
            "would reach the dead-letter queue"
        )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(ENV_PREFIX + name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not a boolean (use true or false)")


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(ENV_PREFIX + name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name}={raw!r} is not an integer") from None


def from_environ(environ: Mapping[str, str]) -> PlatformConfig:
    """Build the config from ``PAYGATE_*`` variables; the only place the environment is read.

    Required: ``PAYGATE_ENVIRONMENT``. Everything else has a default suitable for a dev account.
    """
    env = environ.get(ENV_PREFIX + "ENVIRONMENT")
    if not env:
        raise ConfigError(f"{ENV_PREFIX}ENVIRONMENT is required (the environment suffix, e.g. 'dev')")
    region = environ.get(ENV_PREFIX + "REGION", "us-east-1")
    return PlatformConfig(
        environment=env,
        region=region,
        state_bucket=environ.get(ENV_PREFIX + "STATE_BUCKET", f"{APPLICATION}-terraform-state"),
        state_region=environ.get(ENV_PREFIX + "STATE_REGION", region),
        artifacts_dir=Path(environ.get(ENV_PREFIX + "ARTIFACTS_DIR", "build/dist")),
        repository=environ.get(ENV_PREFIX + "REPOSITORY", "paygate"),
        author=environ.get(ENV_PREFIX + "AUTHOR", "platform-team"),
        team=environ.get(ENV_PREFIX + "TEAM", "payments-platform"),
        commit=environ.get(ENV_PREFIX + "COMMIT") or None,
        deletion_protection=_flag(environ, "DELETION_PROTECTION", default=env in {"prod", "production"}),
        log_retention_days=_int(environ, "LOG_RETENTION_DAYS", MIN_LOG_RETENTION_DAYS),
        screening_max_minor_units=_int(environ, "SCREENING_MAX_MINOR_UNITS", 10_000_00),
        merchant_velocity_per_hour=_int(environ, "MERCHANT_VELOCITY_PER_HOUR", 1000),
    )
