"""Environment files (environments/<name>.toml) and their PAYGATE_* overrides: every field, every refusal.

Pure and fast: the loader reads TOML files and builds the frozen PlatformConfig; no provider is loaded.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks.config import (
    DEFAULT_FUNCTION_LIMITS,
    OVERRIDES,
    ConfigError,
    EvidenceTrust,
    FunctionLimits,
    PlatformConfig,
    declared_environments,
    load,
    read_environment_file,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
DECLARED = REPO_ROOT / "environments"

# Every key an environment file may hold, each with a value other than its default.
FULL = """\
kind = "aws"
region = "eu-central-1"
account_id = "123456789012"
deletion_protection = true
log_retention_days = 731

[state]
bucket = "acme-tf-state"
region = "eu-west-1"

[limits]
max_payment_minor_units = 5_000_00
screening_max_minor_units = 1_000_00
merchant_velocity_per_hour = 7
api_rate_limit = 20.5
api_burst_limit = 40
api_quota_per_day = 9000
workflow_task_p99_seconds = 0.5
account_concurrency_limit = 2000

[limits.functions.workflow_tasks]
reserved_concurrency = 60

[limits.functions.batch_processor]
memory_mb = 2048
timeout_seconds = 600
reserved_concurrency = 4

[tags]
repository = "acme/paygate"
author = "ci@acme"
team = "payments"

