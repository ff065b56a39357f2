"""PaymentFunction: python3.12, traced, reserved concurrency, dead letters, its own encrypted log group and role."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.shared import aws
from stacks.config import DEFAULT_FUNCTION_LIMITS, UNRESERVED_CONCURRENCY, ConfigError, FunctionLimits
from stacks.constants import FUNCTION_HANDLERS
from stacks.constructs.code_signing import LAMBDA_SIGNING_PLATFORM, archive_sha256
from stacks.constructs.functions import archive_path
from stacks.context import StackContext
from stacks.naming import Naming

FUNCTION_KEYS = tuple(FUNCTION_HANDLERS)


def by_function_name(stack: Any, rtype: str, function_id: str) -> list[dict[str, Any]]:
    """Resources of ``rtype`` whose ``function_name`` refers to this function."""
    ref = stack.ref("aws_lambda_function", function_id, "function_name")
    return [body for body in stack.resources(rtype).values() if body["function_name"] == ref]


def function_dlq_arn(stack: Any) -> str:
    dlq_id, _ = stack.queue("function-failures-dlq")
    return stack.ref("aws_sqs_queue", dlq_id, "arn")


def test_there_is_one_function_per_handler(stack) -> None:
    functions = stack.resources("aws_lambda_function").values()
    assert sorted(f["handler"] for f in functions) == sorted(FUNCTION_HANDLERS.values())
    assert sorted(f["function_name"] for f in functions) == sorted(
        f"paygate-dev-{key.replace('_', '-')}" for key in FUNCTION_KEYS
    )


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_function_runs_python312_traced_with_its_configured_limits(stack, key: str) -> None:
    _, function = stack.function(key)
    limits = stack.config.limits(key)

    assert function["runtime"] == "python3.12"
    assert function["architectures"] == ["x86_64"]
    assert function["tracing_config"] == {"mode": "Active"}
    assert function["reserved_concurrent_executions"] == limits.reserved_concurrency >= 1
    assert function["memory_size"] == limits.memory_mb
    assert function["timeout"] == limits.timeout_seconds


def test_function_limits_follow_the_config(protected_stack) -> None:
    _, function = protected_stack.function("payment_processor")
    assert (function["memory_size"], function["timeout"], function["reserved_concurrent_executions"]) == (1024, 120, 15)


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_failed_async_invocations_go_to_the_function_dead_letter_queue(stack, key: str) -> None:
    function_id, function = stack.function(key)
    assert function["dead_letter_config"] == {"target_arn": function_dlq_arn(stack)}

    (invoke_config,) = by_function_name(stack, "aws_lambda_function_event_invoke_config", function_id)
    assert invoke_config["destination_config"] == {"on_failure": {"destination": function_dlq_arn(stack)}}
    assert 0 <= invoke_config["maximum_retry_attempts"] <= 2
    assert 60 <= invoke_config["maximum_event_age_in_seconds"] <= 21_600


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_function_has_its_own_log_group_created_first(stack, key: str) -> None:
    _, function = stack.function(key)
    name = f"/aws/lambda/{function['function_name']}"
    log_group_id, log_group = stack.named("aws_cloudwatch_log_group", name)

    assert log_group["retention_in_days"] >= 365
    assert log_group["retention_in_days"] == stack.config.log_retention_days
    assert f"aws_cloudwatch_log_group.{log_group_id}" in function["depends_on"]


def test_log_retention_follows_the_config(protected_stack) -> None:
    for log_group in protected_stack.resources("aws_cloudwatch_log_group").values():
        assert log_group["retention_in_days"] == 731


def test_there_is_exactly_one_lambda_log_group_per_function(stack) -> None:
    lambda_groups = sorted(
        body["name"]
        for body in stack.resources("aws_cloudwatch_log_group").values()
        if body["name"].startswith("/aws/lambda/")
    )
    functions = sorted(f"/aws/lambda/{f['function_name']}" for f in stack.resources("aws_lambda_function").values())
    assert lambda_groups == functions


def signing_of(stack: Any, function: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signing job whose signed object the function deploys, and the upload that job signs."""
    _, job = stack.referenced("aws_signer_signing_job", function["s3_key"])
    return job, stack.referenced("aws_s3_object", job["source"]["s3"]["key"])[1]


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_function_deploys_the_signed_version_of_its_own_archive(stack, key: str) -> None:
    _, function = stack.function(key)
    job, upload = signing_of(stack, function)
    job_id, _ = stack.referenced("aws_signer_signing_job", function["s3_key"])
    upload_id, _ = stack.referenced("aws_s3_object", job["source"]["s3"]["key"])
    archive = stack.config.artifacts_dir / f"{key}.zip"

    # Code comes only from the signed object; no local file or hash of the unsigned archive.
    assert "filename" not in function and "source_code_hash" not in function and "image_uri" not in function
    assert function["s3_bucket"] == f"${{aws_signer_signing_job.{job_id}.signed_object[0].s3[0].bucket}}"
    assert function["s3_key"] == f"${{aws_signer_signing_job.{job_id}.signed_object[0].s3[0].key}}"
    # The job signs exactly the uploaded version of this function's archive.
    assert job["source"]["s3"]["version"] == stack.ref("aws_s3_object", upload_id, "version_id")
    assert upload["key"] == f"unsigned/{key}.zip"
    assert upload["source"].startswith("assets/") and upload["source"].endswith(f"/{key}.zip")
    assert upload["source_hash"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert upload["checksum_algorithm"] == "SHA256"
    code_bucket_id, _ = stack.bucket("function-code")
    assert upload["bucket"] == job["destination"]["s3"]["bucket"] == stack.ref("aws_s3_bucket", code_bucket_id, "id")
    assert job["destination"]["s3"]["prefix"] == "signed/"
    assert job["ignore_signing_job_failure"] is False


def test_each_function_has_its_own_upload_and_signing_job(stack) -> None:
    functions = [body for _, body in (stack.function(key) for key in FUNCTION_KEYS)]
    jobs = {function["s3_key"] for function in functions}
    assert len(jobs) == len(FUNCTION_KEYS) == len(stack.resources("aws_signer_signing_job"))
    uploads = [signing_of(stack, function)[1]["key"] for function in functions]
    assert sorted(uploads) == sorted(f"unsigned/{key}.zip" for key in FUNCTION_KEYS)


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_function_enforces_the_platform_code_signing_config(stack, key: str) -> None:
    _, function = stack.function(key)
    config_id, config = stack.only("aws_lambda_code_signing_config")
    profile_id, profile = stack.only("aws_signer_signing_profile")
    job, _ = signing_of(stack, function)

    assert function["code_signing_config_arn"] == stack.ref("aws_lambda_code_signing_config", config_id, "arn")
    assert config["policies"] == {"untrusted_artifact_on_deployment": "Enforce"}
    assert config["allowed_publishers"] == {
        "signing_profile_version_arns": [stack.ref("aws_signer_signing_profile", profile_id, "version_arn")]
    }
    # The job signs with the very profile the config trusts.
    assert job["profile_name"] == stack.ref("aws_signer_signing_profile", profile_id, "name")
    assert profile["platform_id"] == LAMBDA_SIGNING_PLATFORM == "AWSLambda-SHA384-ECDSA"
    assert profile["name_prefix"] == "paygate_dev_functions_"
    assert profile["signature_validity_period"] == {"value": 12, "type": "MONTHS"}


def test_unsigned_uploads_wait_for_the_code_bucket_versioning(stack) -> None:
    # The signing job names an object version; without versioning the upload has none.
    code_bucket_id, _ = stack.bucket("function-code")
    (versioning_id,) = [
        rid
        for rid, body in stack.resources("aws_s3_bucket_versioning").items()
        if body["bucket"] == stack.ref("aws_s3_bucket", code_bucket_id, "id")
    ]
    uploads = [body for body in stack.resources("aws_s3_object").values() if body["key"].startswith("unsigned/")]
    assert len(uploads) == len(FUNCTION_KEYS)
    for upload in uploads:
        assert f"aws_s3_bucket_versioning.{versioning_id}" in upload["depends_on"]


def test_every_function_has_its_own_lambda_role(stack) -> None:
    roles = [f["role"] for f in stack.resources("aws_lambda_function").values()]
    assert len(set(roles)) == len(roles) == 5
    for role_ref in roles:
        role_id = role_ref.removeprefix("${aws_iam_role.").removesuffix(".arn}")
        role = stack.resources("aws_iam_role")[role_id]
        (trust,) = json.loads(role["assume_role_policy"])["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert trust["Action"] == "sts:AssumeRole"


def test_functions_wait_for_their_base_policy(stack) -> None:
    # Lambda validates at create time that the role may send to the dead-letter queue.
    for function in stack.resources("aws_lambda_function").values():
        role_id = function["role"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
        policies = [
            f"aws_iam_role_policy.{rid}"
            for rid, body in stack.resources("aws_iam_role_policy").items()
            if body["role"] == stack.ref("aws_iam_role", role_id, "id") and body["name"] == "base"
        ]
        assert len(policies) == 1
        assert policies[0] in function["depends_on"]


def test_archive_sha256_is_the_hex_sha256_of_the_file(tmp_path: Path) -> None:
    archive = tmp_path / "f.zip"
    archive.write_bytes(b"abc")
    # FIPS 180-2 test vector: SHA-256("abc").
    assert archive_sha256(archive) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_missing_archive_is_a_config_error_naming_the_file(tmp_path: Path, make_config) -> None:
    ctx = StackContext(
        config=make_config(artifacts_dir=tmp_path), naming=Naming("paygate-dev"), account_id="1", partition="aws"
    )
    with pytest.raises(ConfigError, match=r"Lambda archive .*/api_handler\.zip is missing: run `make package`"):
        archive_path(ctx, "api_handler")


def test_context_builds_arns_and_service_names_from_tokens(make_config) -> None:
    ctx = StackContext(
        config=make_config(region="eu-west-1"), naming=Naming("paygate-dev"), account_id="${acct}", partition="${part}"
    )

    assert ctx.arn("sqs", "q") == "arn:${part}:sqs:eu-west-1:${acct}:q"
    assert ctx.arn("iam", "root", region=False) == "arn:${part}:iam::${acct}:root"
    assert ctx.arn("s3", "bucket", region=False, account=False) == "arn:${part}:s3:::bucket"
    assert ctx.via_service("sqs") == "sqs.eu-west-1.amazonaws.com"


# --- concurrency sizing and the SDK's timeouts (issue 10, item 6) -------------------------------------------


def test_the_queue_consumer_is_never_throttled_by_its_own_event_source(stack, protected_stack) -> None:
    """Lambda throttling the poller's invokes would count receives and push valid payments towards the DLQ."""
    for synthesized in (stack, protected_stack):
        function_id, function = synthesized.function("payment_processor")
        (mapping,) = by_function_name(synthesized, "aws_lambda_event_source_mapping", function_id)
        assert mapping["scaling_config"]["maximum_concurrency"] == function["reserved_concurrent_executions"]
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]  # only failed records come back


def test_reserved_concurrency_fits_the_account_with_lambdas_unreserved_hundred(stack) -> None:
    reserved = sum(f["reserved_concurrent_executions"] for f in stack.resources("aws_lambda_function").values())
    assert reserved == 20 + 10 + 5 + 50 + 1  # the reconciliation: one run at a time
    assert reserved <= stack.config.account_concurrency_limit - UNRESERVED_CONCURRENCY


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"account_concurrency_limit": 150},
            r"the functions reserve 86 concurrent executions, but an account limit of 150 leaves only 50",
        ),
        (
            {"functions": {"payment_processor": FunctionLimits(512, 30, 1)}},
            r"payment_processor: reserved concurrency 1 is below the SQS event source's minimum",
        ),
        ({"workflow_task_p99_seconds": 0.0}, r"workflow task p99 duration must be positive"),
    ],
    ids=["over-the-account", "consumer-below-event-source-minimum", "no-task-duration"],
)
def test_concurrency_settings_that_would_throttle_are_refused(make_config, overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(**overrides)


def test_each_sdk_attempt_gives_up_well_before_the_shortest_function_timeout() -> None:
    """A stuck connection is retried inside the invocation instead of timing the whole invocation out."""
    shortest = min(limits.timeout_seconds for limits in DEFAULT_FUNCTION_LIMITS.values())
    assert shortest == 10
    assert shortest > aws.CONNECT_TIMEOUT_SECONDS + aws.READ_TIMEOUT_SECONDS
    assert aws.sdk_retry_wait_seconds() < shortest
