"""Typed, validated platform configuration: built once at the entry point, passed explicitly.

Each environment is declared in the repository, one TOML file per environment
(``environments/<name>.toml``, read by :func:`read_environment_file`); ``PAYGATE_*`` variables override
some of its settings for local use (:func:`load`, which reports every override it applied).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any, cast

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
# An AWS account id is exactly 12 decimal digits (leading zeros kept: it is a string, not a number).
ACCOUNT_ID_PATTERN = re.compile(r"^[0-9]{12}$")
# Where an environment runs: LocalStack (the emulator; its default account is 000000000000) or AWS.
KIND_LOCALSTACK = "localstack"
KIND_AWS = "aws"
KINDS = (KIND_LOCALSTACK, KIND_AWS)
LOCALSTACK_ACCOUNT_ID = "000000000000"


class ConfigError(ValueError):
    """The configuration cannot produce a valid platform; the message says which setting and why.

    ``setting`` names the :class:`PlatformConfig` field refused (``"functions.<name>"`` for one function's
    limits, ``"evidence.<field>"`` for the evidence trust), or None when no single field is to blame; the
    environment file loader turns it into the key of the file (or the ``PAYGATE_*`` override) that set it.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class FunctionLimits:
    """Per-function runtime limits."""

    memory_mb: int
    timeout_seconds: int
    reserved_concurrency: int


@dataclass(frozen=True)
class EvidenceTrust:
    """Whose signatures on evidence bundles an environment accepts.

    ``trusted_keys``: paths, relative to the repository root, of PEM ed25519 public keys (e.g. the CI's).
    ``accept_local_keys``: a throwaway key generated for a local run is accepted too; only an environment
    of the ``localstack`` kind may say so.
    """

    trusted_keys: tuple[PurePosixPath, ...] = ()
    accept_local_keys: bool = False


@dataclass(frozen=True)
class PlatformConfig:
    """Everything a stack needs to know about one environment.

    ``kind`` is ``"localstack"`` or ``"aws"``; ``account_id`` the 12-digit AWS account the environment
    lives in (the provider refuses credentials of any other: :attr:`allowed_account_ids`).
    """

    environment: str
    region: str
    state_bucket: str
    state_region: str
    artifacts_dir: Path
    kind: str
    account_id: str
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
    # The web ACL blocks a client IP above this many requests in 5 minutes (stacks/constructs/waf.py).
    waf_rate_limit_per_5_minutes: int = 2_000
    functions: Mapping[str, FunctionLimits] = field(default_factory=dict)
    # Reconciliation (lambdas/reconciliation): how often it runs (minutes), from what age a payment in flight or a
    # batch file not finished is re-driven, from what age one still there raises the still-stuck alarm, and how far
    # back failed workflow runs are read (seconds). A re-drive of something still being processed changes nothing
    # (a running workflow is left to itself, a batch file's lease holds off a second invocation), so the stuck age
    # only decides how soon a stuck one is picked up: above the time a healthy payment or file takes.
    reconciliation_every_minutes: int = 5
    reconciliation_stuck_after_seconds: int = 1800
    reconciliation_alarm_after_seconds: int = 7200
    reconciliation_lookback_seconds: int = 86_400
    # Concurrency sizing (README "Concurrency sizing"): the p99 duration of one workflow task on AWS
    # (a Lambda invoke doing a few DynamoDB calls and at most one SNS publish), and the account's
    # Lambda concurrency quota, of which AWS keeps UNRESERVED_CONCURRENCY unreserved.
    workflow_task_p99_seconds: float = 0.2
    account_concurrency_limit: int = 1000
    evidence: EvidenceTrust = EvidenceTrust()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def prefix(self) -> str:
        """Name prefix that keeps environments apart: ``paygate-<env>``."""
        return f"{APPLICATION}-{self.environment}"

    @property
    def allowed_account_ids(self) -> tuple[str, ...]:
        """The AWS provider's ``allowed_account_ids``: credentials of another account fail before any change."""
        return (self.account_id,)

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
    # One run at a time: a scheduled run never overlaps the previous one (or an operator's).
    "reconciliation": FunctionLimits(memory_mb=256, timeout_seconds=300, reserved_concurrency=1),
}
# The shortest stuck age the reconciliation accepts (seconds).
MIN_STUCK_AFTER_SECONDS = 60
# Lambda keeps this much of the account's concurrency unreserved (PutFunctionConcurrency refuses more).
UNRESERVED_CONCURRENCY = 100
# An SQS event source mapping's maximum concurrency is at least 2 (Lambda ScalingConfig).
MIN_EVENT_SOURCE_CONCURRENCY = 2


