"""PaymentPlatformStack: outputs, backend, determinism, purity, and physical names for any valid config."""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import stacks
from stacks import constants
from stacks.config import ALLOWED_LOG_RETENTION_DAYS, ENVIRONMENT_PATTERN, PlatformConfig
from stacks.constants import STACK_NAME

ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"  # API Gateway ids are 10 characters
REST_API_ID = re.compile(r"\$\{aws_api_gateway_rest_api\.[^.}]+\.id\}")
SLOW_SYNTH = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# AWS naming rules per resource type: (attribute holding the physical name, rule). Restated from
# the AWS documentation, not from stacks/naming.py.
PHYSICAL_NAMES: dict[str, tuple[str, re.Pattern[str]]] = {
    "aws_s3_bucket": ("bucket", re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")),
    "aws_lambda_function": ("function_name", re.compile(r"[A-Za-z0-9_-]{1,64}")),
    "aws_iam_role": ("name", re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)),
    "aws_sqs_queue": ("name", re.compile(r"[A-Za-z0-9_-]{1,80}")),
    "aws_sns_topic": ("name", re.compile(r"[A-Za-z0-9_-]{1,256}")),
    "aws_dynamodb_table": ("name", re.compile(r"[A-Za-z0-9_.-]{3,255}")),
    "aws_sfn_state_machine": ("name", re.compile(r"[A-Za-z0-9_-]{1,80}")),
    "aws_cloudwatch_log_group": ("name", re.compile(r"[A-Za-z0-9_/.#-]{1,512}")),
    "aws_cloudwatch_metric_alarm": ("alarm_name", re.compile(r"[ -~]{1,255}")),
    "aws_kms_alias": ("name", re.compile(r"alias/(?!aws/)[A-Za-z0-9/_-]{1,250}")),
    "aws_api_gateway_rest_api": ("name", re.compile(r"[ -~]{1,1024}")),
    "aws_api_gateway_usage_plan": ("name", re.compile(r"[ -~]{1,1024}")),
    "aws_api_gateway_api_key": ("name", re.compile(r"[ -~]{1,1024}")),
}
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-2", "ap-southeast-4", "sa-east-1", "us-gov-west-1")

environments = st.from_regex(ENVIRONMENT_PATTERN, fullmatch=True)
config_settings = st.fixed_dictionaries(
    {
        "environment": environments,
        "region": st.sampled_from(REGIONS),
        "deletion_protection": st.booleans(),
        "log_retention_days": st.sampled_from(ALLOWED_LOG_RETENTION_DAYS),
    }
)


def physical_names(stack: Any) -> set[tuple[str, str]]:
    """(resource type, physical name) of every named resource, tokens left unresolved."""
    return {
        (rtype, body[attribute])
        for rtype, (attribute, _) in PHYSICAL_NAMES.items()
        for body in stack.resources(rtype).values()
    }


def resolved(name: str) -> str:
    """The name as AWS will see it: a 12-digit account id and a generated API id in place of tokens."""
    return REST_API_ID.sub(API_ID, name.replace("${data.aws_caller_identity.caller.account_id}", ACCOUNT_ID))


def name_violations(stack: Any) -> list[str]:
    problems = []
    for rtype, name in physical_names(stack):
        value = resolved(name)
        if "${" in value:
            problems.append(f"{rtype} {name!r} holds an unexpected token")
        elif not PHYSICAL_NAMES[rtype][1].fullmatch(value):
            problems.append(f"{rtype} {value!r} ({len(value)} chars) breaks the AWS naming rule")
    for rtype, name in physical_names(stack):
        if rtype == "aws_s3_bucket":
            bucket = resolved(name)
            if ".." in bucket or bucket.startswith("xn--") or bucket.endswith("-s3alias"):
                problems.append(f"bucket {bucket!r} uses a reserved form")
            try:
                ipaddress.ip_address(bucket)
                problems.append(f"bucket {bucket!r} looks like an IP address")
            except ValueError:
                pass
    return problems


def comparable_names(stack: Any) -> set[tuple[str, str]]:
    """Names to compare across environments; a name built from a generated API id is unique by that id."""
    return {(rtype, name) for rtype, name in physical_names(stack) if not REST_API_ID.search(name)}


