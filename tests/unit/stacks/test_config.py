"""PlatformConfig: every validation branch names the setting it refuses (pure, fast).

The environment files and their PAYGATE_* overrides are tested in test_environments.py.
"""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from stacks.config import (
    ALLOWED_LOG_RETENTION_DAYS,
    DEFAULT_FUNCTION_LIMITS,
    ConfigError,
    EvidenceTrust,
    FunctionLimits,
    PlatformConfig,
)

VALID: dict[str, Any] = {
    "environment": "dev",
    "region": "eu-west-1",
    "state_bucket": "paygate-terraform-state",
    "state_region": "eu-west-1",
    "artifacts_dir": Path("build/dist"),
    "kind": "localstack",
    "account_id": "000000000000",
}
REAL_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-2",
    "ap-southeast-4",
    "sa-east-1",
    "ca-west-1",
    "me-central-1",
    "il-central-1",
    "us-gov-west-1",
)
# Real regions of partitions whose service domains are not "<service>.<region>.amazonaws.com".
UNSUPPORTED_PARTITION_REGIONS = ("cn-north-1", "cn-northwest-1", "us-iso-east-1", "us-isob-east-1")
LOWER = string.ascii_lowercase
ALNUM = LOWER + string.digits


def config(**overrides: Any) -> PlatformConfig:
    return PlatformConfig(**{**VALID, **overrides})


def refused(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as error:
        config(**overrides)
    return str(error.value)


# --- the rules, restated independently of the regexes in stacks/config.py -------------------------


def follows_environment_rules(value: str) -> bool:
    """1-16 lowercase letters, digits or single hyphens; starts with a letter; ends alphanumeric."""
    return (
        1 <= len(value) <= 16
        and all(c in ALNUM + "-" for c in value)
        and value[0] in LOWER
        and not value.endswith("-")
        and "--" not in value
    )


def is_region_name(value: str) -> bool:
    """``cc[-gov]-area-<digit>`` with ASCII lowercase letters and one ASCII digit, not in China."""

    def letters(part: str) -> bool:
        return bool(part) and all(c in LOWER for c in part)

    parts = value.split("-")
    if len(parts) not in (3, 4):
        return False
    country, *middle, number = parts
    if len(parts) == 4:
        qualifier = middle.pop(0)
        if qualifier != "gov":
            return False
    return (
        country != "cn"
        and len(country) == 2
        and letters(country)
        and letters(middle[0])
        and len(number) == 1
        and number in "0123456789"
    )


valid_environments = st.builds(
    lambda first, rest: first + "".join(rest),
    st.sampled_from(LOWER),
    st.lists(st.sampled_from(ALNUM) | st.sampled_from(ALNUM).map(lambda c: "-" + c), max_size=15),
).filter(lambda value: len(value) <= 16)

invalid_environments = st.one_of(
    st.text(max_size=24),
    st.text(alphabet=ALNUM + "-_.A Z", max_size=24),
    valid_environments.map(lambda v: v + "-"),
    valid_environments.map(lambda v: v.upper()),
    valid_environments.map(lambda v: v[0] + "--" + v[1:]),
    valid_environments.map(lambda v: (v + "x" * 16)[:17]),
    valid_environments.map(lambda v: "9" + v),
).filter(lambda value: not follows_environment_rules(value))

valid_regions = st.sampled_from(REAL_REGIONS) | st.builds(
    lambda cc, qualifier, area, digit: "-".join(p for p in (cc, qualifier, area, digit) if p),
    st.text(alphabet=LOWER, min_size=2, max_size=2).filter(lambda cc: cc != "cn"),
    st.sampled_from(("", "gov")),
    st.text(alphabet=LOWER, min_size=1, max_size=12),
    st.sampled_from(string.digits),
)

invalid_regions = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=LOWER + string.digits + "-", max_size=20),
    # a real region whose number is some other Unicode decimal digit (U+0661, U+FF15, ...)
    st.builds(lambda r, d: r[:-1] + d, st.sampled_from(REAL_REGIONS), st.characters(categories=("Nd",))),
    st.sampled_from(REAL_REGIONS).map(str.upper),
    st.sampled_from(REAL_REGIONS).map(lambda r: r + "0"),
    st.sampled_from(UNSUPPORTED_PARTITION_REGIONS),
).filter(lambda value: not is_region_name(value))


