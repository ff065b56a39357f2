"""PlatformKey: one rotating CMK whose key policy lets each consuming service use it, and every store uses it.

LocalStack accepts a key policy that would lock CloudWatch Logs, SNS or alarms out; real AWS then
fails at apply (log group association) or silently drops deliveries. These assertions are the check.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from cdktf import Testing as TfTesting

from stacks.constructs.encryption import PlatformKey
from stacks.constructs.iam import grant, service_role
from stacks.context import StackContext
from stacks.naming import Naming

VIA_SERVICES = ("s3", "dynamodb", "sqs", "sns", "lambda", "states")


def key_statements(stack: Any) -> list[dict[str, Any]]:
    _, key = stack.only("aws_kms_key")
    return stack.statements(key["policy"])


def for_service(stack: Any, principal: str) -> list[dict[str, Any]]:
    return [s for s in key_statements(stack) if s.get("Principal") == {"Service": principal}]


def test_there_is_one_key_with_rotation_on(stack) -> None:
    assert len(stack.resources("aws_kms_key")) == 1
    assert TfTesting.to_have_resource_with_properties(
        stack.text,
        "aws_kms_key",
        {"enable_key_rotation": True, "key_usage": "ENCRYPT_DECRYPT", "customer_master_key_spec": "SYMMETRIC_DEFAULT"},
    )
    _, key = stack.only("aws_kms_key")
    assert key["rotation_period_in_days"] <= 365
    assert key["deletion_window_in_days"] == 30


def test_key_has_an_environment_alias(stack) -> None:
    rid, _ = stack.only("aws_kms_key")
    _, alias = stack.only("aws_kms_alias")
    assert alias == {
        **alias,
        "name": "alias/paygate-dev-data",
        "target_key_id": stack.ref("aws_kms_key", rid, "key_id"),
    }


def test_account_root_administers_the_key(stack) -> None:
    root = f"arn:{stack.PARTITION}:iam::{stack.ACCOUNT}:root"
    admin = [s for s in key_statements(stack) if s["Principal"] == {"AWS": root} and "Condition" not in s]
    assert [s["Action"] for s in admin] == [["kms:*"]]
    assert all(s["Effect"] == "Allow" for s in key_statements(stack))


def test_cloudwatch_logs_uses_the_key_through_its_regional_principal(stack) -> None:
    assert for_service(stack, "logs.amazonaws.com") == [], "Logs needs the regional principal"
    (statement,) = for_service(stack, f"logs.{stack.config.region}.amazonaws.com")

    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(statement["Action"])
    assert set(statement["Condition"]) == {"ArnLike"}
    assert set(statement["Condition"]["ArnLike"]) == {"kms:EncryptionContext:aws:logs:arn"}


def test_every_log_group_of_the_stack_is_covered_by_the_logs_condition(stack) -> None:
    (statement,) = for_service(stack, f"logs.{stack.config.region}.amazonaws.com")
    patterns = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    log_groups = [body["name"] for body in stack.resources("aws_cloudwatch_log_group").values()]

    assert len(log_groups) >= 6
    for name in log_groups:
        arn = stack.arn("logs", f"log-group:{name}")
        assert any(fnmatchcase(arn, pattern) for pattern in patterns), f"the key refuses log group {name}"


def test_logs_condition_does_not_cover_other_environments(stack) -> None:
    (statement,) = for_service(stack, f"logs.{stack.config.region}.amazonaws.com")
    patterns = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    foreign = stack.arn("logs", "log-group:/aws/lambda/paygate-prod-api-handler")
    assert not any(fnmatchcase(foreign, pattern) for pattern in patterns)


def test_sns_alarms_and_s3_may_use_the_key_for_their_deliveries(stack) -> None:
    for principal in ("sns.amazonaws.com", "cloudwatch.amazonaws.com", "s3.amazonaws.com"):
        (statement,) = for_service(stack, principal)
        assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(statement["Action"]), principal
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": stack.ACCOUNT}}, principal


def test_account_principals_use_the_key_only_via_the_platform_services(stack) -> None:
    root = f"arn:{stack.PARTITION}:iam::{stack.ACCOUNT}:root"
    (statement,) = [s for s in key_statements(stack) if s["Principal"] == {"AWS": root} and "Condition" in s]
    condition = statement["Condition"]["StringEquals"]

    assert set(condition["kms:ViaService"]) == {f"{s}.{stack.config.region}.amazonaws.com" for s in VIA_SERVICES}
    assert condition["kms:CallerAccount"] == stack.ACCOUNT
    assert "kms:*" not in statement["Action"]


def test_every_bucket_has_server_side_encryption(stack) -> None:
    for bucket_id in stack.resources("aws_s3_bucket"):
        assert len(stack.attached_to_bucket("aws_s3_bucket_server_side_encryption_configuration", bucket_id)) == 1


def test_batch_bucket_uses_the_platform_key_with_a_bucket_key(stack) -> None:
    bucket_id, _ = stack.bucket("batch-files")
    (sse,) = stack.attached_to_bucket("aws_s3_bucket_server_side_encryption_configuration", bucket_id)
    (rule,) = sse["rule"]
    assert rule["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": stack.key_arn,
    }
    assert rule["bucket_key_enabled"] is True


def test_access_log_bucket_is_the_documented_sse_s3_exception(stack) -> None:
    # S3 server access log delivery cannot write to an SSE-KMS bucket; this bucket holds request metadata only.
    bucket_id, bucket = stack.bucket("access-logs")
    (sse,) = stack.attached_to_bucket("aws_s3_bucket_server_side_encryption_configuration", bucket_id)
    assert sse["rule"][0]["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
    assert bucket["tags"]["DataClassification"] == "internal"


def test_tables_are_encrypted_with_the_platform_key(stack) -> None:
    tables = stack.resources("aws_dynamodb_table").values()
    assert tables
    for table in tables:
        assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": stack.key_arn}


def test_queues_and_topics_are_encrypted_with_the_platform_key(stack) -> None:
    queues = stack.resources("aws_sqs_queue").values()
    topics = stack.resources("aws_sns_topic").values()
    assert len(queues) >= 5
    assert len(topics) >= 2
    for resource in [*queues, *topics]:
        assert resource["kms_master_key_id"] == stack.key_arn, resource["name"]


def test_log_groups_are_encrypted_with_the_platform_key(stack) -> None:
    for log_group in stack.resources("aws_cloudwatch_log_group").values():
        assert log_group["kms_key_id"] == stack.key_arn, log_group["name"]


def test_function_environments_are_encrypted_with_the_platform_key(stack) -> None:
    functions = stack.resources("aws_lambda_function").values()
    assert len(functions) == 5
    for function in functions:
        assert function["kms_key_arn"] == stack.key_arn, function["function_name"]


def test_workflow_state_is_encrypted_with_the_platform_key(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    assert machine["encryption_configuration"]["type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert machine["encryption_configuration"]["kms_key_id"] == stack.key_arn


def test_key_use_statement_grants_decrypt_only_unless_asked_to_encrypt(make_config, tmp_path: Path) -> None:
    from cdktf import TerraformStack

    scratch = TerraformStack(TfTesting.app(outdir=str(tmp_path)), "scratch")
    ctx = StackContext(config=make_config(), naming=Naming("paygate-dev"), account_id="123456789012", partition="aws")
    key = PlatformKey(scratch, "encryption", ctx=ctx)
    role = service_role(scratch, "role", name="r", service="lambda.amazonaws.com")
    grant(scratch, "read", role=role, name="read", statements=[key.use_statement("Read", encrypt=False)])
    grant(scratch, "write", role=role, name="write", statements=[key.use_statement("Write")])

    doc = json.loads(TfTesting.synth(scratch))
    (key_id,) = doc["resource"]["aws_kms_key"]
    statements = {
        policy["name"]: json.loads(policy["policy"])["Statement"][0]
        for policy in doc["resource"]["aws_iam_role_policy"].values()
    }
    assert statements["read"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert statements["write"]["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]
    assert statements["read"]["Resource"] == statements["write"]["Resource"] == f"${{aws_kms_key.{key_id}.arn}}"
