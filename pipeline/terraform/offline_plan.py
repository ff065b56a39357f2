"""Offline ``terraform plan`` of a synthesized stack: a copy of the stack dir, override files, a local stub.

The provider asks STS for the caller identity during plan (``data.aws_caller_identity``, and to hold the
credentials to the stack's ``allowed_account_ids``: the stub answers with the account the stack declares,
so the check runs here as it will on AWS; the plan runs in the stack's own region), for a fully
known definition ``states:ValidateStateMachineDefinition``, and KMS for the key data sources
(``data.aws_kms_alias``/``data.aws_kms_key``: ``ListAliases``, ``DescribeKey``); a local stub answers
them. (moto's server needs ``moto[server]``/flask, which the locked environment does not hold, and moto
has no handler for the validation call, so the stub is a few lines of ``http.server``.) The synthesized
artifact is never touched: the overrides go into a copy.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.runner import run
from pipeline.core.settings import Settings

STACK_FILE = "cdk.tf.json"
LOCK_FILE = ".terraform.lock.hcl"
# Stub services the provider calls during plan; everything else is never reached for new resources.
STUB_SERVICES = ("sts", "sfn", "kms")
FAKE_CREDENTIALS = "test"
PLAN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class PlanRequest:
    """What to plan and where: ``work_dir`` is recreated from ``stack_dir`` on every run.

    ``region``: None plans in the region the stack's provider declares (set it only to plan elsewhere).
    """

    stack_dir: Path
    work_dir: Path
    lock_file: Path
    cli_config: Path
    terraform: Path
    region: str | None = None


@dataclass(frozen=True)
class StackTarget:
    """Where a synthesized stack says it deploys: its default AWS provider's region and allowed account.

    Either is None when the provider does not declare it (``allowed_account_ids`` must then hold exactly one
    account to name it: a stack of one environment lives in one account).
    """

    region: str | None
    account_id: str | None


def stack_target(stack_dir: Path) -> StackTarget:
    """Read ``provider.aws`` of ``<stack_dir>/cdk.tf.json``: the configuration without an alias.

    Raises PipelineError when the file is missing or not JSON, or when ``allowed_account_ids`` is not a
    list of one 12-digit account id.
    """
    path = stack_dir / STACK_FILE
    try:
        stack = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PipelineError(f"{path} cannot be read ({error}): synthesize the stack first.") from None
    providers = stack.get("provider", {}).get("aws", [])
    default = next((p for p in providers if isinstance(p, dict) and "alias" not in p), {})
    region = default.get("region")
    accounts = default.get("allowed_account_ids")
    if accounts is None:
        return StackTarget(region if isinstance(region, str) else None, None)
    if not (isinstance(accounts, list) and len(accounts) == 1 and _is_account_id(accounts[0])):
        raise PipelineError(
            f"{path}: the AWS provider's allowed_account_ids {accounts!r} is not one 12-digit account id "
            "(an environment lives in one account)"
        )
    return StackTarget(region if isinstance(region, str) else None, accounts[0])


def _is_account_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit()


# The account the stub answers for a stack that declares none (the policy pack's fixtures).
STUB_ACCOUNT = "123456789012"
STUB_REGION = "us-east-1"  # of the stub's KMS ARNs (the plan never compares them with the stack's region)


def caller_identity(account_id: str) -> str:
    """STS ``GetCallerIdentity``'s XML answer for ``account_id``."""
    return (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        f"<Arn>arn:aws:iam::{account_id}:user/plan-stub</Arn><UserId>AIDAPLANSTUB</UserId>"
        f"<Account>{account_id}</Account></GetCallerIdentityResult>"
        "<ResponseMetadata><RequestId>plan-stub</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
    )


VALIDATION_OK = '{"result": "OK", "diagnostics": [], "truncated": false}'
# alias/aws/<service> names an AWS-managed key (AWS reserves the prefix); every other alias or id a customer one.
AWS_MANAGED_ALIASES = tuple(f"alias/aws/{s}" for s in ("s3", "sqs", "sns", "dynamodb", "lambda", "logs", "ebs"))