def _validate(config: PlatformConfig) -> None:
    if not ENVIRONMENT_PATTERN.fullmatch(config.environment):
        raise ConfigError(
            f"environment {config.environment!r} is invalid: it becomes part of S3 bucket and IAM "
            "names, so use 1-16 lowercase letters, digits or single hyphens, starting with a letter "
            "and ending with a letter or digit (e.g. 'dev', 'pr-123')",
            setting="environment",
        )
    if config.kind not in KINDS:
        raise ConfigError(f"kind {config.kind!r} is not one of {', '.join(KINDS)}", setting="kind")
    if not ACCOUNT_ID_PATTERN.fullmatch(config.account_id):
        raise ConfigError(
            f"account id {config.account_id!r} is not an AWS account id (12 digits, written as a string)",
            setting="account_id",
        )
    for setting, value in (("region", config.region), ("state_region", config.state_region)):
        if not REGION_PATTERN.fullmatch(value):
            raise ConfigError(
                f"{setting.replace('_', ' ')} {value!r} is not a supported AWS region name (e.g. 'eu-west-1'; "
                "the China and ISO partitions are not supported)",
                setting=setting,
            )
    if not BUCKET_PATTERN.fullmatch(config.state_bucket) or ".." in config.state_bucket:
        raise ConfigError(
            f"state bucket {config.state_bucket!r} is not a valid S3 bucket name "
            "(3-63 lowercase letters, digits, dots or hyphens, starting and ending alphanumeric)",
            setting="state_bucket",
        )
    for name in ("repository", "author", "team"):
        value = getattr(config, name)
        if not TAG_VALUE_PATTERN.fullmatch(value):
            raise ConfigError(
                f"{name} {value!r} is not a valid AWS tag value (1-256 of letters, digits, spaces, _.:/=+-@)",
                setting=name,
            )
    if config.commit is not None and not COMMIT_PATTERN.fullmatch(config.commit):
        raise ConfigError(
            f"commit {config.commit!r} is not a git commit id (7-40 lowercase hex digits)", setting="commit"
        )
    if config.log_retention_days not in ALLOWED_LOG_RETENTION_DAYS:
        raise ConfigError(
            f"log retention {config.log_retention_days} days is not allowed: PCI DSS 10.5.1 needs at "
            f"least {MIN_LOG_RETENTION_DAYS} and CloudWatch accepts {', '.join(map(str, ALLOWED_LOG_RETENTION_DAYS))}",
            setting="log_retention_days",
        )
    _validate_limits(config)
    _validate_reconciliation(config)
    _validate_evidence(config)
    _validate_concurrency(config)


def _validate_limits(config: PlatformConfig) -> None:
    if config.max_payment_minor_units <= 0:
        raise ConfigError(
            "max payment amount must be a positive integer of minor units", setting="max_payment_minor_units"
        )
    if not (0 < config.screening_max_minor_units <= config.max_payment_minor_units):
        raise ConfigError(
            f"screening amount threshold {config.screening_max_minor_units} must be positive and at most the "
            f"max payment amount {config.max_payment_minor_units}",
            setting="screening_max_minor_units",
        )
    if config.merchant_velocity_per_hour <= 0:
        raise ConfigError(
            "merchant velocity per hour must be a positive number of payments", setting="merchant_velocity_per_hour"
        )
    if not (0 < config.api_rate_limit <= 10_000):
        raise ConfigError("API throttling must be positive: rate 1-10000 req/s, burst 1-5000", setting="api_rate_limit")
    if not (0 < config.api_burst_limit <= 5_000):
        raise ConfigError(
            "API throttling must be positive: rate 1-10000 req/s, burst 1-5000", setting="api_burst_limit"
        )
    if config.api_quota_per_day <= 0:
        raise ConfigError("API quota per day must be positive", setting="api_quota_per_day")
    if not (10 <= config.waf_rate_limit_per_5_minutes <= 2_000_000_000):
        # AWS WAF's bounds of a rate-based rule's limit (API reference, RateBasedStatement.Limit).
        raise ConfigError(
            "WAF rate limit must be 10-2000000000 requests per client IP in 5 minutes",
            setting="waf_rate_limit_per_5_minutes",
        )
    unknown = set(config.functions) - set(DEFAULT_FUNCTION_LIMITS)
    if unknown:
        raise ConfigError(f"limits given for unknown functions: {', '.join(sorted(unknown))}", setting="functions")
    for name, limits in config.functions.items():
        setting = f"functions.{name}"
        if not (128 <= limits.memory_mb <= 10_240):
            raise ConfigError(f"{name}: memory {limits.memory_mb} MB is outside Lambda's 128-10240 MB", setting=setting)
        if not (1 <= limits.timeout_seconds <= 900):
            raise ConfigError(
                f"{name}: timeout {limits.timeout_seconds} s is outside Lambda's 1-900 s", setting=setting
            )
        if limits.reserved_concurrency < 1:
            raise ConfigError(
                f"{name}: reserved concurrency must be at least 1 (0 disables the function)", setting=setting
            )


