"""Every deployed function runs code the platform's signing profile signed, and refuses any other (issue 12).

LocalStack's Signer is ``localstack_ext/signer.py`` (signing jobs over moto's profiles; a signed object is a copy, no
cryptography) and Lambda's enforcement ``localstack_ext/lambda_code_signing.py``; what they emulate is the chain of
custody AWS Lambda checks: which profile version signed which object, unchanged since, not expired.

On LocalStack a signed object is a copy of its source, so matching the running code to its signing job by content
(``test_every_function_runs_the_checked_archive…``) cannot tell a signed copy from the unsigned upload; that the
deployed functions got signed objects is shown by the create-time enforcement they are under (a create from the
unsigned upload is refused, a create from a signing job's object is accepted).

The refusals are tried on a function of these tests' own (``own_function``, created from a signing job's object
under the platform's config), never on the platform's functions: a refusal that failed changes nothing the tests
running beside them use, so the code offered can be a few bytes instead of a 15 MB archive.
"""

from __future__ import annotations

import datetime
import io
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stacks.constants import FUNCTION_HANDLERS
from tests import signed_code
from tests.localstack.support import Deployed, deployed_stack, poll

FUNCTIONS = tuple(FUNCTION_HANDLERS)
# Whose upload the tests sign (for their own function, and to offer signed by the wrong profile or altered).
TARGET = "batch_processor"


def function_name(deployed: Deployed, key: str) -> str:
    return deployed.function_name(key.replace("_", "-"))


def unsigned_key(key: str) -> str:
    return f"unsigned/{key}.zip"


def refused(deployed: Deployed, function: str, **code: Any) -> ClientError:
    """``UpdateFunctionCode`` of ``function`` (a name or an ARN) with ``code``; the error Lambda refused it with
    (the test fails if it was accepted)."""
    with pytest.raises(ClientError) as caught:
        deployed.client("lambda").update_function_code(FunctionName=function, **code)
    return caught.value


def assert_code_verification_failed(error: ClientError, reason: str) -> None:
    assert error.response["Error"]["Code"] == "CodeVerificationFailedException", error.response
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert reason in error.response["Error"]["Message"]


def sign(deployed: Deployed, profile_name: str, key: str, prefix: str) -> dict[str, Any]:
    """A signing job of ``profile_name`` over the current version of ``unsigned/<key>.zip``, finished."""
    bucket = deployed["function_code_bucket_name"]
    version = deployed.client("s3").head_object(Bucket=bucket, Key=unsigned_key(key))["VersionId"]
    signer = deployed.client("signer")
    started = signer.start_signing_job(
        source={"s3": {"bucketName": bucket, "key": unsigned_key(key), "version": version}},
        destination={"s3": {"bucketName": bucket, "prefix": prefix}},
        profileName=profile_name,
        clientRequestToken=str(uuid.uuid4()),
    )
    job: dict[str, Any] = poll(
        f"signing job {started['jobId']}",
        lambda: (found := signer.describe_signing_job(jobId=started["jobId"]))["status"] == "Succeeded" and found,
    )
    return job


@pytest.fixture
def other_profile(deployed: Deployed) -> Iterator[str]:
    """A signing profile of the same account that the functions' config does not allow; cancelled after the test."""
    signer = deployed.client("signer")
    name = f"e2e_not_allowed_{uuid.uuid4().hex[:12]}"
    signer.put_signing_profile(profileName=name, platformId="AWSLambda-SHA384-ECDSA")
    yield name
    signer.cancel_signing_profile(profileName=name)


def test_every_function_reports_the_platform_config_enforcing_the_platform_profile(deployed: Deployed) -> None:
    lambda_ = deployed.client("lambda")
    for key in FUNCTIONS:
        attached = lambda_.get_function_code_signing_config(FunctionName=function_name(deployed, key))
        assert attached["CodeSigningConfigArn"] == deployed["code_signing_config_arn"], key

    config = lambda_.get_code_signing_config(CodeSigningConfigArn=deployed["code_signing_config_arn"])
    config = config["CodeSigningConfig"]
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [deployed["signing_profile_version_arn"]]}
    profile = deployed.client("signer").get_signing_profile(profileName=deployed["signing_profile_name"])
    assert profile["status"] == "Active"
    assert profile["profileVersionArn"] == deployed["signing_profile_version_arn"]
    assert profile["platformId"] == "AWSLambda-SHA384-ECDSA"


def test_every_function_runs_the_checked_archive_as_signed_by_the_platform_profile(deployed: Deployed) -> None:
    # The archives' hashes come from the artifact that was deployed, or the test says it reads another one.
    declared = deployed_stack(deployed)["resource"]["aws_s3_object"]
    archives = {body["key"]: body["source_hash"] for body in declared.values()}
    now = datetime.datetime.now(datetime.UTC)
    for key in FUNCTIONS:
        job = signed_code.running_signing_job(deployed, function_name(deployed, key), deployed["signing_profile_name"])
        # The signed object is a signing of this function's upload, and that upload is the checked archive.
        assert job["source"]["s3"]["bucketName"] == deployed["function_code_bucket_name"]
        assert job["source"]["s3"]["key"] == unsigned_key(key)
        assert signed_code.source_sha256(deployed, job) == signed_code.hex_to_code_sha256(archives[unsigned_key(key)])
        assert job["signedObject"]["s3"]["key"].startswith("signed/")
        assert deployed["signing_profile_version_arn"].endswith(f"/{job['profileVersion']}")
        assert job["signatureExpiresAt"] > now + datetime.timedelta(days=300), key