# --- valid configs ---------------------------------------------------------------------------------


def test_valid_config_derives_prefix_state_key_and_tags() -> None:
    cfg = config()

    assert cfg.prefix == "paygate-dev"
    assert cfg.state_key_prefix == "dev"
    assert cfg.state_key("paygate") == "dev/paygate.tfstate"
    assert cfg.tags == {
        "Application": "paygate",
        "Environment": "dev",
        "DataClassification": "confidential",
        "Repository": "paygate",
        "Author": "platform-team",
        "Team": "payments-platform",
        "ManagedBy": "cdktf",
    }


def test_the_provider_allows_only_the_environment_account() -> None:
    assert config(kind="aws", account_id="222222222222").allowed_account_ids == ("222222222222",)


def test_an_environment_trusts_no_key_unless_it_says_so() -> None:
    assert config().evidence == EvidenceTrust(trusted_keys=(), accept_local_keys=False)


def test_the_refusal_names_the_field_it_refuses() -> None:
    """The environment file loader turns this into the file's key (test_environments.py)."""
    with pytest.raises(ConfigError) as error:
        config(state_region="x")
    assert error.value.setting == "state_region"
    with pytest.raises(ConfigError) as error:
        config(functions={"api_handler": FunctionLimits(64, 10, 1)})
    assert error.value.setting == "functions.api_handler"


def test_commit_adds_a_git_commit_tag() -> None:
    assert config(commit="0123abcd").tags["GitCommit"] == "0123abcd"
    assert "GitCommit" not in config(commit=None).tags


def test_limits_default_per_function_and_can_be_overridden() -> None:
    custom = FunctionLimits(memory_mb=2048, timeout_seconds=60, reserved_concurrency=3)
    cfg = config(functions={"batch_processor": custom})

    assert cfg.limits("batch_processor") == custom
    assert cfg.limits("api_handler") == DEFAULT_FUNCTION_LIMITS["api_handler"]


def test_config_is_frozen() -> None:
    cfg = config()
    with pytest.raises(AttributeError):
        cfg.environment = "prod"  # type: ignore[misc]


@pytest.mark.parametrize("days", ALLOWED_LOG_RETENTION_DAYS)
def test_every_retention_cloudwatch_accepts_from_one_year_is_allowed(days: int) -> None:
    assert config(log_retention_days=days).log_retention_days == days


# --- every refusal names the setting ------------------------------------------------------------

