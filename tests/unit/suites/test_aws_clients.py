"""tests/aws_clients.py: the one switch between LocalStack (localstack-client) and AWS (a plain boto3 session).

No network: building a client resolves its endpoint locally; nothing here sends a request.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSRequest
from localstack_client.session import Session as LocalStackSession

from tests import aws_clients
from tests.aws_clients import LOCALSTACK_CLIENT_SERVICES, Target, TargetError

ENDPOINT = "http://127.0.0.1:45999"  # host mode: plain HTTP on a free, non-default port


@pytest.fixture(autouse=True)
def hermetic_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint, profile or credentials of the machine leak into the clients built here."""
    leaky = (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SQS",
        "LOCALSTACK_HOST",
        "USE_SSL",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
    )
    for name in (*leaky, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_a_localstack_target_takes_its_clients_from_localstack_client_at_the_host_mode_endpoint() -> None:
    target = Target.localstack(ENDPOINT, "eu-west-1")

    sqs = target.client("sqs")

    assert isinstance(target.session, LocalStackSession)
    assert sqs.meta.endpoint_url == ENDPOINT
    assert sqs.meta.region_name == "eu-west-1"
    assert target.resource("dynamodb").meta.client.meta.endpoint_url == ENDPOINT


def test_a_localstack_target_uses_fake_credentials_whose_key_id_can_name_an_account() -> None:
    default = Target.localstack(ENDPOINT, "us-east-1").client("sts")._request_signer._credentials
    staging = Target.localstack(ENDPOINT, "us-east-1", account_id="123456789012").client("sts")._request_signer

    assert (default.access_key, default.secret_key) == ("test", "test")
    assert staging._credentials.access_key == "123456789012"


def test_a_service_localstack_client_does_not_know_goes_to_the_same_endpoint_as_the_same_account() -> None:
    assert "signer" not in LOCALSTACK_CLIENT_SERVICES and "sqs" in LOCALSTACK_CLIENT_SERVICES
    signer = Target.localstack(ENDPOINT, "eu-west-1", account_id="123456789012").client("signer")

    assert signer.meta.endpoint_url == ENDPOINT
    assert signer.meta.region_name == "eu-west-1"
    assert signer._request_signer._credentials.access_key == "123456789012"


def test_an_aws_target_takes_a_plain_boto3_session_and_aws_endpoints() -> None:
    target = Target.aws("eu-central-1")

    sqs = target.client("sqs")

    assert isinstance(target.session, boto3.session.Session)
    assert sqs.meta.endpoint_url == "https://sqs.eu-central-1.amazonaws.com"
    assert target.client("stepfunctions").meta.endpoint_url == "https://states.eu-central-1.amazonaws.com"


def test_an_endpoint_override_in_the_environment_is_refused_for_either_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")

    with pytest.raises(TargetError, match=r"resolved http://localhost:4566 for sqs, not the target's"):
        Target.localstack(ENDPOINT, "us-east-1").client("sqs")
    with pytest.raises(TargetError, match="not an AWS endpoint"):
        Target.aws("us-east-1").client("sqs")


def test_s3_clients_drop_the_expect_100_continue_header_on_both_kinds() -> None:
    for target in (Target.localstack(ENDPOINT, "us-east-1"), Target.aws("us-east-1")):
        s3 = target.client("s3")
        request = AWSRequest(method="PUT", url=f"{ENDPOINT}/b/k", headers={"Expect": "100-continue"}).prepare()

        s3.meta.events.emit("before-send.s3.PutObject", request=request)

        assert "Expect" not in request.headers, target.kind


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Target("gcp", "us-east-1"), "target kind 'gcp' is unknown"),  # type: ignore[arg-type]
        (lambda: Target("localstack", "us-east-1"), "needs its endpoint"),
        (lambda: Target.localstack("http://127.0.0.1", "us-east-1"), "is not http://<host>:<port>"),
        (lambda: Target.localstack("http://127.0.0.1:4566/path", "us-east-1"), "is not http://<host>:<port>"),
        (lambda: Target.localstack("https://127.0.0.1:4566", "us-east-1"), "is not http://<host>:<port>"),
        (lambda: Target.localstack(ENDPOINT, "us-east-1", account_id="12345"), "is not 12 digits"),
        (lambda: Target.localstack(ENDPOINT, "Mars-1"), "not an AWS region name"),
        (lambda: Target("aws", "us-east-1", endpoint=ENDPOINT), "takes no endpoint"),
        (lambda: Target("aws", "us-east-1", account_id="123456789012"), "comes from its credentials"),
    ],
)
def test_a_malformed_target_is_refused_with_a_sentence(make: object, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        make()  # type: ignore[operator]


def test_the_endpoint_has_one_spelling() -> None:
    assert Target.localstack("http://127.0.0.1:45999/", "us-east-1") == Target.localstack(ENDPOINT, "us-east-1")


def test_requests_to_the_api_are_signed_for_execute_api_in_the_targets_region() -> None:
    headers = Target.localstack(ENDPOINT, "eu-west-1").sign(
        "POST", f"{ENDPOINT}/_aws/execute-api/abc/v1/payments", {"Content-Type": "application/json"}, b"{}"
    )

    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["Content-Type"] == "application/json" and "X-Amz-Date" in headers


def test_an_aws_target_without_credentials_cannot_sign() -> None:
    with pytest.raises(TargetError, match="no AWS credentials for aws us-east-1"):
        Target.aws("us-east-1").sign("GET", "https://x.execute-api.us-east-1.amazonaws.com/v1/payments/p", {}, None)


def test_the_api_base_is_the_path_style_url_on_localstack_and_the_invoke_url_on_aws() -> None:
    invoke_url = "https://abc.execute-api.eu-west-1.amazonaws.com/v1"

    assert Target.localstack(ENDPOINT, "eu-west-1").api_base("abc", "v1", invoke_url) == (
        f"{ENDPOINT}/_aws/execute-api/abc/v1"
    )
    assert Target.aws("eu-west-1").api_base("abc", "v1", invoke_url + "/") == invoke_url


def test_the_shorthand_client_is_a_localstack_targets_client() -> None:
    sqs = aws_clients.client(ENDPOINT, "us-east-1", "sqs", account_id="000000000001")

    assert sqs.meta.endpoint_url == ENDPOINT
    assert sqs._request_signer._credentials.access_key == "000000000001"
