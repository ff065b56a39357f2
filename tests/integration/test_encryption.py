"""Customer-managed key wiring as deployed: the platform key encrypts every table, queue, topic, bucket,
log group, function environment and the workflow (PCI DSS 3.5.1: stored account data rendered unreadable;
3.6/3.7: keys under the entity's own management, rotated)."""

from __future__ import annotations

from typing import Any

from stacks import constants
from tests.integration.system import System


def test_the_platform_key_is_customer_managed_enabled_and_rotated_yearly(system: System, key_arn: str) -> None:
    kms = system.client("kms")
    (declared,) = system.declared.resources("aws_kms_key")

    metadata = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    rotation = kms.get_key_rotation_status(KeyId=key_arn)

    assert (metadata["KeyManager"], metadata["KeyState"], metadata["Enabled"]) == ("CUSTOMER", "Enabled", True)
    assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert rotation["KeyRotationEnabled"] is True, rotation
    assert rotation["RotationPeriodInDays"] == declared.arguments["rotation_period_in_days"] <= 365, rotation


def test_every_table_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    dynamodb = system.client("dynamodb")

    found = {
        name: dynamodb.describe_table(TableName=name)["Table"].get("SSEDescription", {})
        for name in system.table_names()
    }

    assert len(found) == 5  # payments, batches, audit-log, idempotency, callers
    for name, sse in found.items():
        assert (sse.get("Status"), sse.get("SSEType")) == ("ENABLED", "KMS"), f"{name}: {sse}"
        assert system.key_arn_of(sse["KMSMasterKeyArn"]) == key_arn, f"{name}: {sse}"


def test_every_queue_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    found = {name: system.queue_attributes(url) for name, url in system.queues().items()}

    assert len(found) == 5
    for name, attributes in found.items():
        assert "KmsMasterKeyId" in attributes, f"{name} is not encrypted with a KMS key: {attributes}"
        assert system.key_arn_of(attributes["KmsMasterKeyId"]) == key_arn, name


def test_every_topic_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    sns = system.client("sns")

    found = {name: sns.get_topic_attributes(TopicArn=arn)["Attributes"] for name, arn in system.topics().items()}

    assert len(found) == 2
    for name, attributes in found.items():
        assert "KmsMasterKeyId" in attributes, f"{name} is not encrypted with a KMS key: {attributes}"
        assert system.key_arn_of(attributes["KmsMasterKeyId"]) == key_arn, name


def test_the_batch_and_code_buckets_encrypt_with_the_platform_key_and_every_bucket_encrypts_by_default(
    system: System, key_arn: str, batch_bucket: str
) -> None:
    """The access-log bucket alone uses SSE-S3: S3 server access log delivery refuses SSE-KMS targets."""
    s3 = system.client("s3")

    rules = {
        name: s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        for name in system.bucket_names()
    }

    for name, found in rules.items():
        assert found and found[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("aws:kms", "AES256"), name
    for name in (batch_bucket, system.deployment.outputs[constants.OUTPUT_CODE_BUCKET]):
        rule = rules[name][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", name
        assert system.key_arn_of(rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == key_arn, name
        assert rule.get("BucketKeyEnabled") is True, name


def test_every_log_group_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    found = {resource.address: group for resource, group in system.log_groups()}

    assert len(found) == 9  # 5 functions, API access + execution logs, the workflow, the web ACL
    for address, group in found.items():
        assert group.get("kmsKeyId") == key_arn, f"{address} ({group['logGroupName']}): {group.get('kmsKeyId')}"


def test_every_function_environment_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    lambda_ = system.client("lambda")

    found: dict[str, Any] = {
        name: lambda_.get_function_configuration(FunctionName=name) for name in system.function_names()
    }

    reported = {name: configuration.get("KMSKeyArn") for name, configuration in found.items()}
    assert len(reported) == 5
    assert reported == dict.fromkeys(reported, key_arn)


def test_the_workflow_is_encrypted_with_the_platform_key(system: System, key_arn: str) -> None:
    encryption = system.state_machine().get("encryptionConfiguration", {})

    assert encryption.get("type") == "CUSTOMER_MANAGED_KMS_KEY", encryption
    assert system.key_arn_of(encryption["kmsKeyId"]) == key_arn