def _validate_reconciliation(config: PlatformConfig) -> None:
    """EventBridge's rate() takes whole minutes; the alarm age must exceed the stuck age (else every re-drive would
    alarm) and the lookback the alarm age (else a failed run is forgotten before anyone is told)."""
    every = config.reconciliation_every_minutes
    stuck, alarm, lookback = (
        config.reconciliation_stuck_after_seconds,
        config.reconciliation_alarm_after_seconds,
        config.reconciliation_lookback_seconds,
    )
    if not 1 <= every <= 1440:
        raise ConfigError(
            f"reconciliation every {every} minutes: expected 1-1440 (an EventBridge rate of whole minutes, "
            "at least once a day)",
            setting="reconciliation_every_minutes",
        )
    if stuck < MIN_STUCK_AFTER_SECONDS:
        raise ConfigError(
            f"reconciliation stuck age {stuck} s is below {MIN_STUCK_AFTER_SECONDS} s: a payment would be re-driven "
            "while its first run is still being started",
            setting="reconciliation_stuck_after_seconds",
        )
    if alarm <= stuck:
        raise ConfigError(
            f"reconciliation alarm age {alarm} s must be above the stuck age {stuck} s",
            setting="reconciliation_alarm_after_seconds",
        )
    if lookback < alarm:
        raise ConfigError(
            f"reconciliation lookback {lookback} s must be at least the alarm age {alarm} s",
            setting="reconciliation_lookback_seconds",
        )


def _validate_evidence(config: PlatformConfig) -> None:
    if config.evidence.accept_local_keys and config.kind != KIND_LOCALSTACK:
        raise ConfigError(
            f"accept_local_keys is true for an environment of kind {config.kind!r}: a throwaway key generated "
            f"on someone's machine may only vouch for a {KIND_LOCALSTACK!r} environment",
            setting="evidence.accept_local_keys",
        )
    for key in config.evidence.trusted_keys:
        if key.is_absolute() or ".." in key.parts or not key.parts:
            raise ConfigError(
                f"trusted key {str(key)!r} must be a path inside the repository, relative to its root "
                "(e.g. 'environments/keys/ci.pem')",
                setting="evidence.trusted_keys",
            )


def _validate_concurrency(config: PlatformConfig) -> None:
    """The reserved concurrencies fit the account, and the queue consumer is never throttled by its own poller."""
    if not (0 < config.workflow_task_p99_seconds <= 900):
        raise ConfigError(
            "workflow task p99 duration must be positive seconds, at most Lambda's 900 s timeout",
            setting="workflow_task_p99_seconds",
        )
    reserved = sum(config.limits(name).reserved_concurrency for name in DEFAULT_FUNCTION_LIMITS)
    reservable = config.account_concurrency_limit - UNRESERVED_CONCURRENCY
    if reserved > reservable:
        raise ConfigError(
            f"the functions reserve {reserved} concurrent executions, but an account limit of "
            f"{config.account_concurrency_limit} leaves only {reservable} to reserve "
            f"(Lambda keeps {UNRESERVED_CONCURRENCY} unreserved): lower them or raise the quota",
            setting="account_concurrency_limit",
        )
    consumer = config.limits("payment_processor").reserved_concurrency
    if consumer < MIN_EVENT_SOURCE_CONCURRENCY:
        raise ConfigError(
            f"payment_processor: reserved concurrency {consumer} is below the SQS event source's minimum maximum "
            f"concurrency ({MIN_EVENT_SOURCE_CONCURRENCY}); the poller would be throttled and valid payments "
            "would reach the dead-letter queue",
            setting="functions.payment_processor",
        )


