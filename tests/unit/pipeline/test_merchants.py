"""pipeline/merchants.py and the merchant-* commands: bindings made, kept to one merchant, listed and revoked
(moto's DynamoDB and API Gateway; the deployed path is held by tests/localstack/test_tenant_isolation.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline import cli
from pipeline.merchants import BindingError, Deployment, MerchantAdmin, check_merchant_id, principal
from stacks import constants

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

REGION = "eu-west-1"
TABLE = "paygate-dev-callers"
ROLE = "arn:aws:iam::123456789012:role/merchant-a-uploader"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Path, MerchantAdmin]]:
    """A callers table (the stack's key schema) and a usage plan in moto; their outputs file; an admin."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        session.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "caller_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("caller_id", "merchant_id", "bound_at")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-merchant",
                    "KeySchema": [
                        {"AttributeName": "merchant_id", "KeyType": "HASH"},
                        {"AttributeName": "bound_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        plan = session.client("apigateway").create_usage_plan(name="paygate-dev-payments-default-plan")["id"]
        outputs = {constants.OUTPUT_CALLERS_TABLE: TABLE, constants.OUTPUT_USAGE_PLAN_ID: plan, "region": REGION}
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        yield path, MerchantAdmin.connect(Deployment.from_outputs(outputs), session)


def run(path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main([*argv, "--outputs", str(path)], environ={"USER": "ops-alice", "PATH": ""}, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_a_new_api_key_is_created_in_the_usage_plan_and_bound(deployed: tuple[Path, MerchantAdmin]) -> None:
    path, admin = deployed
    status, out, _ = run(path, "merchant-bind", "--merchant", "m_merchanta1", "--new-api-key", "--show-key-value")
    assert status == 0
    shown = json.loads(out)
    assert shown["caller_id"] == f"apikey:{shown['api_key_id']}" and shown["api_key_value"]
    assert (shown["merchant_id"], shown["bound_by"]) == ("m_merchanta1", "ops-alice")
    key = admin.apigateway.get_api_key(apiKey=shown["api_key_id"])
    assert key["tags"] == {"MerchantId": "m_merchanta1"} and key["enabled"] is True
    keys = admin.apigateway.get_usage_plan_keys(usagePlanId=admin.deployment.usage_plan_id)["items"]
    assert [k["id"] for k in keys] == [shown["api_key_id"]]


def test_a_new_keys_value_is_printed_only_when_asked(deployed: tuple[Path, MerchantAdmin]) -> None:
    path, _ = deployed
    status, out, _ = run(path, "merchant-bind", "--merchant", "m_merchanta1", "--new-api-key")
    assert status == 0 and "api_key_value" not in json.loads(out)


def test_a_caller_stays_with_its_merchant_until_revoked(deployed: tuple[Path, MerchantAdmin]) -> None:
    path, admin = deployed
    assert run(path, "merchant-bind", "--merchant", "m_merchanta1", "--api-key-id", "k1")[0] == 0
    first = admin.table.get_item(Key={"caller_id": "apikey:k1"})["Item"]
    # The same binding again changes nothing (idempotent); another merchant is refused.
    assert run(path, "merchant-bind", "--merchant", "m_merchanta1", "--api-key-id", "k1")[0] == 0
    assert admin.table.get_item(Key={"caller_id": "apikey:k1"})["Item"] == first
    status, _, err = run(path, "merchant-bind", "--merchant", "m_merchantb1", "--api-key-id", "k1")
    assert status == 1 and "apikey:k1 is bound to another merchant: revoke it first" in err
    assert admin.table.get_item(Key={"caller_id": "apikey:k1"})["Item"]["merchant_id"] == "m_merchanta1"

    assert run(path, "merchant-revoke", "--api-key-id", "k1") == (0, "revoked apikey:k1\n", "")
    assert run(path, "merchant-bind", "--merchant", "m_merchantb1", "--api-key-id", "k1")[0] == 0
    status, _, err = run(path, "merchant-revoke", "--principal-arn", ROLE)
    assert status == 1 and "is not bound to any merchant" in err


def test_a_merchants_callers_are_listed_and_a_revoked_key_is_deleted(deployed: tuple[Path, MerchantAdmin]) -> None:
    path, admin = deployed
    key = admin.bind_new_api_key("m_merchanta1", name_prefix="paygate-dev", bound_by="ops")
    admin.bind(principal(ROLE), "m_merchanta1", bound_by="ops")
    admin.bind("apikey:other", "m_merchantb1", bound_by="ops")

    status, out, _ = run(path, "merchant-list", "--merchant", "m_merchanta1")
    listed = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and {b["caller_id"] for b in listed} == {key.caller_id, f"iam:{ROLE}"}

    assert run(path, "merchant-revoke", "--api-key-id", str(key.api_key_id), "--delete-api-key")[0] == 0
    assert admin.apigateway.get_api_keys()["items"] == []
    assert admin.apigateway.get_usage_plan_keys(usagePlanId=admin.deployment.usage_plan_id)["items"] == []
    # Revoking again: the binding, the plan's entry and the key are gone already; nothing fails.
    assert run(path, "merchant-revoke", "--api-key-id", str(key.api_key_id), "--delete-api-key")[0] == 1
    assert [b["caller_id"] for b in admin.callers_of("m_merchanta1")] == [f"iam:{ROLE}"]


@pytest.mark.parametrize("merchant_id", ["m_abc", "M_ABCDEF12", "m_abcdef12 ", "merchant", "m_" + "a" * 33])
def test_a_merchant_id_outside_the_contract_is_refused(deployed: tuple[Path, MerchantAdmin], merchant_id: str) -> None:
    path, admin = deployed
    status, _, err = run(path, "merchant-bind", "--merchant", merchant_id, "--new-api-key")
    assert status == 1 and "is not m_ followed by 6-32 lowercase letters or digits" in err
    assert admin.apigateway.get_api_keys()["items"] == []  # no key made for a refused binding
    with pytest.raises(BindingError):
        check_merchant_id(merchant_id)


@pytest.mark.parametrize(
    ("arn", "ok"),
    [
        (ROLE, True),
        ("arn:aws:sts::123456789012:assumed-role/merchant-a/session-1", True),
        ("arn:aws-us-gov:iam::123456789012:user/ops", True),
        ("arn:aws:s3:::bucket", False),
        ("role/merchant-a", False),
        ("arn:aws:iam::12345:role/x", False),
    ],
)
def test_only_iam_and_sts_principal_arns_are_bound(arn: str, ok: bool) -> None:
    if ok:
        assert principal(arn) == f"iam:{arn}"
    else:
        with pytest.raises(BindingError, match="is not an IAM or STS principal ARN"):
            principal(arn)


def test_outputs_without_the_callers_table_say_what_to_deploy(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"region": REGION, constants.OUTPUT_USAGE_PLAN_ID: {"value": "p1"}}))
    with pytest.raises(BindingError, match="lack callers_table_name: deploy a stack that has the callers table"):
        Deployment.read(path)
    with pytest.raises(BindingError, match="no deployment outputs at"):
        Deployment.read(tmp_path / "missing.json")


def test_terraform_output_json_is_read_as_well_as_flat_outputs(tmp_path: Path) -> None:
    nested: dict[str, Any] = {
        constants.OUTPUT_CALLERS_TABLE: {"value": TABLE, "type": "string"},
        constants.OUTPUT_USAGE_PLAN_ID: {"value": "p1"},
        "region": {"value": REGION},
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(nested))
    assert Deployment.read(path) == Deployment(callers_table=TABLE, usage_plan_id="p1", region=REGION)


def test_localstack_without_credentials_acts_as_the_deployments_account() -> None:
    deployment = Deployment(TABLE, "p1", REGION, account_id="111122223333", endpoint="http://127.0.0.1:4566")
    frozen = deployment.session({}).get_credentials().get_frozen_credentials()
    assert frozen.access_key == "111122223333"