def templates(stack: Any) -> set[tuple[str, str]]:
    """The stack's names with its ``paygate-<env>`` prefix cut out (NUL marks where it was)."""
    prefix = stack.config.prefix
    result = set()
    for rtype, name in comparable_names(stack):
        assert name.count(prefix) == 1, f"{rtype} {name!r} does not carry the prefix exactly once"
        result.add((rtype, name.replace(prefix, "\0")))
    return result


def render(names: set[tuple[str, str]], environment: str) -> set[tuple[str, str]]:
    return {(rtype, name.replace("\0", f"paygate-{environment}")) for rtype, name in names}


# --- outputs, backend, provider -------------------------------------------------------------------


def test_stack_exports_every_output_the_pipeline_reads(stack) -> None:
    expected = {value for key, value in vars(constants).items() if key.startswith("OUTPUT_")}
    outputs = stack.doc["output"]
    assert len(outputs) >= 6
    assert set(outputs) == expected


def test_outputs_point_at_the_resources_they_name(stack) -> None:
    outputs = {key: body["value"] for key, body in stack.doc["output"].items()}
    stage_id, _ = stack.only("aws_api_gateway_stage")
    machine_id, _ = stack.only("aws_sfn_state_machine")
    queue_id, _ = stack.queue("payments")
    dlq_id, _ = stack.queue("payments-dlq")
    bucket_id, _ = stack.bucket("batch-files")

    assert outputs[constants.OUTPUT_API_ENDPOINT] == stack.ref("aws_api_gateway_stage", stage_id, "invoke_url")
    assert outputs[constants.OUTPUT_STATE_MACHINE_ARN] == stack.ref("aws_sfn_state_machine", machine_id, "arn")
    assert outputs[constants.OUTPUT_PAYMENT_QUEUE_URL] == stack.ref("aws_sqs_queue", queue_id, "url")
    assert outputs[constants.OUTPUT_PAYMENT_DLQ_URL] == stack.ref("aws_sqs_queue", dlq_id, "url")
    assert outputs[constants.OUTPUT_BATCH_BUCKET] == stack.ref("aws_s3_bucket", bucket_id, "bucket")
    assert outputs[constants.OUTPUT_KMS_KEY_ARN] == stack.key_arn
    callers_id, _ = stack.named("aws_dynamodb_table", "paygate-dev-callers")
    plan_id, _ = stack.only("aws_api_gateway_usage_plan")
    assert outputs[constants.OUTPUT_CALLERS_TABLE] == stack.ref("aws_dynamodb_table", callers_id, "name")
    assert outputs[constants.OUTPUT_USAGE_PLAN_ID] == stack.ref("aws_api_gateway_usage_plan", plan_id, "id")


@pytest.mark.parametrize(
    ("fixture", "key", "region"),
    [("stack", "dev/paygate.tfstate", "eu-west-1"), ("protected_stack", "prod/paygate.tfstate", "us-east-1")],
)
def test_state_lives_in_an_encrypted_locked_s3_backend_per_environment(
    fixture: str, key: str, region: str, request: pytest.FixtureRequest
) -> None:
    synthesized = request.getfixturevalue(fixture)
    assert synthesized.doc["terraform"]["backend"] == {
        "s3": {
            "bucket": "paygate-terraform-state",
            "key": key,
            "region": region,
            "encrypt": True,
            "use_lockfile": True,
        }
    }