# --- environment files -------------------------------------------------------------------------------

ENVIRONMENTS_DIR = "environments"
ENVIRONMENT_FILE_SUFFIX = ".toml"


@dataclass(frozen=True)
class _Key:
    """One key of an environment file: the PlatformConfig field it sets, its TOML type, whether required."""

    setting: str
    kind: str  # "string", "boolean", "integer", "number", "list of strings"
    required: bool = True


# Every key an environment file may hold (dotted: table.key). Limits are optional (defaults in code);
# limits.functions.<function>.<limit> are read separately (see _FUNCTION_LIMIT_KEYS).
FILE_KEYS: Mapping[str, _Key] = {
    "kind": _Key("kind", "string"),
    "region": _Key("region", "string"),
    "account_id": _Key("account_id", "string"),
    "deletion_protection": _Key("deletion_protection", "boolean"),
    "log_retention_days": _Key("log_retention_days", "integer"),
    "state.bucket": _Key("state_bucket", "string"),
    "state.region": _Key("state_region", "string"),
    "tags.repository": _Key("repository", "string"),
    "tags.author": _Key("author", "string"),
    "tags.team": _Key("team", "string"),
    "limits.max_payment_minor_units": _Key("max_payment_minor_units", "integer", required=False),
    "limits.screening_max_minor_units": _Key("screening_max_minor_units", "integer", required=False),
    "limits.merchant_velocity_per_hour": _Key("merchant_velocity_per_hour", "integer", required=False),
    "limits.api_rate_limit": _Key("api_rate_limit", "number", required=False),
    "limits.api_burst_limit": _Key("api_burst_limit", "integer", required=False),
    "limits.api_quota_per_day": _Key("api_quota_per_day", "integer", required=False),
    "limits.waf_rate_limit_per_5_minutes": _Key("waf_rate_limit_per_5_minutes", "integer", required=False),
    "limits.workflow_task_p99_seconds": _Key("workflow_task_p99_seconds", "number", required=False),
    "limits.account_concurrency_limit": _Key("account_concurrency_limit", "integer", required=False),
    "reconciliation.every_minutes": _Key("reconciliation_every_minutes", "integer", required=False),
    "reconciliation.stuck_after_seconds": _Key("reconciliation_stuck_after_seconds", "integer", required=False),
    "reconciliation.alarm_after_seconds": _Key("reconciliation_alarm_after_seconds", "integer", required=False),
    "reconciliation.lookback_seconds": _Key("reconciliation_lookback_seconds", "integer", required=False),
    "evidence.trusted_keys": _Key("evidence.trusted_keys", "list of strings"),
    "evidence.accept_local_keys": _Key("evidence.accept_local_keys", "boolean"),
}
_TABLES = frozenset({"state", "tags", "limits", "limits.functions", "reconciliation", "evidence"})
_FUNCTION_LIMIT_KEYS = ("memory_mb", "timeout_seconds", "reserved_concurrency")


