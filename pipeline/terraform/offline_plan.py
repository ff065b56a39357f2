"""Offline ``terraform plan`` of a synthesized stack: a copy of the stack dir, override files, a local stub.

The provider asks STS for the caller identity during plan (``data.aws_caller_identity``), for a fully
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
    """What to plan and where: ``work_dir`` is recreated from ``stack_dir`` on every run."""

    stack_dir: Path
    work_dir: Path
    lock_file: Path
    cli_config: Path
    terraform: Path
    region: str = "us-east-1"


STUB_ACCOUNT = "123456789012"
STUB_REGION = "us-east-1"  # of the stub's KMS ARNs (the plan never compares them with the stack's region)
CALLER_IDENTITY = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    f"<Arn>arn:aws:iam::{STUB_ACCOUNT}:user/plan-stub</Arn><UserId>AIDAPLANSTUB</UserId>"
    f"<Account>{STUB_ACCOUNT}</Account></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>plan-stub</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
)
VALIDATION_OK = '{"result": "OK", "diagnostics": [], "truncated": false}'
# alias/aws/<service> names an AWS-managed key (AWS reserves the prefix); every other alias or id a customer one.
AWS_MANAGED_ALIASES = tuple(f"alias/aws/{s}" for s in ("s3", "sqs", "sns", "dynamodb", "lambda", "logs", "ebs"))


def _stub_key_id(alias: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"paygate-plan-stub:{alias}"))


AWS_MANAGED_KEY_IDS = {_stub_key_id(alias): alias for alias in AWS_MANAGED_ALIASES}


def kms_key(key: str) -> dict[str, object]:
    """``KeyMetadata`` of the stub's key named by an alias, a key id or a key ARN (deterministic ids).

    An ``alias/aws/...`` name and the ids the stub gives those aliases are AWS-managed keys, anything else a
    customer-managed one.
    """
    name = key.rsplit(":", 1)[-1] if key.startswith("arn:") else key
    key_id = _stub_key_id(name) if name.startswith("alias/") else name.removeprefix("key/")
    managed = name.startswith("alias/aws/") or key_id in AWS_MANAGED_KEY_IDS
    return {
        "AWSAccountId": STUB_ACCOUNT,
        "KeyId": key_id,
        "Arn": f"arn:aws:kms:{STUB_REGION}:{STUB_ACCOUNT}:key/{key_id}",
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


def kms_answer(target: str, body: str) -> str | None:
    """The stub's JSON answer to a KMS read the key data sources make during plan, or None."""
    request = json.loads(body or "{}")
    if target.endswith(".DescribeKey"):
        return json.dumps({"KeyMetadata": kms_key(str(request.get("KeyId", "")))})
    if target.endswith(".ListAliases"):
        aliases = [
            {
                "AliasName": name,
                "AliasArn": f"arn:aws:kms:{STUB_REGION}:{STUB_ACCOUNT}:{name}",
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

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace")
        target = self.headers.get("X-Amz-Target", "")
        if "Action=GetCallerIdentity" in body:
            self._answer(200, "text/xml", CALLER_IDENTITY)
        elif target.endswith("ValidateStateMachineDefinition"):
            self._answer(200, "application/x-amz-json-1.0", VALIDATION_OK)
        elif target.startswith("TrentService.") and (answer := kms_answer(target, body)) is not None:
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


@contextmanager
def plan_stub() -> Iterator[str]:
    """Serve STS GetCallerIdentity and SFN ValidateStateMachineDefinition on a free local port; yields the URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def overrides(endpoint: str, state_path: Path, region: str) -> dict[str, dict[str, object]]:
    """The override files (name -> content) that make the copy plan offline against ``endpoint``."""
    provider = {
        "region": region,
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
    for name, content in overrides(endpoint, state, request.region).items():
        (request.work_dir / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return request.work_dir


def plan_json(request: PlanRequest, out: Path, settings: Settings) -> Path:
    """Plan the copied stack offline and write ``terraform show -json`` of the plan to ``out``."""
    with plan_stub() as endpoint:
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