def test_provider_is_pinned_and_targets_the_configured_region_and_account(stack, protected_stack) -> None:
    assert stack.doc["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    # allowed_account_ids: credentials of any other account fail before the provider changes anything.
    assert stack.doc["provider"]["aws"] == [{"region": "eu-west-1", "allowed_account_ids": ["000000000000"]}]
    assert protected_stack.doc["provider"]["aws"] == [{"region": "us-west-2", "allowed_account_ids": ["222222222222"]}]


def test_account_and_partition_come_from_data_sources_not_from_synth(stack) -> None:
    assert set(stack.doc["data"]) == {"aws_caller_identity", "aws_partition"}
    # An account id would show as an ARN field (":123456789012:") or a condition value ("123456789012"); the
    # provider's allowed_account_ids is the one place the environment's account is named.
    without_provider = json.dumps({k: v for k, v in stack.doc.items() if k != "provider"})
    assert re.search(r':\d{12}:|"\d{12}"', without_provider) is None, "an account id was baked into the stack"
    assert re.search(r"arn:aws:", stack.text) is None, "a partition was hard-coded"


# --- determinism and purity -------------------------------------------------------------------------


def synth_to_disk(config: PlatformConfig, outdir: Path) -> dict[str, bytes]:
    from cdktf import App

    from stacks.payment_stack import PaymentPlatformStack

    app = App(outdir=str(outdir))
    PaymentPlatformStack(app, STACK_NAME, config=config)
    app.synth()
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.rglob("*")) if p.is_file()}


def test_two_synths_of_one_config_are_byte_identical(default_config: PlatformConfig, tmp_path: Path) -> None:
    first = synth_to_disk(default_config, tmp_path / "first")
    second = synth_to_disk(default_config, tmp_path / "second")

    assert f"stacks/{STACK_NAME}/cdk.tf.json" in first
    assert first.keys() == second.keys()
    for path in first:
        assert first[path] == second[path], f"{path} differs between two synths"
    # The assets folder holds exactly the packaged archives, byte for byte.
    assets = {
        path.rsplit("/", 1)[1]: data for path, data in first.items() if path.startswith(f"stacks/{STACK_NAME}/assets/")
    }
    assert assets == {
        f"{key}.zip": (default_config.artifacts_dir / f"{key}.zip").read_bytes() for key in constants.FUNCTION_HANDLERS
    }


def stack_modules() -> list[Path]:
    root = Path(stacks.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) >= 15
    return modules


def cloud_sdk_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in ("boto3", "botocore")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("boto3", "botocore"):
            found.append(node.module or "")
        elif isinstance(node, ast.Constant) and node.value in ("boto3", "botocore"):
            found.append(f"dynamic import of {node.value}")  # __import__("boto3"), import_module("boto3")
    return found