[evidence]
trusted_keys = ["keys/ci.pem", "keys/backup.pem"]
accept_local_keys = false
"""
# Only the required keys.
MINIMAL = """\
kind = "localstack"
region = "us-east-1"
account_id = "000000000000"
deletion_protection = false
log_retention_days = 365
[state]
bucket = "paygate-terraform-state"
region = "us-east-1"
[tags]
repository = "paygate"
author = "platform-team"
team = "payments-platform"
[evidence]
trusted_keys = []
accept_local_keys = true
"""
FILE = "environments/qa.toml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with ``environments/qa.toml`` (FULL) and the two key files it trusts."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "qa.toml").write_text(FULL)
    (tmp_path / "keys").mkdir()
    for name in ("ci.pem", "backup.pem"):
        (tmp_path / "keys" / name).write_text("-----BEGIN PUBLIC KEY-----\n")
    return tmp_path


def write(repo: Path, text: str, name: str = "qa") -> Path:
    path = repo / "environments" / f"{name}.toml"
    path.write_text(text)
    return path


def loaded(repo: Path, **environ: str) -> PlatformConfig:
    return load({"PAYGATE_ENVIRONMENT": "qa", **environ}, repo / "environments").config


def refusal(repo: Path, text: str | None = None, **environ: str) -> str:
    if text is not None:
        write(repo, text)
    with pytest.raises(ConfigError) as error:
        loaded(repo, **environ)
    return str(error.value)


# --- the declared environments ------------------------------------------------------------------------


def test_the_repository_declares_dev_localstack_staging_and_production() -> None:
    assert declared_environments(DECLARED) == ("dev", "localstack", "production", "staging")


@pytest.mark.parametrize(
    ("name", "kind", "account", "protected", "local_keys"),
    [
        ("dev", "localstack", "000000000000", False, True),
        ("localstack", "localstack", "000000000000", False, True),
        ("staging", "aws", "111111111111", False, False),
        ("production", "aws", "222222222222", True, False),
    ],
)
def test_each_declared_environment_loads_with_its_kind_account_protection_and_trust(
    name: str, kind: str, account: str, protected: bool, local_keys: bool
) -> None:
    config = load({"PAYGATE_ENVIRONMENT": name}, DECLARED).config

    assert (config.environment, config.kind, config.account_id) == (name, kind, account)
    assert config.allowed_account_ids == (account,)
    assert config.deletion_protection is protected
    assert config.evidence == EvidenceTrust(trusted_keys=(), accept_local_keys=local_keys)
    assert config.state_key("paygate") == f"{name}/paygate.tfstate"
    assert config.log_retention_days >= 365


@pytest.mark.parametrize("name", ["staging", "production"])
def test_aws_environments_carry_placeholder_accounts_that_say_to_replace_them(name: str) -> None:
    text = (DECLARED / f"{name}.toml").read_text()
    config = load({"PAYGATE_ENVIRONMENT": name}, DECLARED).config

    assert len(set(config.account_id)) == 1, "an example account id is one digit repeated"
    assert config.account_id in config.state_bucket
    assert "replace" in text.lower() and "example" in text.lower()


# --- every field ----------------------------------------------------------------------------------------


def test_every_key_of_the_file_reaches_the_config(repo: Path) -> None:
    config = loaded(repo, PAYGATE_ARTIFACTS_DIR="/tmp/dist", PAYGATE_COMMIT="0123abcd")

    assert (config.environment, config.kind, config.account_id) == ("qa", "aws", "123456789012")
    assert (config.region, config.state_bucket, config.state_region) == ("eu-central-1", "acme-tf-state", "eu-west-1")
    assert (config.deletion_protection, config.log_retention_days) == (True, 731)
    assert (config.repository, config.author, config.team) == ("acme/paygate", "ci@acme", "payments")
    assert (config.max_payment_minor_units, config.screening_max_minor_units) == (5_000_00, 1_000_00)
    assert (config.merchant_velocity_per_hour, config.api_rate_limit, config.api_burst_limit) == (7, 20.5, 40)
    assert (config.api_quota_per_day, config.workflow_task_p99_seconds) == (9000, 0.5)
    assert config.account_concurrency_limit == 2000
    assert config.functions == {
        "workflow_tasks": FunctionLimits(memory_mb=512, timeout_seconds=20, reserved_concurrency=60),
        "batch_processor": FunctionLimits(memory_mb=2048, timeout_seconds=600, reserved_concurrency=4),
    }
    assert config.evidence == EvidenceTrust(
        trusted_keys=(PurePosixPath("keys/ci.pem"), PurePosixPath("keys/backup.pem")), accept_local_keys=False
    )
    assert (config.artifacts_dir, config.commit) == (Path("/tmp/dist"), "0123abcd")


def test_a_file_with_only_the_required_keys_takes_the_platform_defaults(repo: Path) -> None:
    write(repo, MINIMAL)
    config = loaded(repo)
    defaults = PlatformConfig(
        environment="qa",
        region="us-east-1",
        state_bucket="paygate-terraform-state",
        state_region="us-east-1",
        artifacts_dir=Path("build/dist"),
        kind="localstack",
        account_id="000000000000",
        evidence=EvidenceTrust(accept_local_keys=True),
    )
    assert config == defaults
    assert config.limits("workflow_tasks") == DEFAULT_FUNCTION_LIMITS["workflow_tasks"]


def test_an_integer_is_a_valid_number_of_requests_per_second(repo: Path) -> None:
    write(repo, FULL.replace("api_rate_limit = 20.5", "api_rate_limit = 20"))
    assert loaded(repo).api_rate_limit == 20


def test_the_file_keeps_its_name_path_and_the_key_of_each_setting(repo: Path) -> None:
    file = read_environment_file(repo / "environments", "qa")
    assert (file.name, file.path, file.display) == ("qa", repo / "environments" / "qa.toml", FILE)
    assert file.keys["state_bucket"] == "state.bucket"
    assert file.keys["functions.batch_processor"] == "limits.functions.batch_processor"


# --- every refusal names the file and the key -----------------------------------------------------------

KNOWN_TOP = (
    "account_id, deletion_protection, evidence, kind, limits, log_retention_days, reconciliation, region, state, tags"
)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param("kind = ", "kind = = ", f"{FILE}: not a valid TOML file: ", id="not-toml"),
        pytest.param(
            'region = "eu-central-1"',
            'regoin = "eu-central-1"',
            f"{FILE}: unknown key 'regoin' (known here: {KNOWN_TOP})",
            id="unknown-key",
        ),
        pytest.param(
            '[state]\nbucket = "acme-tf-state"',
            '[state]\nencrypt = true\nbucket = "acme-tf-state"',
            f"{FILE}: unknown key 'state.encrypt' (known here: state.bucket, state.region)",
            id="unknown-key-in-a-table",
        ),
        pytest.param("[tags]", "[tag]", f"{FILE}: unknown key 'tag' (known here: {KNOWN_TOP})", id="unknown-table"),
        pytest.param(
            "[limits.functions.workflow_tasks]",
            "[limits.functions.refund_handler]",
            f"{FILE}: limits.functions.refund_handler: unknown function "
            "(known: api_handler, payment_processor, batch_processor, workflow_tasks, reconciliation)",
            id="unknown-function",
        ),
        pytest.param(
            "memory_mb = 2048",
            "memory = 2048",
            f"{FILE}: unknown key 'limits.functions.batch_processor.memory' "
            "(known: memory_mb, timeout_seconds, reserved_concurrency)",
            id="unknown-function-limit",
        ),
        pytest.param(
            'account_id = "123456789012"\n',
            "",
            f"{FILE}: account_id missing (every environment file declares them)",
            id="missing-key",
        ),
        pytest.param(
            '[evidence]\ntrusted_keys = ["keys/ci.pem", "keys/backup.pem"]\naccept_local_keys = false\n',
            "",
            f"{FILE}: evidence.trusted_keys, evidence.accept_local_keys missing (every environment file declares them)",
            id="missing-table",
        ),
        pytest.param(
            'account_id = "123456789012"',
            "account_id = 123456789012",
            f"{FILE}: account_id: expected a string, got 123456789012 (integer) "
            "(write it in quotes: an account id keeps its leading zeros)",
            id="account-id-as-a-number",
        ),
        pytest.param(
            "deletion_protection = true",
            'deletion_protection = "true"',
            f"{FILE}: deletion_protection: expected a boolean, got 'true' (string)",
            id="boolean-as-a-string",
        ),
        pytest.param(
            "log_retention_days = 731",
            "log_retention_days = true",
            f"{FILE}: log_retention_days: expected an integer, got True (boolean)",
            id="integer-as-a-boolean",
        ),
        pytest.param(
            "log_retention_days = 731",
            "log_retention_days = 731.0",
            f"{FILE}: log_retention_days: expected an integer, got 731.0 (float)",
            id="integer-as-a-float",
        ),
        pytest.param(
            "api_rate_limit = 20.5",
            'api_rate_limit = "fast"',
            f"{FILE}: limits.api_rate_limit: expected a number, got 'fast' (string)",
            id="number-as-a-string",
        ),
        pytest.param(
            "api_rate_limit = 20.5",
            "api_rate_limit = false",
            f"{FILE}: limits.api_rate_limit: expected a number, got False (boolean)",
            id="number-as-a-boolean",
        ),
        pytest.param(
            'trusted_keys = ["keys/ci.pem", "keys/backup.pem"]',
            'trusted_keys = "keys/ci.pem"',
            f"{FILE}: evidence.trusted_keys: expected a list of strings, got 'keys/ci.pem' (string)",
            id="list-as-a-string",
        ),
        pytest.param(
            'trusted_keys = ["keys/ci.pem", "keys/backup.pem"]',
            'trusted_keys = ["keys/ci.pem", 7]',
            f"{FILE}: evidence.trusted_keys: expected a list of strings, got ['keys/ci.pem', 7] (array)",
            id="list-of-other-things",
        ),
        pytest.param(
            "memory_mb = 2048",
            'memory_mb = "2048"',
            f"{FILE}: limits.functions.batch_processor.memory_mb: expected an integer, got '2048' (string)",
            id="function-limit-as-a-string",
        ),
        pytest.param(
            "[limits.functions.batch_processor]\nmemory_mb = 2048\ntimeout_seconds = 600\nreserved_concurrency = 4\n",
            "[limits.functions]\nbatch_processor = 4\n",
            f"{FILE}: limits.functions.batch_processor: expected a table of memory_mb, timeout_seconds, "
            "reserved_concurrency",
            id="function-as-a-scalar",
        ),
        pytest.param(
            'trusted_keys = ["keys/ci.pem", "keys/backup.pem"]',
            'trusted_keys = ["keys/ci.pem", "keys/gone.pem"]',
            f"{FILE}: evidence.trusted_keys[1]: no such key file 'keys/gone.pem'",
            id="trusted-key-missing",
        ),
        # Values the file types right but PlatformConfig refuses: the file and key come first.
        pytest.param(
            'region = "eu-central-1"',
            'region = "EU-CENTRAL-1"',
            f"{FILE}: region: region 'EU-CENTRAL-1' is not a supported AWS region name",
            id="invalid-region",
        ),
        pytest.param(
            'region = "eu-west-1"',
            'region = "euwest1"',
            f"{FILE}: state.region: state region 'euwest1' is not a supported AWS region name",
            id="invalid-state-region",
        ),
        pytest.param(
            'bucket = "acme-tf-state"',
            'bucket = "Acme_State"',
            f"{FILE}: state.bucket: state bucket 'Acme_State' is not a valid S3 bucket name",
            id="invalid-state-bucket",
        ),
        pytest.param(
            'account_id = "123456789012"',
            'account_id = "12345"',
            f"{FILE}: account_id: account id '12345' is not an AWS account id",
            id="invalid-account-id",
        ),
        pytest.param('kind = "aws"', 'kind = "gcp"', f"{FILE}: kind: kind 'gcp' is not one of", id="invalid-kind"),
        pytest.param(
            "accept_local_keys = false",
            "accept_local_keys = true",
            f"{FILE}: evidence.accept_local_keys: accept_local_keys is true for an environment of kind 'aws'",
            id="local-keys-for-aws",
        ),
        pytest.param(
            'trusted_keys = ["keys/ci.pem", "keys/backup.pem"]',
            'trusted_keys = ["../elsewhere/ci.pem"]',
            f"{FILE}: evidence.trusted_keys: trusted key '../elsewhere/ci.pem' must be a path inside the repository",
            id="trusted-key-outside-the-repository",
        ),
        pytest.param(
            "log_retention_days = 731",
            "log_retention_days = 90",
            f"{FILE}: log_retention_days: log retention 90 days is not allowed",
            id="invalid-retention",
        ),
        pytest.param(
            'author = "ci@acme"', 'author = ""', f"{FILE}: tags.author: author '' is not a valid AWS tag", id="bad-tag"
        ),
        pytest.param(
            "memory_mb = 2048",
            "memory_mb = 64",
            f"{FILE}: limits.functions.batch_processor: batch_processor: memory 64 MB is outside",
            id="invalid-function-limit",
        ),
        pytest.param(
            "account_concurrency_limit = 2000",
            "account_concurrency_limit = 100",
            f"{FILE}: limits.account_concurrency_limit: the functions reserve",
            id="concurrency-beyond-the-account",
        ),
        pytest.param(
            "screening_max_minor_units = 1_000_00",
            "screening_max_minor_units = 6_000_00",
            f"{FILE}: limits.screening_max_minor_units: screening amount threshold 600000",
            id="screening-above-the-maximum",
        ),
    ],
)
def test_an_invalid_file_is_refused_naming_the_file_and_the_key(repo: Path, old: str, new: str, message: str) -> None:
    assert old in FULL
    assert refusal(repo, FULL.replace(old, new)).startswith(message)


def test_a_value_where_a_table_belongs_is_refused_naming_the_table(repo: Path) -> None:
    text = 'state = "acme-tf-state"\n' + FULL.replace('[state]\nbucket = "acme-tf-state"\nregion = "eu-west-1"\n', "")
    assert refusal(repo, text) == f"{FILE}: state: expected a table ([state]), got 'acme-tf-state' (string)"


def test_an_undeclared_environment_is_refused_listing_the_declared_ones(repo: Path) -> None:
    write(repo, MINIMAL, "dev")
    assert refusal(repo, PAYGATE_ENVIRONMENT="prod") == (
        "environment 'prod' is not declared: there is no environments/prod.toml (declared: dev, qa); "
        "add the file to declare it"
    )


def test_the_repository_names_its_environments_when_one_is_undeclared() -> None:
    with pytest.raises(ConfigError) as error:
        load({"PAYGATE_ENVIRONMENT": "qa"}, DECLARED)
    assert "(declared: dev, localstack, production, staging)" in str(error.value)


@pytest.mark.parametrize("name", ["Prod", "../dev", "dev/x", "dev.toml", "a" * 17])
def test_a_name_that_is_no_environment_suffix_is_refused_before_any_file_is_read(repo: Path, name: str) -> None:
    assert refusal(repo, PAYGATE_ENVIRONMENT=name).startswith(f"environment {name!r} is invalid")


@pytest.mark.parametrize("environ", [{}, {"PAYGATE_ENVIRONMENT": ""}])
def test_the_environment_is_required(repo: Path, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="PAYGATE_ENVIRONMENT is required"):
        load(environ, repo / "environments")


def test_a_directory_without_environments_declares_none(tmp_path: Path) -> None:
    assert declared_environments(tmp_path / "missing") == ()
    with pytest.raises(ConfigError, match=r"\(declared: none\)"):
        load({"PAYGATE_ENVIRONMENT": "dev"}, tmp_path / "missing")


# --- PAYGATE_* overrides --------------------------------------------------------------------------------


OVERRIDE_CASES = [
    ("PAYGATE_REGION", "us-west-2", "region", "us-west-2", "region", "eu-central-1"),
    ("PAYGATE_STATE_BUCKET", "other-state", "state_bucket", "other-state", "state.bucket", "acme-tf-state"),
    ("PAYGATE_STATE_REGION", "us-east-2", "state_region", "us-east-2", "state.region", "eu-west-1"),
    ("PAYGATE_REPOSITORY", "fork/paygate", "repository", "fork/paygate", "tags.repository", "acme/paygate"),
    ("PAYGATE_AUTHOR", "me@example", "author", "me@example", "tags.author", "ci@acme"),
    ("PAYGATE_TEAM", "sandbox", "team", "sandbox", "tags.team", "payments"),
    ("PAYGATE_DELETION_PROTECTION", "off", "deletion_protection", False, "deletion_protection", True),
    ("PAYGATE_LOG_RETENTION_DAYS", "365", "log_retention_days", 365, "log_retention_days", 731),
    (
        "PAYGATE_SCREENING_MAX_MINOR_UNITS",
        "1200",
        "screening_max_minor_units",
        1200,
        "limits.screening_max_minor_units",
        1_000_00,
    ),
    (
        "PAYGATE_MERCHANT_VELOCITY_PER_HOUR",
        "3",
        "merchant_velocity_per_hour",
        3,
        "limits.merchant_velocity_per_hour",
        7,
    ),
]


@pytest.mark.parametrize(("variable", "raw", "field", "value", "key", "declared"), OVERRIDE_CASES)
def test_each_override_replaces_its_key_and_is_reported(
    repo: Path, variable: str, raw: str, field: str, value: object, key: str, declared: object
) -> None:
    result = load({"PAYGATE_ENVIRONMENT": "qa", variable: raw}, repo / "environments")

    assert getattr(result.config, field) == value
    assert result.report() == [
        f"{variable} overrides {FILE} {key} ({declared!r} -> {value!r})",
        "the artifact of 'qa' differs from what environments/qa.toml alone gives: it is not reproducible from "
        "the commit (evidence verification re-synthesizes without overrides)",
    ]


def test_every_override_variable_is_tested() -> None:
    assert {case[0] for case in OVERRIDE_CASES} == {f"PAYGATE_{name}" for name in OVERRIDES}


def test_an_override_of_an_optional_key_the_file_leaves_out_reports_the_default(repo: Path) -> None:
    write(repo, MINIMAL)
    result = load({"PAYGATE_ENVIRONMENT": "qa", "PAYGATE_MERCHANT_VELOCITY_PER_HOUR": "5"}, repo / "environments")
    assert (
        result.report()[0]
        == f"PAYGATE_MERCHANT_VELOCITY_PER_HOUR overrides {FILE} limits.merchant_velocity_per_hour (1000 -> 5)"
    )


def test_an_override_equal_to_the_file_changes_nothing_and_says_so(repo: Path) -> None:
    result = load({"PAYGATE_ENVIRONMENT": "qa", "PAYGATE_REGION": "eu-central-1"}, repo / "environments")
    assert result.report() == [
        f"PAYGATE_REGION is set to the region {FILE} declares ('eu-central-1'): no change",
    ]


def test_without_overrides_nothing_is_reported(repo: Path) -> None:
    unrelated = {"PAYGATE_UV": "/bin/uv", "PAYGATE_PYTHON": "python3.12", "PAYGATE_OUTDIR": "out", "REGION": "x"}
    result = load({"PAYGATE_ENVIRONMENT": "qa", **unrelated}, repo / "environments")
    assert (result.overrides, result.report()) == ((), [])


@pytest.mark.parametrize("variable", ["PAYGATE_ACCOUNT_ID", "PAYGATE_KIND"])
def test_the_account_and_the_kind_are_not_overridable(repo: Path, variable: str) -> None:
    message = refusal(repo, **{variable: "111111111111"})
    assert message.startswith(f"{variable} is not an override: the ")
    assert "declared only in environments/<name>.toml; declare another environment" in message


def test_an_invalid_override_names_the_variable_and_the_key_it_overrides(repo: Path) -> None:
    assert refusal(repo, PAYGATE_REGION="mars-1").startswith(
        f"PAYGATE_REGION (overriding {FILE} region): region 'mars-1' is not a supported AWS region name"
    )
    assert refusal(repo, PAYGATE_LOG_RETENTION_DAYS="90").startswith(
        f"PAYGATE_LOG_RETENTION_DAYS (overriding {FILE} log_retention_days): log retention 90 days"
    )


@given(
    st.sampled_from(["1", "true", "yes", "on", "0", "false", "no", "off", ""]),
    st.sampled_from([str.upper, str.lower, str.title]),
    st.sampled_from(["", " ", "\t"]),
)
def test_any_spelling_of_a_boolean_override_is_read(word: str, case: object, padding: str) -> None:
    raw = padding + case(word) + padding  # type: ignore[operator]
    config = load({"PAYGATE_ENVIRONMENT": "production", "PAYGATE_DELETION_PROTECTION": raw}, DECLARED).config
    assert config.deletion_protection is (word in {"1", "true", "yes", "on"})


@given(
    st.text(max_size=12).filter(
        lambda s: s.strip().lower() not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}
    )
)
def test_any_non_boolean_override_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        load({"PAYGATE_ENVIRONMENT": "dev", "PAYGATE_DELETION_PROTECTION": raw}, DECLARED)
    assert str(error.value) == f"PAYGATE_DELETION_PROTECTION={raw!r} is not a boolean (use true or false)"


@pytest.mark.parametrize("raw", ["abc", "365.0", "1e3", ""])
def test_a_non_integer_override_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^PAYGATE_LOG_RETENTION_DAYS=.* is not an integer$"):
        load({"PAYGATE_ENVIRONMENT": "dev", "PAYGATE_LOG_RETENTION_DAYS": raw}, DECLARED)
