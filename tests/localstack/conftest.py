"""The e2e suite runs against the system `make localstack-deploy` applied to host-mode LocalStack.

It finds everything through ``build/localstack/outputs.json`` (or ``PAYGATE_E2E_OUTPUTS``). No
deployment, or a LocalStack that does not answer, fails the whole session with that message: these
tests never skip.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import aws_clients
from tests.localstack.support import Api, Deployed

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = Path(os.environ.get("PAYGATE_E2E_OUTPUTS", REPO_ROOT / "build" / "localstack" / "outputs.json"))


@pytest.fixture(scope="session")
def deployed() -> Deployed:
    if not OUTPUTS.is_file():
        pytest.fail(
            f"no deployment outputs at {OUTPUTS}: LocalStack is not deployed; run `make localstack-e2e` "
            "(or `make localstack-deploy` before running this suite)",
            pytrace=False,
        )
    outputs = json.loads(OUTPUTS.read_text(encoding="utf-8"))
    target = aws_clients.Target.localstack(
        outputs["localstack_endpoint"], outputs["region"], str(outputs["account_id"])
    )
    found = Deployed(outputs, target)
    try:
        with urllib.request.urlopen(f"{found.endpoint}/_localstack/health", timeout=5) as answer:
            health = json.loads(answer.read())
    except OSError as error:
        pytest.fail(
            f"LocalStack is not reachable at {found.endpoint} ({error}): start it with `make localstack-deploy`",
            pytrace=False,
        )
    broken = {name: state for name, state in health.get("services", {}).items() if state == "error"}
    assert not broken, f"LocalStack services in error: {broken}"
    # The suite's credentials name the environment's account (a 12-digit access key id): LocalStack must
    # act in that account, or every lookup below would miss the deployment.
    answered = found.client("sts").get_caller_identity()["Account"]
    assert answered == found["account_id"], (
        f"LocalStack answers account {answered} for credentials of {found['account_id']}: "
        "a 12-digit access key id is no longer taken as the account id"
    )
    return found


@pytest.fixture(scope="session")
def api(deployed: Deployed) -> Api:
    key = deployed.client("apigateway").get_api_key(apiKey=deployed["api_key_id"], includeValue=True)["value"]
    base = deployed.target.api_base(deployed["api_id"], deployed["api_stage"], deployed["api_endpoint"])
    return Api(base=base, api_key=key)


@pytest.fixture(scope="session")
def tables(deployed: Deployed) -> dict[str, Any]:
    dynamodb = deployed.resource("dynamodb")
    purposes = ("payments", "audit", "batches", "idempotency")
    found = {purpose: dynamodb.Table(deployed[f"{purpose}_table_name"]) for purpose in purposes}
    for table in found.values():
        assert table.table_status == "ACTIVE", table.name
    return found


LATE = "late"  # marker: runs after everything else


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LATE}: run after the other e2e tests")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(LATE) is not None)  # stable: order kept otherwise


@pytest.fixture(scope="session")
def notifications(deployed: Deployed) -> Iterator[Inbox]:
    inbox = Inbox(deployed.client("sqs"), deployed["notification_queue_url"])
    yield inbox


class Inbox:
    """Payment events as they reach the notifications queue (SNS raw delivery), kept across tests."""

    def __init__(self, sqs: Any, url: str) -> None:
        self.sqs = sqs
        self.url = url
        self.events: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            self.events.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return self.events

    def of(self, payment_id: str) -> list[dict[str, Any]]:
        return [event for event in self.drain() if event.get("payment_id") == payment_id]