def environment_reads(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            found.append(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [a.name for a in node.names if a.name in ("environ", "getenv", "environb")]
    return found


def test_no_stack_module_imports_boto3() -> None:
    for module in stack_modules():
        assert cloud_sdk_imports(module.read_text()) == [], f"{module} talks to the cloud at synth"


def test_no_stack_module_reads_the_environment() -> None:
    for module in stack_modules():
        assert environment_reads(module.read_text()) == [], f"{module} reads the environment below the entry point"


@pytest.mark.parametrize(
    "source",
    [
        "import boto3",
        "import botocore.session as s",
        "from boto3.session import Session",
        "from botocore import config",
        "x = __import__('boto3')",
        "def f():\n    import boto3\n",
    ],
)
def test_boto3_detector_finds_every_import_form(source: str) -> None:
    assert cloud_sdk_imports(source) != []


@pytest.mark.parametrize(
    "source", ["import os\nos.environ['X']", "import os\nos.getenv('X')", "from os import environ"]
)
def test_environment_detector_finds_every_read(source: str) -> None:
    assert environment_reads(source) != []


# --- physical names ---------------------------------------------------------------------------------


def test_physical_names_are_unique_within_a_stack(stack) -> None:
    names = [
        (rtype, body[attr]) for rtype, (attr, _) in PHYSICAL_NAMES.items() for body in stack.resources(rtype).values()
    ]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("fixture", ["stack", "protected_stack"])
def test_every_physical_name_follows_its_aws_rule(fixture: str, request: pytest.FixtureRequest) -> None:
    assert name_violations(request.getfixturevalue(fixture)) == []


def test_name_rules_refuse_overlong_names() -> None:
    assert not PHYSICAL_NAMES["aws_s3_bucket"][1].fullmatch("b" * 64)
    assert not PHYSICAL_NAMES["aws_lambda_function"][1].fullmatch("f" * 65)
    assert not PHYSICAL_NAMES["aws_iam_role"][1].fullmatch("r" * 65)
    assert not PHYSICAL_NAMES["aws_sqs_queue"][1].fullmatch("q" * 81)
    assert not PHYSICAL_NAMES["aws_sfn_state_machine"][1].fullmatch("s" * 81)


def test_every_name_is_derived_from_the_environment_prefix(stack, protected_stack) -> None:
    assert render(templates(stack), "prod") == comparable_names(protected_stack)


@given(config_settings)
@example(
    {
        "environment": "abcdefghijklmnop",
        "region": "us-gov-west-1",
        "deletion_protection": True,
        "log_retention_days": 3653,
    }
)
@SLOW_SYNTH
def test_any_valid_config_synthesizes_within_aws_naming_limits(
    synthesize: Callable[[PlatformConfig], Any], make_config: Callable[..., PlatformConfig], overrides: dict[str, Any]
) -> None:
    synthesized = synthesize(make_config(**overrides))

    assert name_violations(synthesized) == []
    for table in synthesized.resources("aws_dynamodb_table").values():
        assert table["deletion_protection_enabled"] is overrides["deletion_protection"]
    for bucket in synthesized.resources("aws_s3_bucket").values():
        assert bucket["force_destroy"] is not overrides["deletion_protection"]
    for log_group in synthesized.resources("aws_cloudwatch_log_group").values():
        assert log_group["retention_in_days"] == overrides["log_retention_days"]
    assert f"logs.{overrides['region']}.amazonaws.com" in synthesized.only("aws_kms_key")[1]["policy"]


@given(config_settings.filter(lambda s: s["environment"] not in ("dev", "prod")))
@example({"environment": "dev-1", "region": "eu-west-1", "deletion_protection": False, "log_retention_days": 365})
@SLOW_SYNTH
def test_names_of_two_environments_never_collide(
    synthesize: Callable[[PlatformConfig], Any],
    make_config: Callable[..., PlatformConfig],
    stack: Any,
    protected_stack: Any,
    overrides: dict[str, Any],
) -> None:
    synthesized = synthesize(make_config(**overrides))
    names = comparable_names(synthesized)

    assert names & comparable_names(stack) == set()
    assert names & comparable_names(protected_stack) == set()
    # Names depend on the environment only through its prefix, which the next test relies on.
    assert names == render(templates(stack), overrides["environment"])


def leading_parts(names: set[tuple[str, str]]) -> list[str]:
    """Hyphen-separated leading parts of what follows the prefix ("payments", "payments-dlq", ...).

    Environment ``e`` and environment ``e-<part>`` are the pairs that could collide: a name of
    ``e`` ending in ``<part>-<rest>`` equals a name of ``e-<part>`` ending in ``<rest>``.
    """
    parts = set()
    for _, name in names:
        words = name.split("\0", 1)[1].lstrip("-").split("-")
        parts |= {"-".join(words[:n]) for n in range(1, len(words))}
    return sorted(p for p in parts if re.fullmatch(r"[a-z0-9-]+", p))


@pytest.fixture(scope="module")
def name_templates(stack: Any) -> tuple[set[tuple[str, str]], list[str]]:
    names = templates(stack)
    return names, leading_parts(names)


@given(first=environments, data=st.data())
@settings(max_examples=200)
def test_names_of_environments_sharing_a_prefix_never_collide(
    name_templates: tuple[set[tuple[str, str]], list[str]], first: str, data: st.DataObject
) -> None:
    names, parts = name_templates
    second = data.draw(environments | st.sampled_from(parts).map(lambda part: f"{first}-{part}"), label="second")
    assume(second != first and ENVIRONMENT_PATTERN.fullmatch(second))
    assert render(names, first) & render(names, second) == set()


def test_prefix_collision_check_finds_a_purpose_that_ends_another() -> None:
    names = {("aws_iam_role", "\0-workflow-tasks-role"), ("aws_iam_role", "\0-tasks-role")}
    assert "workflow" in leading_parts(names)
    assert render(names, "x") & render(names, "x-workflow") == {("aws_iam_role", "paygate-x-workflow-tasks-role")}
