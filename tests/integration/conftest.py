"""The post-deploy suite's options and session fixtures (loading: tests/integration/deployment.py).

No target, or a target that does not answer as the deployment it claims to be, fails every test with
one message (the ``deployment`` fixture is autouse): this suite never skips.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from stacks import constants
from tests.aws_clients import LOCALSTACK
from tests.integration.deployment import Deployment, NoTarget, Options, load
from tests.integration.system import System
from tests.localstack.support import Api, Callers, Deployed, unique

OPTIONS = ("outputs", "target", "endpoint", "region", "account_id", "profile", "artifact", "environment")
HEALTH_TIMEOUT_S = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paygate integration", "the deployed environment the post-deploy suite checks")
    group.addoption("--outputs", help="terraform output -json of the environment (or a flat {name: value} map)")
    group.addoption("--target", help="localstack or aws")
    group.addoption("--endpoint", help="LocalStack endpoint, http://<host>:<port> (localstack targets)")
    group.addoption("--region", help="AWS region (aws targets; a localstack target defaults to the artifact's)")
    group.addoption("--account-id", dest="account_id", help="LocalStack account id (12 digits) the fake key names")
    group.addoption("--profile", help="AWS profile (aws targets; default: boto3's credential chain)")
    group.addoption("--artifact", help="the synthesized stack directory that was applied (holds cdk.tf.json)")
    group.addoption("--environment", help="the environment the outputs and artifact must belong to")


def options_of(config: pytest.Config) -> Options:
    return Options(**{name: config.getoption(name) for name in OPTIONS})


@pytest.fixture(scope="session", autouse=True)
def deployment(pytestconfig: pytest.Config) -> Deployment:
    try:
        found = load(options_of(pytestconfig))
        preflight(found)
    except NoTarget as error:
        pytest.fail(f"integration suite has no usable target: {error}", pytrace=False)
    return found


def preflight(deployment: Deployment) -> None:
    """The target answers, and its credentials are of the account the deployment lives in; NoTarget otherwise."""
    target = deployment.target
    if target.kind == LOCALSTACK:
        try:
            with urllib.request.urlopen(f"{target.endpoint}/_localstack/health", timeout=HEALTH_TIMEOUT_S) as answer:
                json.loads(answer.read())
        except (OSError, ValueError) as error:
            raise NoTarget(f"LocalStack does not answer at {target.endpoint} ({error})") from None
    try:
        account = target.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:  # no, expired or refused credentials; endpoint unreachable
        raise NoTarget(f"the credentials for {target.describe()} do not work: {error}") from None
    if account != deployment.account_id:
        raise NoTarget(
            f"the credentials for {target.describe()} are of account {account}, "
            f"but the deployment lives in account {deployment.account_id}"
        )


@pytest.fixture(scope="session")
def system(deployment: Deployment) -> System:
    return System(deployment)


@pytest.fixture(scope="session")
def deployed(deployment: Deployment) -> Deployed:
    """The e2e suite's view of the same deployment (its polling helpers work on any target)."""
    return Deployed(deployment.outputs, deployment.target)


@pytest.fixture
def api(deployment: Deployment, deployed: Deployed) -> Iterator[Api]:
    """The payments API as the caller of a merchant of its own (``api.merchant_id``, ``m_integ…``), bound by the
    admin command's code and revoked (its key deleted) after the test. Requests are SigV4-signed (the methods use
    AWS_IAM); on AWS, where that is enforced, the signing principal is bound to the same merchant for the test."""
    outputs, target = deployment.outputs, deployment.target
    base = target.api_base(
        outputs[constants.OUTPUT_API_ID], outputs[constants.OUTPUT_API_STAGE], outputs[constants.OUTPUT_API_ENDPOINT]
    )
    principal = target.client("sts").get_caller_identity()["Arn"] if target.kind == "aws" else None
    callers = Callers(deployed, base, sign=target.sign, principal_arn=principal)
    yield callers.new(unique("m_integ"))
    callers.close()


@pytest.fixture(scope="session")
def key_arn(deployment: Deployment) -> str:
    return str(deployment.outputs[constants.OUTPUT_KMS_KEY_ARN])


@pytest.fixture(scope="session")
def tables(deployment: Deployment) -> dict[str, Any]:
    """The four tables by purpose (payments, audit, batches, idempotency) as boto3 Table resources."""
    dynamodb = deployment.target.resource("dynamodb")
    outputs = {
        "payments": constants.OUTPUT_PAYMENTS_TABLE,
        "audit": constants.OUTPUT_AUDIT_TABLE,
        "batches": constants.OUTPUT_BATCHES_TABLE,
        "idempotency": constants.OUTPUT_IDEMPOTENCY_TABLE,
    }
    return {purpose: dynamodb.Table(deployment.outputs[output]) for purpose, output in outputs.items()}


@pytest.fixture(scope="session")
def batch_bucket(deployment: Deployment) -> str:
    return str(deployment.outputs[constants.OUTPUT_BATCH_BUCKET])
