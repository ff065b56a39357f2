"""Tables and buckets as deployed: recoverable, protected as the environment declares, never public,
TLS-only, versioned (PCI DSS 1.3/1.4: no public access to cardholder data stores; 4.2.1: strong
cryptography in transit; 10.5.1 and 12.10.1: data and its history recoverable)."""

from __future__ import annotations

import json

from tests.integration.system import System, denies_insecure_transport

PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def test_every_table_has_point_in_time_recovery(system: System) -> None:
    dynamodb = system.client("dynamodb")

    found = {
        name: dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        for name in system.table_names()
    }

    assert len(found) == 5  # payments, batches, audit-log, idempotency, callers
    for name, backups in found.items():
        recovery = backups.get("PointInTimeRecoveryDescription", {})
        assert recovery.get("PointInTimeRecoveryStatus") == "ENABLED", f"{name}: {backups}"


def test_table_deletion_protection_is_as_the_environment_declares(system: System) -> None:
    dynamodb = system.client("dynamodb")
    tables = system.declared.by("aws_dynamodb_table", "name")
    declared = {name: bool(table.arguments.get("deletion_protection_enabled", False)) for name, table in tables.items()}

    deployed = {
        name: dynamodb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] for name in declared
    }

    assert deployed == declared


def test_every_bucket_blocks_all_public_access(system: System) -> None:
    s3 = system.client("s3")

    found = {
        name: s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        for name in system.bucket_names()
    }

    assert len(found) == len(system.declared.resources("aws_s3_bucket")) == 3
    for name, block in found.items():
        assert {flag: block.get(flag) for flag in PUBLIC_ACCESS_FLAGS} == dict.fromkeys(PUBLIC_ACCESS_FLAGS, True), name


def test_every_bucket_policy_denies_requests_without_tls(system: System) -> None:
    s3 = system.client("s3")

    policies = {name: json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) for name in system.bucket_names()}

    for name, policy in policies.items():
        arn = system.arn("s3", name, region=False, account=False)
        assert denies_insecure_transport(policy, "s3", {arn, f"{arn}/*"}), f"{name}: {json.dumps(policy)}"


def test_every_bucket_is_versioned_and_owner_enforced(system: System) -> None:
    s3 = system.client("s3")

    for name in system.bucket_names():
        assert s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled", name
        rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
        assert [rule["ObjectOwnership"] for rule in rules] == ["BucketOwnerEnforced"], name