def tiny_zip(source: str) -> bytes:
    """A deployment package of one ``handler.py`` (what is offered never runs: it is refused)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", source)
    return buffer.getvalue()


def new_function(deployed: Deployed, code: dict[str, Any]) -> dict[str, Any]:
    """CreateFunction of a function of these tests' own, under the platform's code-signing config."""
    template = deployed.client("lambda").get_function_configuration(FunctionName=function_name(deployed, TARGET))
    created: dict[str, Any] = deployed.client("lambda").create_function(
        FunctionName=f"paygate-e2e-signing-{uuid.uuid4().hex[:12]}",
        Runtime=template["Runtime"],
        Role=template["Role"],
        Handler=template["Handler"],
        Code=code,
        CodeSigningConfigArn=deployed["code_signing_config_arn"],
    )
    return created


@pytest.fixture(scope="module")
def own_function(deployed: Deployed) -> Iterator[str]:
    """A function created from a signing job's object of the platform profile (the create is accepted), deleted
    after the module's tests."""
    job = sign(deployed, deployed["signing_profile_name"], TARGET, prefix=f"e2e-create/{uuid.uuid4().hex}/")
    signed = job["signedObject"]["s3"]
    created = new_function(deployed, {"S3Bucket": signed["bucketName"], "S3Key": signed["key"]})
    yield created["FunctionName"]
    deployed.client("lambda").delete_function(FunctionName=created["FunctionName"])


def test_a_function_created_from_signed_code_keeps_the_config_and_one_from_unsigned_code_is_refused(
    deployed: Deployed, own_function: str
) -> None:
    attached = deployed.client("lambda").get_function_code_signing_config(FunctionName=own_function)
    assert attached["CodeSigningConfigArn"] == deployed["code_signing_config_arn"]

    with pytest.raises(ClientError) as caught:
        created = new_function(
            deployed, {"S3Bucket": deployed["function_code_bucket_name"], "S3Key": unsigned_key(TARGET)}
        )
        deployed.client("lambda").delete_function(FunctionName=created["FunctionName"])
    assert_code_verification_failed(caught.value, "was not written by a signing job")


def function_references(deployed: Deployed, name: str) -> dict[str, str]:
    """Every way UpdateFunctionCode may name one function (Lambda API reference, ``FunctionName``)."""
    account, region = deployed["account_id"], deployed["region"]
    return {
        "name": name,
        "arn": f"arn:aws:lambda:{region}:{account}:function:{name}",
        "partial arn": f"{account}:function:{name}",
        "account and name": f"{account}:{name}",
    }


@pytest.mark.parametrize("form", ["name", "arn", "partial arn", "account and name"])
def test_code_uploaded_directly_is_refused_however_the_function_is_named(
    deployed: Deployed, own_function: str, form: str
) -> None:
    function = function_references(deployed, own_function)[form]
    error = refused(deployed, function, ZipFile=tiny_zip("def handler(event, context):\n    return 'unsigned'\n"))
    assert_code_verification_failed(error, "not an object signed by AWS Signer")


def test_the_unsigned_upload_itself_is_refused(deployed: Deployed, own_function: str) -> None:
    error = refused(deployed, own_function, S3Bucket=deployed["function_code_bucket_name"], S3Key=unsigned_key(TARGET))
    assert_code_verification_failed(error, "was not written by a signing job")


def test_code_signed_by_a_profile_the_config_does_not_allow_is_refused(
    deployed: Deployed, own_function: str, other_profile: str
) -> None:
    job = sign(deployed, other_profile, TARGET, prefix=f"e2e-other-profile/{uuid.uuid4().hex}/")
    signed = job["signedObject"]["s3"]
    error = refused(deployed, own_function, S3Bucket=signed["bucketName"], S3Key=signed["key"])
    assert_code_verification_failed(error, "not an allowed publisher")


def test_signed_code_altered_after_signing_is_refused(deployed: Deployed, own_function: str) -> None:
    job = sign(deployed, deployed["signing_profile_name"], TARGET, prefix=f"e2e-altered/{uuid.uuid4().hex}/")
    signed = job["signedObject"]["s3"]
    altered = tiny_zip("STOLEN = True\n")
    deployed.client("s3").put_object(Bucket=signed["bucketName"], Key=signed["key"], Body=altered)

    error = refused(deployed, own_function, S3Bucket=signed["bucketName"], S3Key=signed["key"])
    assert_code_verification_failed(error, "changed after signing")
