"""The e2e suite runs against the system `make localstack-deploy` applied to host-mode LocalStack.

It finds everything through ``build/localstack/outputs.json`` (or ``PAYGATE_E2E_OUTPUTS``). No
deployment, or a LocalStack that does not answer, fails the whole session with that message: these
tests never skip.

The tests run concurrently (pytest-xdist, ``-n N --dist loadgroup``; ``make localstack-e2e`` does). Each one
works on its own merchant, idempotency keys and batch file names; what they share is held apart here:

- two parts of the deployment are changed by a test for a while, each behind a readers-writer lock
  (``support.DeploymentLock``): the API path (the API handler's environment and reserved concurrency, and its
  whole capacity during the twenty-request burst: the ``api_path`` fixture) and the workflow's task function (its
  reserved concurrency: ``workflow_tasks``). A test that changes a part asks for its fixture, holds the write lock
  while the change lasts and takes its read locks itself. Every other test that calls the API (``api`` or
  ``callers``) holds the API path's read lock, and every test marked ``awaits_workflow`` (it waits for a payment's
  Step Functions execution to finish; only the API starts one, batch payments never do) the workflow's, for its
  whole run. So a throttled task function holds back only the tests that wait for a workflow, and a changed
  API handler only those that call the API: the rest run meanwhile. A waiting writer closes a turnstile that
  new readers pass through, so it is not starved by a stream of readers;
- the order (``pytest_collection_modifyitems``): the tests that change a part first, then those that depend on
  neither part (they run beside the changes), then the API's readers, then the workflow's readers;
- the tests that send to the payment queue (batch files) and the poison message test, which shortens that
  queue's visibility and counts its consumer's runs, share one xdist group (``support.PAYMENT_QUEUE``): one worker
  runs them one after another, the poison message first (``@pytest.mark.first_in_group``: it waits on the
  queue, not on a workflow, so it runs while the task function may be throttled);
- payment events on the notifications queue go to one inbox file all workers read (``Inbox``), so a worker
  never deletes another one's events unseen.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fasteners
import pytest

from tests import aws_clients
from tests.localstack import support
from tests.localstack.support import Api, Callers, Deployed, DeploymentLock

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


@pytest.fixture
def callers(deployed: Deployed) -> Iterator[Callers]:
    """Makes callers of merchants of their own for one test (``callers.new()``); revoked and deleted after it."""
    base = deployed.target.api_base(deployed["api_id"], deployed["api_stage"], deployed["api_endpoint"])
    made = Callers(deployed, base)
    yield made
    made.close()


@pytest.fixture
def api(callers: Callers) -> Api:
    """The API as the only caller of a merchant of this test's own (``api.merchant_id``)."""
    return callers.new()


@pytest.fixture(scope="session")
def tables(deployed: Deployed) -> dict[str, Any]:
    dynamodb = deployed.resource("dynamodb")
    purposes = ("payments", "audit", "batches", "idempotency")
    found = {purpose: dynamodb.Table(deployed[f"{purpose}_table_name"]) for purpose in purposes}
    for table in found.values():
        assert table.table_status == "ACTIVE", table.name
    return found


FIRST_IN_GROUP = "first_in_group"  # marker: runs before the other tests of its xdist group
AWAITS_WORKFLOW = support.AWAITS_WORKFLOW.name  # marker: holds the workflow-tasks read lock for its whole run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{FIRST_IN_GROUP}: run before the other tests of its xdist group")
    config.addinivalue_line("markers", f"{AWAITS_WORKFLOW}: waits for a payment's Step Functions execution")


CHANGES = ("api_path", "workflow_tasks")  # the fixtures of the tests that change a part of the deployment


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order the module docstring gives (xdist hands the tests out in this order; a group keeps it)."""

    def rank(item: pytest.Item) -> int:
        fixtures = getattr(item, "fixturenames", ())
        if item.get_closest_marker(FIRST_IN_GROUP) or any(name in fixtures for name in CHANGES):
            return 0
        if item.get_closest_marker(AWAITS_WORKFLOW):
            return 3
        return 2 if "callers" in fixtures else 1

    items.sort(key=rank)  # stable: order kept otherwise


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory of this run that every xdist worker sees (the controller's basetemp; pytest-xdist docs)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture
def api_path(shared_dir: Path) -> DeploymentLock:
    """For a test that changes the API handler: it takes ``write()`` around the change and ``read()`` itself."""
    return DeploymentLock(shared_dir, "api-path")


@pytest.fixture
def workflow_tasks(shared_dir: Path) -> DeploymentLock:
    """For a test that changes the workflow's task function (or must order its locks itself): it takes ``write()``
    around the change and ``read()`` itself."""
    return DeploymentLock(shared_dir, "workflow-tasks")


@pytest.fixture(autouse=True)
def deployment_readers(request: pytest.FixtureRequest, shared_dir: Path) -> Iterator[None]:
    """The read locks of a test that asks for neither ``api_path`` nor ``workflow_tasks`` (one that does takes all its
    locks itself, in the order below): the workflow's for an ``awaits_workflow`` test, then the API path's for a test
    that calls the API (``api``, or callers of its own from ``callers``)."""
    fixtures = request.fixturenames
    with contextlib.ExitStack() as held:
        if not any(name in fixtures for name in CHANGES):  # a test that changes a part takes every lock itself
            if request.node.get_closest_marker(AWAITS_WORKFLOW):
                held.enter_context(DeploymentLock(shared_dir, "workflow-tasks").read())
            if "callers" in fixtures:
                held.enter_context(DeploymentLock(shared_dir, "api-path").read())
        yield


@pytest.fixture(scope="session")
def notifications(deployed: Deployed, shared_dir: Path) -> Iterator[Inbox]:
    inbox = Inbox(deployed.client("sqs"), deployed["notification_queue_url"], shared_dir / "notifications.jsonl")
    yield inbox


class Inbox:
    """Payment events as they reach the notifications queue (SNS raw delivery), kept across tests and workers.

    Whoever drains the queue appends what it received to one file (under an inter-process lock) before it
    deletes the messages, and every worker reads all events from that file.
    """

    def __init__(self, sqs: Any, url: str, store: Path) -> None:
        self.sqs = sqs
        self.url = url
        self.store = store
        self.lock = fasteners.InterProcessLock(store.with_suffix(".lock"))

    def drain(self) -> list[dict[str, Any]]:
        with self.lock:
            answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = answer.get("Messages", [])
            with self.store.open("a", encoding="utf-8") as kept:
                kept.writelines(json.dumps(json.loads(message["Body"])) + "\n" for message in messages)
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            if not self.store.is_file():
                return []
            return [json.loads(line) for line in self.store.read_text(encoding="utf-8").splitlines()]

    def of(self, payment_id: str) -> list[dict[str, Any]]:
        return [event for event in self.drain() if event.get("payment_id") == payment_id]