BAD_LIMITS = FunctionLimits(memory_mb=512, timeout_seconds=30, reserved_concurrency=10)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        pytest.param({"environment": ""}, "environment ''", id="environment-empty"),
        pytest.param({"environment": "Dev"}, "environment 'Dev'", id="environment-uppercase"),
        pytest.param({"environment": "1dev"}, "environment '1dev'", id="environment-starts-with-digit"),
        pytest.param({"environment": "dev-"}, "environment 'dev-'", id="environment-trailing-hyphen"),
        pytest.param({"environment": "de--v"}, "environment 'de--v'", id="environment-double-hyphen"),
        pytest.param({"environment": "dev_1"}, "environment 'dev_1'", id="environment-underscore"),
        pytest.param({"environment": "a" * 17}, "environment 'aaaaaaaaaaaaaaaaa'", id="environment-too-long"),
        pytest.param({"region": "eu-west"}, "region 'eu-west'", id="region-no-number"),
        pytest.param({"region": "EU-WEST-1"}, "region 'EU-WEST-1'", id="region-uppercase"),
        pytest.param({"state_region": "euwest1"}, "state region 'euwest1'", id="state-region"),
        pytest.param({"kind": "ec2"}, "kind 'ec2' is not one of localstack, aws", id="kind-unknown"),
        pytest.param({"kind": "AWS"}, "kind 'AWS'", id="kind-uppercase"),
        pytest.param({"account_id": "12345678901"}, "account id '12345678901'", id="account-11-digits"),
        pytest.param({"account_id": "1234567890123"}, "account id '1234567890123'", id="account-13-digits"),
        pytest.param({"account_id": "12345678901a"}, "account id '12345678901a'", id="account-not-digits"),
        pytest.param({"account_id": "\u0661" * 12}, "account id", id="account-non-ascii-digits"),
        pytest.param({"account_id": "123456789012\n"}, "account id", id="account-trailing-newline"),
        pytest.param(
            {"kind": "aws", "evidence": EvidenceTrust(accept_local_keys=True)},
            "accept_local_keys is true for an environment of kind 'aws'",
            id="local-keys-for-aws",
        ),
        pytest.param(
            {"evidence": EvidenceTrust(trusted_keys=(PurePosixPath("/etc/ci.pem"),))},
            "trusted key '/etc/ci.pem' must be a path inside the repository",
            id="trusted-key-absolute",
        ),
        pytest.param(
            {"evidence": EvidenceTrust(trusted_keys=(PurePosixPath("../other/ci.pem"),))},
            "trusted key '../other/ci.pem'",
            id="trusted-key-outside",
        ),
        pytest.param({"state_bucket": "ab"}, "state bucket 'ab'", id="bucket-too-short"),
        pytest.param({"state_bucket": "Bad_Bucket"}, "state bucket 'Bad_Bucket'", id="bucket-charset"),
        pytest.param({"state_bucket": "a..b"}, "state bucket 'a..b'", id="bucket-double-dot"),
        pytest.param({"state_bucket": "-abc"}, "state bucket '-abc'", id="bucket-leading-hyphen"),
        pytest.param({"state_bucket": "a" * 64}, "state bucket", id="bucket-too-long"),
        pytest.param({"repository": "bad#repo"}, "repository 'bad#repo'", id="repository-tag-value"),
        pytest.param({"author": ""}, "author ''", id="author-empty"),
        pytest.param({"team": "t" * 257}, "team", id="team-too-long"),
        pytest.param({"commit": "XYZ1234"}, "commit 'XYZ1234'", id="commit-not-hex"),
        pytest.param({"commit": "abc12"}, "commit 'abc12'", id="commit-too-short"),
        pytest.param({"commit": "a" * 41}, "commit", id="commit-too-long"),
        pytest.param({"log_retention_days": 30}, "log retention 30 days", id="retention-below-a-year"),
        pytest.param({"log_retention_days": 366}, "log retention 366 days", id="retention-not-a-cloudwatch-value"),
        pytest.param({"max_payment_minor_units": 0}, "max payment amount", id="max-payment-zero"),
        pytest.param({"max_payment_minor_units": -5}, "max payment amount", id="max-payment-negative"),
        pytest.param({"screening_max_minor_units": 0}, "screening amount threshold 0", id="screening-zero"),
        pytest.param(
            {"max_payment_minor_units": 500, "screening_max_minor_units": 501},
            "at most the max payment amount 500",
            id="screening-above-max",
        ),
        pytest.param({"merchant_velocity_per_hour": 0}, "merchant velocity", id="velocity-zero"),
        pytest.param({"api_rate_limit": 0}, "API throttling", id="rate-zero"),
        pytest.param({"api_rate_limit": 10_001}, "API throttling", id="rate-too-high"),
        pytest.param({"api_burst_limit": 0}, "API throttling", id="burst-zero"),
        pytest.param({"api_burst_limit": 5_001}, "API throttling", id="burst-too-high"),
        pytest.param({"api_quota_per_day": 0}, "API quota per day", id="quota-zero"),
        pytest.param({"waf_rate_limit_per_5_minutes": 9}, "WAF rate limit", id="waf-rate-below-aws-minimum"),
        pytest.param({"waf_rate_limit_per_5_minutes": 2_000_000_001}, "WAF rate limit", id="waf-rate-above-aws-max"),
        pytest.param(
            {"functions": {"refund_handler": BAD_LIMITS, "zz_other": BAD_LIMITS}},
            "unknown functions: refund_handler, zz_other",
            id="unknown-functions",
        ),
        pytest.param(
            {"functions": {"payment_processor": FunctionLimits(127, 30, 10)}},
            "payment_processor: memory 127 MB",
            id="memory-too-small",
        ),
        pytest.param(
            {"functions": {"payment_processor": FunctionLimits(10_241, 30, 10)}},
            "payment_processor: memory 10241 MB",
            id="memory-too-large",
        ),
        pytest.param(
            {"functions": {"api_handler": FunctionLimits(512, 0, 10)}}, "api_handler: timeout 0 s", id="timeout-zero"
        ),
        pytest.param(
            {"functions": {"api_handler": FunctionLimits(512, 901, 10)}},
            "api_handler: timeout 901 s",
            id="timeout-over-15-minutes",
        ),
        pytest.param(
            {"functions": {"workflow_tasks": FunctionLimits(512, 30, 0)}},
            "workflow_tasks: reserved concurrency",
            id="reserved-concurrency-zero",
        ),
    ],
)
def test_invalid_setting_is_refused_with_a_message_naming_it(overrides: dict[str, Any], names: str) -> None:
    assert names in refused(**overrides)