def _is(kind: str, value: object) -> bool:
    """Whether a TOML value has the key's type (a TOML boolean is never an integer, an integer is a number)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


@dataclass(frozen=True)
class EnvironmentFile:
    """One declared environment, as its file states it (before any ``PAYGATE_*`` override).

    ``name``: the file's stem, the environment suffix (``dev``, ``production``). ``path``: the file.
    ``display``: the path shown in messages, relative to the repository (``environments/dev.toml``).
    ``settings``: :class:`PlatformConfig` keyword arguments the file sets (``evidence`` an
    :class:`EvidenceTrust`, ``functions`` a mapping of :class:`FunctionLimits`); ``keys``: for each
    setting the file key that set it (``state_bucket`` -> ``state.bucket``), for error messages.
    """

    name: str
    path: Path
    display: str
    settings: Mapping[str, Any]
    keys: Mapping[str, str]


def declared_environments(environments_dir: Path) -> tuple[str, ...]:
    """The environments declared in ``environments_dir`` (one ``<name>.toml`` each), sorted."""
    if not environments_dir.is_dir():
        return ()
    return tuple(sorted(p.stem for p in environments_dir.glob(f"*{ENVIRONMENT_FILE_SUFFIX}") if p.is_file()))


def environment_file_path(environments_dir: Path, name: str) -> Path:
    """``<environments_dir>/<name>.toml``; ConfigError when ``name`` is not declared there (listing those that are)."""
    if not ENVIRONMENT_PATTERN.fullmatch(name):
        raise ConfigError(
            f"environment {name!r} is invalid: it becomes part of S3 bucket and IAM names, so use 1-16 lowercase "
            "letters, digits or single hyphens, starting with a letter and ending with a letter or digit",
            setting="environment",
        )
    path = environments_dir / f"{name}{ENVIRONMENT_FILE_SUFFIX}"
    if not path.is_file():
        declared = declared_environments(environments_dir)
        raise ConfigError(
            f"environment {name!r} is not declared: there is no {environments_dir.name}/{path.name} "
            f"(declared: {', '.join(declared) or 'none'}); add the file to declare it"
        )
    return path


def read_environment_file(environments_dir: Path, name: str) -> EnvironmentFile:
    """Read and type-check ``<environments_dir>/<name>.toml`` (TOML 1.0, ``tomllib``).

    Shape (every key required unless marked optional)::

        kind = "localstack" | "aws"
        region = "eu-west-1"
        account_id = "123456789012"          # 12 digits, a string (leading zeros are kept)
        deletion_protection = true           # DynamoDB deletion protection, no force_destroy on buckets
        log_retention_days = 365             # CloudWatch; >= 365 (PCI DSS 10.5.1), one CloudWatch accepts
        [state]                              # S3 backend; key <name>/paygate.tfstate, encrypted, locked
        bucket = "..."; region = "..."
        [limits]                             # optional, each key too (defaults: PlatformConfig)
        max_payment_minor_units = 100000000  # integer minor units; screening_max_minor_units, ...
        [limits.functions.<function>]        # optional: memory_mb, timeout_seconds, reserved_concurrency
        [reconciliation]                     # optional, each key too: every_minutes, stuck_after_seconds,
                                             # alarm_after_seconds, lookback_seconds
        [tags]
        repository = "..."; author = "..."; team = "..."
        [evidence]
        trusted_keys = ["environments/keys/ci.pem"]   # PEM ed25519 public keys, relative to the repo root
        accept_local_keys = false            # true only for kind = "localstack"

    Raises ConfigError, its message starting with the file's path and naming the key, when the name is
    not declared (the message lists those that are), the file is not TOML, a key is unknown, missing or of
    the wrong type, or a trusted key file does not exist. Values are validated by :class:`PlatformConfig`
    (:func:`load`).
    """
    path = environment_file_path(environments_dir, name)
    display = f"{environments_dir.name}/{path.name}"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{display}: not a valid TOML file: {error}") from None
    flat = _flatten(document, display)
    settings: dict[str, Any] = {}
    keys: dict[str, str] = {}
    functions: dict[str, dict[str, int]] = {}
    for key, value in flat.items():
        if key.startswith("limits.functions."):
            function, limit = key.removeprefix("limits.functions.").split(".", 1)
            _check_type(display, key, "integer", value)
            functions.setdefault(function, {})[limit] = cast(int, value)
            keys[f"functions.{function}"] = f"limits.functions.{function}"
            continue
        spec = FILE_KEYS[key]
        _check_type(display, key, spec.kind, value)
        settings[spec.setting] = value
        keys[spec.setting] = key
    missing = [key for key, spec in FILE_KEYS.items() if spec.required and key not in flat]
    if missing:
        raise ConfigError(f"{display}: {', '.join(missing)} missing (every environment file declares them)")
    trusted = tuple(PurePosixPath(item) for item in settings.pop("evidence.trusted_keys"))
    settings["evidence"] = EvidenceTrust(trusted, settings.pop("evidence.accept_local_keys"))
    keys["evidence"] = "evidence"
    root = environments_dir.parent
    for index, key_path in enumerate(trusted):
        if not key_path.is_absolute() and ".." not in key_path.parts and not (root / key_path).is_file():
            raise ConfigError(f"{display}: evidence.trusted_keys[{index}]: no such key file {str(key_path)!r}")
    if functions:
        settings["functions"] = {
            function: replace(DEFAULT_FUNCTION_LIMITS[function], **limits) for function, limits in functions.items()
        }
    return EnvironmentFile(name=name, path=path, display=display, settings=settings, keys=keys)


def _flatten(document: Mapping[str, Any], display: str) -> dict[str, object]:
    """``{"state": {"bucket": b}}`` -> ``{"state.bucket": b}``; ConfigError naming any key the schema lacks."""
    flat: dict[str, object] = {}

    def walk(table: Mapping[str, Any], prefix: str) -> None:
        for name, value in table.items():
            key = prefix + name
            if key.startswith("limits.functions.") and key.count(".") == 2:
                if name not in DEFAULT_FUNCTION_LIMITS:
                    raise ConfigError(
                        f"{display}: {key}: unknown function (known: {', '.join(DEFAULT_FUNCTION_LIMITS)})"
                    )
                if not isinstance(value, dict):
                    raise ConfigError(f"{display}: {key}: expected a table of {', '.join(_FUNCTION_LIMIT_KEYS)}")
                walk(value, key + ".")
            elif key.startswith("limits.functions."):
                if name not in _FUNCTION_LIMIT_KEYS:
                    raise ConfigError(f"{display}: unknown key {key!r} (known: {', '.join(_FUNCTION_LIMIT_KEYS)})")
                flat[key] = value
            elif key in _TABLES:
                if not isinstance(value, dict):
                    raise ConfigError(f"{display}: {key}: expected a table ([{key}]), got {_describe(value)}")
                walk(value, key + ".")
            elif key in FILE_KEYS:
                flat[key] = value
            else:
                here = (k for k in (*FILE_KEYS, *_TABLES) if k.startswith(prefix) and "." not in k[len(prefix) :])
                known = sorted(here)
                raise ConfigError(f"{display}: unknown key {key!r} (known here: {', '.join(known)})")

    walk(document, "")
    return flat


def _describe(value: object) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return f"{value!r} ({names.get(type(value), type(value).__name__)})"


def _check_type(display: str, key: str, kind: str, value: object) -> None:
    if not _is(kind, value):
        hint = " (write it in quotes: an account id keeps its leading zeros)" if key == "account_id" else ""
        article = "an" if kind[0] in "aeiou" else "a"
        raise ConfigError(f"{display}: {key}: expected {article} {kind}, got {_describe(value)}{hint}")


# --- PAYGATE_* overrides ----------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{variable}={raw!r} is not a boolean (use true or false)")


def _int(variable: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{variable}={raw!r} is not an integer") from None


def _text(variable: str, raw: str) -> str:
    return raw


# PAYGATE_<NAME> -> (file key, parser). The account and the kind are not overridable: they are what the
# provider's allowed_account_ids and the evidence trust rest on; declare another environment instead.
OVERRIDES: Mapping[str, tuple[str, Callable[[str, str], object]]] = {
    "REGION": ("region", _text),
    "STATE_BUCKET": ("state.bucket", _text),
    "STATE_REGION": ("state.region", _text),
    "REPOSITORY": ("tags.repository", _text),
    "AUTHOR": ("tags.author", _text),
    "TEAM": ("tags.team", _text),
    "DELETION_PROTECTION": ("deletion_protection", _flag),
    "LOG_RETENTION_DAYS": ("log_retention_days", _int),
    "SCREENING_MAX_MINOR_UNITS": ("limits.screening_max_minor_units", _int),
    "MERCHANT_VELOCITY_PER_HOUR": ("limits.merchant_velocity_per_hour", _int),
}
NOT_OVERRIDABLE = ("ACCOUNT_ID", "KIND")
# What an optional key of the file defaults to when the file leaves it out.
_DEFAULTS: Mapping[str, object] = {f.name: f.default for f in fields(PlatformConfig)}


@dataclass(frozen=True)
class Override:
    """A ``PAYGATE_*`` variable that replaced a setting of the environment file (reported by synth)."""

    variable: str
    key: str
    value: object
    declared: object

    @property
    def changed(self) -> bool:
        return self.value != self.declared

    def describe(self, display: str) -> str:
        """``PAYGATE_REGION overrides environments/dev.toml region ('us-east-1' -> 'eu-west-1')``."""
        if not self.changed:
            return f"{self.variable} is set to the {self.key} {display} declares ({self.value!r}): no change"
        return f"{self.variable} overrides {display} {self.key} ({self.declared!r} -> {self.value!r})"


@dataclass(frozen=True)
class LoadedEnvironment:
    """The validated config of one environment, the file it came from and the overrides applied to it."""

    config: PlatformConfig
    file: EnvironmentFile
    overrides: tuple[Override, ...]

    def report(self) -> list[str]:
        """One line per applied override, then whether the artifact is reproducible from the commit alone."""
        lines = [override.describe(self.file.display) for override in self.overrides]
        if any(override.changed for override in self.overrides):
            lines.append(
                f"the artifact of {self.config.environment!r} differs from what {self.file.display} alone gives: "
                "it is not reproducible from the commit (evidence verification re-synthesizes without overrides)"
            )
        return lines


def load(environ: Mapping[str, str], environments_dir: Path) -> LoadedEnvironment:
    """Build the config of ``PAYGATE_ENVIRONMENT`` from its environment file, then ``PAYGATE_*`` overrides.

    The only place the process environment is read for the platform. Read: ``PAYGATE_ENVIRONMENT``
    (required: the declared environment, e.g. ``dev``), ``PAYGATE_ARTIFACTS_DIR`` (default ``build/dist``),
    ``PAYGATE_COMMIT`` (optional ``GitCommit`` tag) and the overrides of :data:`OVERRIDES`.

    Raises ConfigError naming the variable, or the file and key, when the environment is missing or not
    declared, the file is invalid (:func:`read_environment_file`), an override cannot be parsed or names
    a setting that is not overridable (account id, kind), or a value is refused by :class:`PlatformConfig`.
    """
    name = environ.get(ENV_PREFIX + "ENVIRONMENT")
    if not name:
        raise ConfigError(f"{ENV_PREFIX}ENVIRONMENT is required (the environment suffix, e.g. 'dev')")
    for setting in NOT_OVERRIDABLE:
        if (ENV_PREFIX + setting) in environ:
            raise ConfigError(
                f"{ENV_PREFIX}{setting} is not an override: the {setting.lower().replace('_', ' ')} of an environment "
                f"is declared only in {ENVIRONMENTS_DIR}/<name>{ENVIRONMENT_FILE_SUFFIX}; declare another environment"
            )
    declared = read_environment_file(environments_dir, name)
    settings = dict(declared.settings)
    overridden: dict[str, str] = {}
    overrides = []
    for suffix, (key, parse) in OVERRIDES.items():
        variable = ENV_PREFIX + suffix
        raw = environ.get(variable)
        if raw is None:
            continue
        setting = FILE_KEYS[key].setting
        value = parse(variable, raw)
        overrides.append(Override(variable, key, value, settings.get(setting, _DEFAULTS.get(setting))))
        settings[setting] = value
        overridden[setting] = variable
    try:
        config = PlatformConfig(
            environment=name,
            artifacts_dir=Path(environ.get(ENV_PREFIX + "ARTIFACTS_DIR", "build/dist")),
            commit=environ.get(ENV_PREFIX + "COMMIT") or None,
            **settings,
        )
    except ConfigError as error:
        raise _located(error, declared, overridden) from None
    return LoadedEnvironment(config, declared, tuple(overrides))


def _located(error: ConfigError, declared: EnvironmentFile, overridden: Mapping[str, str]) -> ConfigError:
    """The refusal, prefixed with where the refused value came from (an override, or the file's key)."""
    setting = error.setting or ""
    field = setting.split(".", 1)[0] if setting.startswith("evidence.") else setting
    if setting in overridden:
        key = next(key for key, spec in FILE_KEYS.items() if spec.setting == setting)
        where = f"{overridden[setting]} (overriding {declared.display} {key})"
    elif setting.startswith("evidence."):
        where = f"{declared.display}: {setting}"
    elif field in declared.keys:
        where = f"{declared.display}: {declared.keys[field]}"
    else:
        where = declared.display
    return ConfigError(f"{where}: {error}", setting=error.setting)