def _stub_key_id(alias: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"paygate-plan-stub:{alias}"))


AWS_MANAGED_KEY_IDS = {_stub_key_id(alias): alias for alias in AWS_MANAGED_ALIASES}


def kms_key(key: str, account_id: str = STUB_ACCOUNT) -> dict[str, object]:
    """``KeyMetadata`` of the stub's key in ``account_id`` named by an alias, a key id or a key ARN (fixed ids).

    An ``alias/aws/...`` name and the ids the stub gives those aliases are AWS-managed keys, anything else a
    customer-managed one.
    """
    name = key.rsplit(":", 1)[-1] if key.startswith("arn:") else key
    key_id = _stub_key_id(name) if name.startswith("alias/") else name.removeprefix("key/")
    managed = name.startswith("alias/aws/") or key_id in AWS_MANAGED_KEY_IDS
    return {
        "AWSAccountId": account_id,
        "KeyId": key_id,
        "Arn": f"arn:aws:kms:{STUB_REGION}:{account_id}:key/{key_id}",
        "Enabled": True,
        "KeyState": "Enabled",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "Origin": "AWS_KMS",
        "KeyManager": "AWS" if managed else "CUSTOMER",
        "MultiRegion": False,
        "CreationDate": 1700000000,
        "Description": "",
    }


def kms_answer(target: str, body: str, account_id: str = STUB_ACCOUNT) -> str | None:
    """The stub's JSON answer to a KMS read the key data sources make during plan, or None."""
    request = json.loads(body or "{}")
    if target.endswith(".DescribeKey"):
        return json.dumps({"KeyMetadata": kms_key(str(request.get("KeyId", "")), account_id)})
    if target.endswith(".ListAliases"):
        aliases = [
            {
                "AliasName": name,
                "AliasArn": f"arn:aws:kms:{STUB_REGION}:{account_id}:{name}",
                "TargetKeyId": _stub_key_id(name),
            }
            for name in AWS_MANAGED_ALIASES
        ]
        return json.dumps({"Aliases": aliases, "Truncated": False})
    return None