def test_valid_limits_at_the_lambda_bounds_are_accepted() -> None:
    cfg = config(
        functions={
            "api_handler": FunctionLimits(memory_mb=128, timeout_seconds=1, reserved_concurrency=1),
            "batch_processor": FunctionLimits(memory_mb=10_240, timeout_seconds=900, reserved_concurrency=1),
        }
    )
    assert cfg.limits("batch_processor").timeout_seconds == 900


# --- property tests -------------------------------------------------------------------------------


@given(valid_environments)
def test_any_environment_following_the_naming_rules_builds(environment: str) -> None:
    cfg = config(environment=environment)
    assert cfg.prefix == f"paygate-{environment}"


@given(invalid_environments)
@example("a" * 17)
@example("dev\n")
def test_any_environment_breaking_the_naming_rules_is_refused(environment: str) -> None:
    assert refused(environment=environment).startswith(f"environment {environment!r} is invalid")


@given(valid_regions)
def test_any_region_name_is_accepted(region: str) -> None:
    assert config(region=region, state_region=region).region == region


@given(invalid_regions)
@example("us-east-\u0661")  # ARABIC-INDIC DIGIT ONE: a decimal digit, but not a region number
def test_any_string_that_is_not_a_region_name_is_refused(region: str) -> None:
    assert refused(region=region).startswith(f"region {region!r} is not a supported AWS region name")


@pytest.mark.parametrize(
    ("overrides", "setting", "says"),
    [
        ({"reconciliation_every_minutes": 0}, "reconciliation_every_minutes", "expected 1-1440"),
        ({"reconciliation_every_minutes": 1441}, "reconciliation_every_minutes", "expected 1-1440"),
        ({"reconciliation_stuck_after_seconds": 59}, "reconciliation_stuck_after_seconds", "below 60 s"),
        ({"reconciliation_alarm_after_seconds": 1800}, "reconciliation_alarm_after_seconds", "above the stuck age"),
        ({"reconciliation_lookback_seconds": 7199}, "reconciliation_lookback_seconds", "at least the alarm age"),
    ],
)
def test_a_reconciliation_setting_out_of_its_range_is_refused_naming_it(
    overrides: dict[str, Any], setting: str, says: str
) -> None:
    """Stuck age 1800 s and alarm age 7200 s by default: the alarm must come after a re-drive had its chance, and a
    failed run is read back at least as far as the alarm age."""
    with pytest.raises(ConfigError, match=says) as error:
        config(**overrides)
    assert error.value.setting == setting


def test_the_reconciliation_settings_at_their_bounds_are_accepted() -> None:
    cfg = config(
        reconciliation_every_minutes=1,
        reconciliation_stuck_after_seconds=60,
        reconciliation_alarm_after_seconds=61,
        reconciliation_lookback_seconds=61,
    )
    assert (cfg.reconciliation_every_minutes, cfg.reconciliation_lookback_seconds) == (1, 61)
    assert config(reconciliation_every_minutes=1440).reconciliation_every_minutes == 1440
