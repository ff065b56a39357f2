"""PlatformStorage: private, versioned, TLS-only, logged buckets; new ``incoming/*.csv`` invokes the batch function;
function archives live in their own SSE-KMS bucket."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constants import BATCH_PREFIX, BATCH_SUFFIX

PURPOSES = ("batch-files", "function-code", "access-logs")
LOGGED = ("batch-files", "function-code")


def bucket_ids(stack: Any) -> list[str]:
    ids = list(stack.resources("aws_s3_bucket"))
    assert len(ids) == len(PURPOSES)
    return ids


def test_bucket_names_are_per_environment_and_account(stack) -> None:
    names = sorted(body["bucket"] for body in stack.resources("aws_s3_bucket").values())
    assert names == sorted(f"paygate-dev-{purpose}-{stack.ACCOUNT}" for purpose in PURPOSES)


def test_every_bucket_is_versioned(stack) -> None:
    for bucket_id in bucket_ids(stack):
        (versioning,) = stack.attached_to_bucket("aws_s3_bucket_versioning", bucket_id)
        assert versioning["versioning_configuration"] == {"status": "Enabled"}


def test_every_bucket_blocks_all_public_access(stack) -> None:
    for bucket_id in bucket_ids(stack):
        (block,) = stack.attached_to_bucket("aws_s3_bucket_public_access_block", bucket_id)
        for setting in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert block[setting] is True, setting


def test_every_bucket_enforces_owner_object_ownership(stack) -> None:
    for bucket_id in bucket_ids(stack):
        (ownership,) = stack.attached_to_bucket("aws_s3_bucket_ownership_controls", bucket_id)
        assert ownership["rule"] == {"object_ownership": "BucketOwnerEnforced"}


def test_every_bucket_policy_denies_requests_without_tls(stack) -> None:
    for bucket_id in bucket_ids(stack):
        (policy,) = stack.attached_to_bucket("aws_s3_bucket_policy", bucket_id)
        arn = stack.ref("aws_s3_bucket", bucket_id, "arn")
        deny = [
            s
            for s in stack.statements(policy["policy"])
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(deny) == 1
        assert deny[0]["Principal"] == {"AWS": "*"}
        assert deny[0]["Action"] == ["s3:*"]
        assert set(deny[0]["Resource"]) == {arn, f"{arn}/*"}


def test_batch_bucket_refuses_uploads_not_encrypted_with_kms(stack) -> None:
    bucket_id, _ = stack.bucket("batch-files")
    (policy,) = stack.attached_to_bucket("aws_s3_bucket_policy", bucket_id)
    statement = stack.statement(policy["policy"], "DenyUnencryptedObjectUploads")
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == ["s3:PutObject"]
    assert statement["Condition"] == {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}


def test_a_principal_tagged_as_a_merchants_writes_batch_files_only_in_its_folder(stack) -> None:
    """Tenant isolation (issue 12): Deny PutObject everywhere but incoming/<the principal's MerchantId tag>/, for
    principals that carry the tag. ``$${`` is Terraform's escape: AWS receives the policy variable ``${…}``."""
    bucket_id, _ = stack.bucket("batch-files")
    (policy,) = stack.attached_to_bucket("aws_s3_bucket_policy", bucket_id)
    statement = stack.statement(policy["policy"], "HoldMerchantsToTheirFolder")
    arn = stack.ref("aws_s3_bucket", bucket_id, "arn")
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        {"AWS": "*"},
        ["s3:PutObject"],
    )
    assert "Resource" not in statement
    assert statement["NotResource"] == f"{arn}/incoming/$${{aws:PrincipalTag/MerchantId}}/*"
    assert statement["Condition"] == {"Null": {"aws:PrincipalTag/MerchantId": "false"}}


def test_the_merchant_folder_the_policy_allows_is_the_one_the_batch_function_reads() -> None:
    from lambdas.shared.merchants import batch_file_merchant

    folder = f"{BATCH_PREFIX}m_abcdef12/"
    assert batch_file_merchant(folder + "day.csv") == "m_abcdef12"
    assert batch_file_merchant(BATCH_PREFIX + "day.csv") is None


def test_every_bucket_expires_noncurrent_versions(stack) -> None:
    for bucket_id in bucket_ids(stack):
        (lifecycle,) = stack.attached_to_bucket("aws_s3_bucket_lifecycle_configuration", bucket_id)
        enabled = [rule for rule in lifecycle["rule"] if rule["status"] == "Enabled"]
        expirations = [e for rule in enabled for e in rule.get("noncurrent_version_expiration", [])]
        assert expirations
        assert all(e["noncurrent_days"] > 0 for e in expirations)