class _StubHandler(BaseHTTPRequestHandler):
    """Answers the calls the provider makes during plan; anything else is a 400 the plan reports.

    HTTP/1.1 with Content-Length keeps connections alive as the provider's Go client expects: under
    HTTP/1.0 the stub closed each connection after its answer, and a plan reading many KMS data sources
    at once lost answers on a reused connection ("use of closed network connection").
    """

    protocol_version = "HTTP/1.1"
    server: _StubServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace")
        target = self.headers.get("X-Amz-Target", "")
        account = self.server.account_id
        if "Action=GetCallerIdentity" in body:
            self._answer(200, "text/xml", caller_identity(account))
        elif target.endswith("ValidateStateMachineDefinition"):
            self._answer(200, "application/x-amz-json-1.0", VALIDATION_OK)
        elif target.startswith("TrentService.") and (answer := kms_answer(target, body, account)) is not None:
            self._answer(200, "application/x-amz-json-1.1", answer)
        else:
            self._answer(400, "text/plain", f"plan stub does not answer {target or body[:80]!r}")

    def _answer(self, status: int, content_type: str, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the plan's own output says what failed."""


class _StubServer(ThreadingHTTPServer):
    """The stub's server: the account its STS and KMS answers are in."""

    def __init__(self, account_id: str) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.account_id = account_id


@contextmanager
def plan_stub(account_id: str = STUB_ACCOUNT) -> Iterator[str]:
    """Serve the plan-time calls on a free local port, as credentials of ``account_id`` would see them.

    STS GetCallerIdentity (answering ``account_id``), SFN ValidateStateMachineDefinition and the KMS key
    reads; yields the URL.
    """
    server = _StubServer(account_id)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def overrides(endpoint: str, state_path: Path, region: str | None = None) -> dict[str, dict[str, object]]:
    """The override files (name -> content) that make the copy plan offline against ``endpoint``.

    ``region``: None keeps the stack's own. ``allowed_account_ids`` is never overridden: the stub answers
    with the stack's account, so the provider's check holds (or fails) as it would on AWS.
    """
    provider: dict[str, object] = {
        "access_key": FAKE_CREDENTIALS,
        "secret_key": FAKE_CREDENTIALS,
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        # The stub is local: a retry costs milliseconds. Several reads at once (KMS data sources of many
        # fixture modules) occasionally lost an answer on a reused connection; a refused call (400) is not
        # retried by the SDK, so this cannot hang a plan.
        "max_retries": 4,
        "endpoints": [dict.fromkeys(STUB_SERVICES, endpoint)],
    }
    if region is not None:
        provider["region"] = region
    return {
        "backend_override.tf.json": {"terraform": {"backend": {"local": {"path": str(state_path)}}}},
        "provider_override.tf.json": {"provider": {"aws": [provider]}},
    }


def prepare(request: PlanRequest, endpoint: str) -> Path:
    """Copy the stack (without ``.terraform`` or earlier overrides) and write the overrides; returns the copy."""
    if not (request.stack_dir / STACK_FILE).is_file():
        raise PipelineError(f"{request.stack_dir / STACK_FILE} does not exist: synthesize the stack first.")
    if request.work_dir.exists():
        shutil.rmtree(request.work_dir)
    shutil.copytree(
        request.stack_dir,
        request.work_dir,
        ignore=shutil.ignore_patterns(".terraform", "*_override.tf.json", "*.tfstate*", "tfplan"),
    )
    shutil.copyfile(request.lock_file, request.work_dir / LOCK_FILE)
    state = request.work_dir / "terraform.tfstate"
    # The stack's own region unless the request names one; a stack without any plans in the stub's.
    region = request.region or (None if stack_target(request.stack_dir).region else STUB_REGION)
    for name, content in overrides(endpoint, state, region).items():
        (request.work_dir / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return request.work_dir


def plan_json(request: PlanRequest, out: Path, settings: Settings) -> Path:
    """Plan the copied stack offline and write ``terraform show -json`` of the plan to ``out``.

    The stub answers as the account the stack declares (``allowed_account_ids``), else as :data:`STUB_ACCOUNT`.
    """
    if not (request.stack_dir / STACK_FILE).is_file():
        raise PipelineError(f"{request.stack_dir / STACK_FILE} does not exist: synthesize the stack first.")
    account = stack_target(request.stack_dir).account_id or STUB_ACCOUNT
    with plan_stub(account) as endpoint:
        work = prepare(request, endpoint)
        env = settings.child_env(
            TF_CLI_CONFIG_FILE=str(request.cli_config),
            AWS_ACCESS_KEY_ID=FAKE_CREDENTIALS,
            AWS_SECRET_ACCESS_KEY=FAKE_CREDENTIALS,
            AWS_EC2_METADATA_DISABLED="true",
        )
        tf = str(request.terraform)
        init = [tf, "init", "-input=false", "-lockfile=readonly", "-no-color", "-reconfigure"]
        run(init, env=env, cwd=work, check=f"terraform init in {work}", timeout=PLAN_TIMEOUT_S)
        plan = [tf, "plan", "-input=false", "-refresh=false", "-lock=false", "-no-color", "-out=tfplan"]
        run(plan, env=env, cwd=work, check=f"terraform plan in {work}", timeout=PLAN_TIMEOUT_S)
    shown = run(
        [tf, "show", "-json", "tfplan"], env=env, cwd=work, check="terraform show -json", timeout=PLAN_TIMEOUT_S
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(shown.stdout, encoding="utf-8")
    return out
