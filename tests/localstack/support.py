"""Helpers of the e2e suite: the deployed system's outputs, clients, the API, polling with deadlines."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fasteners
import pytest
from jsonschema import Draft4Validator

from contracts import validator
from pipeline.build import artifact
from pipeline.merchants import Deployment, MerchantAdmin, principal
from tests import aws_clients

# The tests that send to the payment queue or reconfigure it: one xdist worker runs them one after another.
PAYMENT_QUEUE = pytest.mark.xdist_group("payment-queue")
# A test that waits for a payment's Step Functions execution to finish: it holds the workflow-tasks read lock
# (conftest.py), so it never runs while a test throttles the workflow's task function.
AWAITS_WORKFLOW = pytest.mark.awaits_workflow
LOCK_DEADLINE_S = 600.0  # a lock not granted by then fails the test (a writer never left, or a deadlock)
DEFAULT_DEADLINE_S = 60.0
POLL_S = 0.25


class Deadline(AssertionError):
    """What we waited for did not happen in time (the message says what, and what was last seen)."""


def poll[T](what: str, probe: Callable[[], T | None], deadline_s: float = DEFAULT_DEADLINE_S) -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` and the last value after the deadline."""
    end = time.monotonic() + deadline_s
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > end:
            raise Deadline(f"{what}: not seen within {deadline_s:.0f} s (last: {last!r})")
        time.sleep(POLL_S)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def merchant() -> str:
    """A merchant id of its own for one test (the contract: m_ + 6-32 lowercase letters/digits)."""
    return unique("m_e2e")


def assert_contract(schema: str, instance: Any) -> None:
    """Fail with every violation when ``instance`` does not match the named contract."""
    check: Draft4Validator = validator(schema)
    errors = sorted(check.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    assert not errors, f"{schema} contract violated: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors
    )


@dataclass(frozen=True)
class Deployed:
    """A deployed system: its flat outputs (``build/localstack/outputs.json`` written by ``make
    localstack-deploy``, or an environment's ``terraform output -json``) and the target it runs on."""

    outputs: Mapping[str, Any]
    target: aws_clients.Target

    def __getitem__(self, name: str) -> Any:
        assert name in self.outputs, f"the deployment has no output {name!r} (outputs: {sorted(self.outputs)})"
        return self.outputs[name]

    @property
    def endpoint(self) -> str:
        return str(self["localstack_endpoint"])

    def function_name(self, role: str) -> str:
        """A function's physical name (``paygate-<env>-<role>``), from the prefix the tables share."""
        return str(self["payments_table_name"]).removesuffix("payments") + role

    def execution_arn(self, name: str) -> str:
        """The ARN of the state machine's execution ``name`` (the api handler names it after the payment)."""
        return str(self["state_machine_arn"]).replace(":stateMachine:", ":execution:") + f":{name}"

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=self["state_machine_arn"])
        return [execution for page in pages for execution in page["executions"]]

    def finished_execution(self, name: str) -> dict[str, Any]:
        """The execution once it has left RUNNING (polled with the default deadline)."""
        sfn, arn = self.client("stepfunctions"), self.execution_arn(name)
        return poll(
            f"workflow execution {name} to finish",
            lambda: (found := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and found,
        )

    def resource(self, service: str) -> Any:
        return self.target.resource(service)

    def client(self, service: str) -> Any:
        return self.target.client(service)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


# (method, url, headers, body) -> the headers with a request signature (``aws_clients.Target.sign``).
Signer = Callable[[str, str, dict[str, str], bytes | None], dict[str, str]]


@dataclass
class Api:
    """The REST API at ``base`` (``aws_clients.Target.api_base``: LocalStack's path-style URL or AWS's invoke
    URL) as the caller of ``merchant_id``; requests carry its API key and, with ``sign``, a SigV4 signature
    (methods with AWS_IAM auth)."""

    base: str
    api_key: str
    merchant_id: str = ""
    sent: list[Response] = field(default_factory=list)
    sign: Signer | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        with_key: bool = True,
    ) -> Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if with_key:
            all_headers["x-api-key"] = self.api_key
        if self.sign is not None:
            all_headers = self.sign(method, self.base + path, all_headers, body)
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                response = Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            response = Response(error.code, dict(error.headers), error.read())
        self.sent.append(response)
        return response

    def create(self, payment: Mapping[str, Any] | bytes, key: str | None = None, **kwargs: Any) -> Response:
        body = payment if isinstance(payment, bytes) else json.dumps(payment).encode()
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.request("POST", "/payments", body, headers=headers, **kwargs)

    def get(self, payment_id: str) -> Response:
        return self.request("GET", f"/payments/{payment_id}")


class Callers:
    """Callers of merchants of their own, bound as an operator binds them (``pipeline.merchants``, the code of
    ``python -m pipeline merchant-bind``): a new API key in the stage's usage plan, bound to a new merchant; with
    ``principal_arn`` (AWS, where AWS_IAM is enforced) the signing principal is bound to it too. ``close()``
    revokes every binding made and deletes the keys."""

    def __init__(
        self, deployed: Deployed, base: str, sign: Signer | None = None, principal_arn: str | None = None
    ) -> None:
        self.admin = MerchantAdmin(
            Deployment.from_outputs(deployed.outputs),
            dynamodb=deployed.resource("dynamodb"),
            apigateway=deployed.client("apigateway"),
        )
        self.base, self.sign, self.principal_arn = base, sign, principal_arn
        self.made: list[str] = []

    def new(self, merchant_id: str | None = None) -> Api:
        """The API as the only caller of ``merchant_id`` (default: a new merchant)."""
        merchant_id = merchant_id or merchant()
        binding = self.admin.bind_new_api_key(merchant_id, name_prefix="e2e", bound_by="tests")
        assert binding.api_key_id and binding.api_key_value, binding
        self.made.append(binding.caller_id)
        if self.principal_arn is not None:
            self.made.append(self.admin.bind(principal(self.principal_arn), merchant_id, bound_by="tests").caller_id)
        return Api(base=self.base, api_key=binding.api_key_value, merchant_id=merchant_id, sign=self.sign)

    def close(self) -> None:
        for caller_id in reversed(self.made):
            self.admin.revoke(caller_id, delete_api_key=True)
        self.made.clear()


REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = REPO_ROOT / "cdktf.out" / "stacks" / "paygate"  # what `make localstack-e2e` synthesizes and deploys


def deployed_stack(deployed: Deployed) -> dict[str, Any]:
    """The synthesized configuration (cdk.tf.json) of the artifact that was deployed: the test fails if the stack
    directory holds another one (its digest is not the deployment's ``artifact_sha256``)."""
    assert artifact.digest(STACK_DIR).sha256 == deployed["artifact_sha256"], f"{STACK_DIR} is not what was deployed"
    document: dict[str, Any] = json.loads((STACK_DIR / artifact.STACK_FILE).read_text(encoding="utf-8"))
    return document


def set_environment(deployed: Deployed, name: str, variables: dict[str, str]) -> None:
    """Replace a function's environment and wait until Lambda runs the new configuration."""
    lambda_ = deployed.client("lambda")
    lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    poll(
        f"{name}'s configuration update",
        lambda: lambda_.get_function_configuration(FunctionName=name).get("LastUpdateStatus") == "Successful",
        deadline_s=30,
    )


def create_while_the_workflow_cannot_start(
    deployed: Deployed, api: Api, api_path: DeploymentLock, request: Mapping[str, Any], key: str
) -> Response:
    """POST the payment while the API handler points at a state machine that does not exist (a permanent
    StartExecution failure), under the API path's write lock (no other test's request meets that handler); the
    handler's environment is put back before the lock is released."""
    name = deployed.function_name("api-handler")
    lambda_ = deployed.client("lambda")
    variables = dict(lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    with api_path.write():
        set_environment(deployed, name, {**variables, "STATE_MACHINE_ARN": deployed["state_machine_arn"] + "-missing"})
        try:
            return api.create(request, key=key)
        finally:
            set_environment(deployed, name, variables)


def payments_of(tables: Mapping[str, Any], merchant_id: str) -> list[dict[str, Any]]:
    """Every stored payment of one merchant (the payments table's by-merchant index)."""
    answer = tables["payments"].query(
        IndexName="by-merchant",
        KeyConditionExpression="merchant_id = :m",
        ExpressionAttributeValues={":m": merchant_id},
    )
    return list(answer["Items"])


def execution_names(deployed: Deployed) -> set[str]:
    return {str(execution["name"]) for execution in deployed.executions()}


def foreign_executions(deployed: Deployed, tables: Mapping[str, Any], before: set[str], merchant_id: str) -> list[str]:
    """Workflow executions started since ``before`` (names) that are not another merchant's stored payment.

    A refused request must start no workflow. Other tests run beside it (pytest-xdist) and start theirs, each
    named after its stored payment (the api handler names the execution after the payment); any other new
    execution, or one of ``merchant_id``'s payments, is what the refused request may have started.
    """
    found = []
    for name in sorted(execution_names(deployed) - before):
        stored = tables["payments"].get_item(Key={"payment_id": name}, ConsistentRead=True).get("Item")
        if stored is None or stored.get("merchant_id") == merchant_id:
            found.append(name)
    return found


def payment_request(merchant_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchant_id": merchant_id,
        "reference": unique("ref-"),
        "amount": 1250,
        "currency": "EUR",
        "description": "e2e order",
    }
    body.update(overrides)
    return body


class DeploymentLock:
    """Readers-writer lock over one part of the deployment, across xdist workers (fcntl locks, fasteners),
    write-preferring through a turnstile.

    ``name`` is the part: ``api-path`` (the API handler's configuration) or ``workflow-tasks`` (the workflow task
    function's). A test that changes the part holds ``write()`` while the change lasts; a test whose result
    depends on it holds ``read()``. A reader passes the turnstile, then takes the shared lock; a writer holds
    the turnstile until it has the exclusive lock (so readers arriving meanwhile wait behind it). Each wait fails
    the test after ``LOCK_DEADLINE_S``. A test that takes both takes ``workflow-tasks`` first (one order, so two
    tests never wait on each other).
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.turnstile = fasteners.InterProcessLock(directory / f"{name}.turnstile")
        self.lock = fasteners.InterProcessReaderWriterLock(directory / f"{name}.lock")

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        granted(self.turnstile.acquire(timeout=LOCK_DEADLINE_S), f"the {self.name} turnstile")
        self.turnstile.release()
        granted(self.lock.acquire_read_lock(timeout=LOCK_DEADLINE_S), f"the {self.name} read lock")
        try:
            yield
        finally:
            self.lock.release_read_lock()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        granted(self.turnstile.acquire(timeout=LOCK_DEADLINE_S), f"the {self.name} turnstile")
        try:
            granted(self.lock.acquire_write_lock(timeout=LOCK_DEADLINE_S), f"the {self.name} write lock")
        finally:
            self.turnstile.release()
        try:
            yield
        finally:
            self.lock.release_write_lock()


def granted(acquired: bool, what: str) -> None:
    if not acquired:
        pytest.fail(f"{what} was not granted within {LOCK_DEADLINE_S:.0f} s", pytrace=False)