def test_every_bucket_but_the_log_bucket_logs_access_to_the_log_bucket(stack) -> None:
    log_id, _ = stack.bucket("access-logs")
    for bucket_id in bucket_ids(stack):
        logging = stack.attached_to_bucket("aws_s3_bucket_logging", bucket_id)
        if bucket_id == log_id:
            assert logging == []  # it would log into itself
            continue
        (config,) = logging
        assert config["target_bucket"] == stack.ref("aws_s3_bucket", log_id, "id")
        assert config["target_prefix"]


def test_log_bucket_accepts_access_logs_only_from_the_logged_buckets(stack) -> None:
    log_id, _ = stack.bucket("access-logs")
    logged = [stack.bucket(purpose)[0] for purpose in LOGGED]
    (policy,) = stack.attached_to_bucket("aws_s3_bucket_policy", log_id)
    prefixes = [
        stack.attached_to_bucket("aws_s3_bucket_logging", bucket_id)[0]["target_prefix"] for bucket_id in logged
    ]
    statement = stack.statement(policy["policy"], "AllowS3ServerAccessLogDelivery")

    assert prefixes == ["batch-files/", "function-code/"]
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert statement["Action"] == ["s3:PutObject"]
    assert statement["Resource"] == [f"{stack.ref('aws_s3_bucket', log_id, 'arn')}/{prefix}*" for prefix in prefixes]
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": [stack.ref("aws_s3_bucket", bucket_id, "arn") for bucket_id in logged]},
        "StringEquals": {"aws:SourceAccount": stack.ACCOUNT},
    }


def test_function_code_is_encrypted_with_the_platform_key_and_kept(stack) -> None:
    bucket_id, bucket = stack.bucket("function-code")
    (sse,) = stack.attached_to_bucket("aws_s3_bucket_server_side_encryption_configuration", bucket_id)
    (lifecycle,) = stack.attached_to_bucket("aws_s3_bucket_lifecycle_configuration", bucket_id)

    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": stack.key_arn,
    }
    # A signed archive is the evidence of what a function runs: current objects never expire.
    assert not [rule for rule in lifecycle["rule"] if rule.get("expiration")]
    assert bucket["tags"]["DataClassification"] == "internal"


def test_new_batch_files_notify_the_batch_function(stack) -> None:
    batch_id, _ = stack.bucket("batch-files")
    function_id, _ = stack.function("batch_processor")
    (notification,) = stack.attached_to_bucket("aws_s3_bucket_notification", batch_id)

    assert notification["lambda_function"] == [
        {
            "events": ["s3:ObjectCreated:*"],
            "filter_prefix": BATCH_PREFIX,
            "filter_suffix": BATCH_SUFFIX,
            "lambda_function_arn": stack.ref("aws_lambda_function", function_id, "arn"),
        }
    ]
    assert (BATCH_PREFIX, BATCH_SUFFIX) == ("incoming/", ".csv")


def test_s3_may_invoke_the_batch_function_only_for_this_bucket_and_account(stack) -> None:
    batch_id, _ = stack.bucket("batch-files")
    function_id, _ = stack.function("batch_processor")
    (permission,) = [
        p for p in stack.resources("aws_lambda_permission").values() if p["principal"] == "s3.amazonaws.com"
    ]

    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["function_name"] == stack.ref("aws_lambda_function", function_id, "function_name")
    assert permission["source_arn"] == stack.ref("aws_s3_bucket", batch_id, "arn")
    assert permission["source_account"] == stack.ACCOUNT


def test_notification_is_created_after_the_invoke_permission(stack) -> None:
    # S3 test-invokes the function when the notification is put; without the permission it fails.
    (permission_id,) = [
        rid for rid, p in stack.resources("aws_lambda_permission").items() if p["principal"] == "s3.amazonaws.com"
    ]
    _, notification = stack.only("aws_s3_bucket_notification")
    assert f"aws_lambda_permission.{permission_id}" in notification["depends_on"]


@pytest.mark.parametrize(("fixture", "force_destroy"), [("stack", True), ("protected_stack", False)])
def test_buckets_can_be_force_destroyed_only_without_deletion_protection(
    fixture: str, force_destroy: bool, request: pytest.FixtureRequest
) -> None:
    synthesized = request.getfixturevalue(fixture)
    assert synthesized.config.deletion_protection is not force_destroy
    for bucket in synthesized.resources("aws_s3_bucket").values():
        assert bucket["force_destroy"] is force_destroy
