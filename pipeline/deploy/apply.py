"""Deploy the checked artifact to a running LocalStack with terraform, and destroy it again.

The synthesized stack directory is never changed: its artifact files are copied into the instance's run
directory, the copy's digest must equal the one the policy gate passed (``evidence.json``), and only
override files are added next to it: a local backend (state in the run directory, so it dies with the
instance), and provider settings that send every service to LocalStack with fake credentials. Why not
``tflocal``: it reads only ``*.tf`` files, misses the S3 backend in ``cdk.tf.json`` and wants HCL output.

The fake credentials act in the environment's own account: their access key id is the 12-digit account id
the artifact's provider allows (``allowed_account_ids``), which LocalStack takes as the account id
(docs.localstack.cloud, "Credentials": "You can specify a 12-digit number which will be taken by
LocalStack as the account ID"). So the provider's account check holds against LocalStack as on AWS, and
every ARN carries the environment's account.

The stack outputs are written as one flat JSON map, plus the LocalStack endpoint, the region, the account
and the artifact digest, to ``build/localstack/outputs.json`` for the e2e suite.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.build import artifact
from pipeline.build.artifact import Artifact
from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed, run, stream
from pipeline.core.settings import Settings
from pipeline.deploy import critical_path
from pipeline.localstack.instance import Instance
from pipeline.terraform.offline_plan import stack_target

# Every service the stack's resources and data sources call (apigateway ... sts), sent to LocalStack.
ENDPOINT_SERVICES = (
    "apigateway",
    "cloudwatch",
    "dynamodb",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sfn",
    "signer",
    "sns",
    "sqs",
    "sts",
    "wafv2",
)
FAKE_SECRET = "test"  # LocalStack ignores the secret access key
# The account LocalStack acts in for credentials that name none (a stack without allowed_account_ids).
LOCALSTACK_DEFAULT_ACCOUNT = "000000000000"
# A missing endpoint must fail in seconds, not after the provider's default of 25 retries.
MAX_RETRIES = 2
# 103 resources; the slow ones (SQS queues ~25 s each, KMS, Lambda) wait on LocalStack, not on CPU.
PARALLELISM = 32
APPLY_TIMEOUT_S = 900.0
LOCK_FILE = ".terraform.lock.hcl"
OUTPUTS_FILE = "outputs.json"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy (``stack_dir``, which must match ``evidence``) and with which terraform setup."""

    stack_dir: Path
    evidence: Path
    lock_file: Path
    cli_config: Path
    terraform: Path
    parallelism: int = PARALLELISM


@dataclass(frozen=True)
class Deployment:
    """A finished apply: the artifact, the flat outputs, and how long each terraform phase took."""

    artifact: Artifact
    outputs: dict[str, object]
    outputs_file: Path
    timings: dict[str, float] = field(default_factory=dict)
    chain: list[critical_path.Link] = field(default_factory=list)  # the apply's critical path


def work_dir(instance: Instance) -> Path:
    """The copy that is applied: inside the instance's run dir, so stopping LocalStack removes it."""
    return Path(instance.run_dir) / "deploy" / "stack"


def state_file(instance: Instance) -> Path:
    return Path(instance.run_dir) / "deploy" / "terraform.tfstate"


def outputs_file(settings: Settings) -> Path:
    return settings.localstack_dir / OUTPUTS_FILE


def overrides(endpoint: str, state: Path, account_id: str = LOCALSTACK_DEFAULT_ACCOUNT) -> dict[str, dict[str, object]]:
    """The override files (name -> content): local backend and a provider aimed at LocalStack in ``account_id``.

    ``allowed_account_ids`` is never overridden: the provider checks the account LocalStack reports for
    these credentials against the artifact's own list.
    """
    provider = {
        "access_key": account_id,
        "secret_key": FAKE_SECRET,
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        # The provider asks LocalStack (STS) who these credentials are: the account their key id names,
        # which the ARNs of the stack and allowed_account_ids then see.
        "skip_requesting_account_id": False,
        "s3_use_path_style": True,
        "max_retries": MAX_RETRIES,
        "endpoints": [dict.fromkeys(ENDPOINT_SERVICES, endpoint)],
    }
    return {
        "backend_override.tf.json": {"terraform": {"backend": {"local": {"path": str(state)}}}},
        "provider_override.tf.json": {"provider": {"aws": [provider]}},
    }


def account_of(stack_dir: Path) -> str:
    """The account a deployment of ``stack_dir`` acts in: the one its provider allows, else LocalStack's default."""
    return stack_target(stack_dir).account_id or LOCALSTACK_DEFAULT_ACCOUNT


def _env(settings: Settings, cli_config: Path, account_id: str) -> dict[str, str]:
    return settings.child_env(
        TF_CLI_CONFIG_FILE=str(cli_config),
        AWS_ACCESS_KEY_ID=account_id,
        AWS_SECRET_ACCESS_KEY=FAKE_SECRET,
        AWS_EC2_METADATA_DISABLED="true",
        TF_INPUT="0",
    )


def prepare(request: DeployRequest, instance: Instance) -> tuple[Path, Artifact]:
    """Check the evidence, copy the artifact next to the instance and write the override files."""
    checked = artifact.require_evidence(request.evidence, request.stack_dir)
    target = work_dir(instance)
    copied = artifact.copy_artifact(request.stack_dir, target, checked)
    shutil.copyfile(request.lock_file, target / LOCK_FILE)
    state = state_file(instance)
    state.parent.mkdir(parents=True, exist_ok=True)
    for name, content in overrides(instance.endpoint, state, account_of(target)).items():
        (target / name).write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return target, copied


# "aws_sqs_queue.payments (abc123): Creation complete after 25s [id=...]"
_DONE = re.compile(r"^(?P<address>\S+): (?P<what>Creation|Destruction|Modifications) complete after (?P<after>\S+)")


class ApplyProgress:
    """Turns terraform's output into one line per finished resource: ``[12/103] address created after 3s``."""

    def __init__(self, progress: Progress, verb: str) -> None:
        self.progress = progress
        self.verb = verb
        self.done = 0
        self.total: int | None = None

    def __call__(self, line: str) -> None:
        if (match := re.search(r"(\d+) to add, (\d+) to change, (\d+) to destroy", line)) is not None:
            self.total = int(match[1]) + int(match[2]) if self.verb != "destroyed" else int(match[3])
            self.progress(f"  {line.strip()}")
        elif (match := _DONE.match(line)) is not None and (match["what"] == "Destruction") == (
            self.verb == "destroyed"
        ):
            self.done += 1
            of = f"/{self.total}" if self.total is not None else ""
            self.progress(f"  [{self.done}{of}] {match['address']} {self.verb} after {match['after']}")
        elif line.startswith(("Error:", "│ Error:")):
            self.progress(f"  {line.strip()}")


def _init(tf: str, work: Path, env: dict[str, str]) -> None:
    init = [tf, "init", "-input=false", "-lockfile=readonly", "-no-color", "-reconfigure"]
    run(init, env=env, cwd=work, check=f"terraform init in {work}", timeout=APPLY_TIMEOUT_S)


def _change(
    tf: str, verb: str, work: Path, env: dict[str, str], parallelism: int, progress: Progress, *flags: str
) -> None:
    """``terraform apply|destroy`` without questions, its progress shown resource by resource."""
    command = [tf, verb, "-input=false", "-auto-approve", "-no-color", f"-parallelism={parallelism}", *flags]
    stream(command, env=env, cwd=work, check=f"terraform {verb} in {work}", timeout=APPLY_TIMEOUT_S, on_line=progress)


class JsonApplyProgress:
    """``terraform apply -json`` lines: each event's ``@message`` to ``ApplyProgress``, its timings collected."""

    def __init__(self, progress: ApplyProgress) -> None:
        self.progress = progress
        self.timings = critical_path.ApplyTimings()

    def __call__(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            self.progress(line)  # not an event (terraform crashed, or a provider wrote to stdout)
            return
        if not isinstance(event, dict):
            return
        self.timings.feed(event)
        message = str(event.get("@message", ""))
        if event.get("type") == "diagnostic" and event.get("@level") == "error":
            detail = event.get("diagnostic", {}).get("detail", "")
            message = f"Error: {message.removeprefix('Error: ')} {detail}".strip()
        self.progress(message)


def deploy(request: DeployRequest, instance: Instance, settings: Settings, progress: Progress) -> Deployment:
    """Apply the checked artifact to ``instance``; write and return the flat outputs."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    work, copied = prepare(request, instance)
    account = account_of(work)
    env = _env(settings, request.cli_config, account)
    tf = str(request.terraform)
    _init(tf, work, env)
    timings["init"] = time.monotonic() - started
    progress(f"terraform apply of artifact {copied.short} to LocalStack at {instance.endpoint}, account {account}")
    started = time.monotonic()
    events = JsonApplyProgress(ApplyProgress(progress, "created"))
    _change(tf, "apply", work, env, request.parallelism, events, "-json")
    timings["apply"] = time.monotonic() - started
    chain = critical_path.critical_path(events.timings, critical_path.dependencies(critical_path.read_config(work)))
    shown = run([tf, "output", "-json"], env=env, cwd=work, check="terraform output -json", timeout=60)
    outputs = flat_outputs(json.loads(shown.stdout))
    outputs.update(
        {
            "localstack_endpoint": instance.endpoint,
            "artifact_sha256": copied.sha256,
            "region": _region(work),
            "account_id": account,
        }
    )
    target = outputs_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Deployment(copied, outputs, target, timings, chain)


# "  # aws_sqs_queue.payments will be updated in-place": one header per resource terraform would change.
_CHANGE = re.compile(r"^\s*# (?P<address>\S+) (?P<what>(will|must) be .+|has moved to .+)$")
# terraform plan -detailed-exitcode: 0 = no changes, 2 = changes (1 = an error).
NO_CHANGES, CHANGES = 0, 2


def planned_changes(terraform: Path, work: Path, env: dict[str, str], parallelism: int = PARALLELISM) -> list[str]:
    """``terraform plan -detailed-exitcode`` in ``work``: what it would change (``address what``), [] for none.

    The drift check after an apply (Terraform docs, ``plan -detailed-exitcode``): a resource listed here
    right after a successful apply is a perpetual diff (the API answers something else than was applied)
    or a change made outside Terraform. Read-only: ``-lock=false``, no plan file. Output-only changes
    are reported as ``outputs: ...``. Raises ``PipelineError`` when the plan itself fails (exit 1)."""
    command = [str(terraform), "plan", "-detailed-exitcode", "-input=false", "-lock=false", "-no-color",
               f"-parallelism={parallelism}"]  # fmt: skip
    result = run(command, env=env, cwd=work, timeout=APPLY_TIMEOUT_S)
    if result.returncode == NO_CHANGES:
        return []
    if result.returncode != CHANGES:
        raise CommandFailed(f"terraform plan (drift check) in {work}", result)
    changes = [f"{m['address']} {m['what']}" for line in result.stdout.splitlines() if (m := _CHANGE.match(line))]
    return changes or ["outputs: " + "; ".join(_output_changes(result.stdout))]


def _output_changes(plan: str) -> list[str]:
    lines = plan.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Changes to Outputs:")), len(lines))
    changed = [line.strip() for line in lines[start + 1 :] if line.strip().startswith(("+ ", "- ", "~ "))]
    return changed[:10] or ["(terraform did not say which)"]


def check_no_drift(request: DeployRequest, instance: Instance, settings: Settings, progress: Progress) -> float:
    """Right after the apply to ``instance``, ``terraform plan`` must find nothing to change; returns its seconds.

    Raises ``PipelineError`` naming every resource terraform would still change (no ignore list: a
    LocalStack answer that differs from AWS's is fixed in ``localstack_ext/`` or documented in the README)."""
    started = time.monotonic()
    work = work_dir(instance)
    if not state_file(instance).is_file():
        raise PipelineError(f"nothing is deployed to LocalStack at {instance.endpoint}: no {state_file(instance)}")
    changes = planned_changes(
        request.terraform, work, _env(settings, request.cli_config, account_of(work)), request.parallelism
    )
    seconds = time.monotonic() - started
    if changes:
        raise PipelineError(
            f"drift after apply: terraform still plans changes to {len(changes)} resource(s) "
            f"(run `terraform plan` in {work} to see them): " + "; ".join(changes)
        )
    progress(f"no drift: terraform plan finds no changes after the apply ({seconds:.1f} s)")
    return seconds


def flat_outputs(shown: dict[str, dict[str, object]]) -> dict[str, object]:
    """``terraform output -json`` ({name: {value, type, sensitive}}) -> {name: value}; sensitive ones are left out."""
    return {name: entry["value"] for name, entry in sorted(shown.items()) if not entry.get("sensitive")}


def _region(work: Path) -> str:
    stack = json.loads((work / artifact.STACK_FILE).read_text(encoding="utf-8"))
    providers = stack.get("provider", {}).get("aws", [{}])
    region = providers[0].get("region") if providers else None
    if not isinstance(region, str):
        raise PipelineError(f"{work / artifact.STACK_FILE} sets no provider region: the stack must name its region.")
    return region


class DeletionProtected(PipelineError):
    """The deployment holds resources ``terraform destroy`` cannot delete (deletion protection is on)."""


def deletion_protected(stack_dir: Path) -> tuple[str, ...]:
    """Addresses of the resources of ``<stack_dir>/cdk.tf.json`` that ``terraform destroy`` fails on.

    DynamoDB tables with ``deletion_protection_enabled`` (DeleteTable is refused) and S3 buckets without
    ``force_destroy`` (a bucket holding objects is not deleted); () when the file is missing.
    """
    path = stack_dir / artifact.STACK_FILE
    if not path.is_file():
        return ()
    resources = json.loads(path.read_text(encoding="utf-8")).get("resource", {})
    found = [
        f"aws_dynamodb_table.{name}"
        for name, table in resources.get("aws_dynamodb_table", {}).items()
        if table.get("deletion_protection_enabled") is True
    ]
    found += [
        f"aws_s3_bucket.{name}"
        for name, bucket in resources.get("aws_s3_bucket", {}).items()
        if bucket.get("force_destroy") is not True
    ]
    return tuple(sorted(found))


def destroy(instance: Instance, settings: Settings, request: DeployRequest, progress: Progress) -> bool:
    """``terraform destroy`` what was deployed to ``instance``; False when nothing was. Removes outputs.json.

    Raises DeletionProtected, before running anything, when the deployed artifact has deletion protection:
    terraform would delete everything else and then fail on the protected resources. Stopping LocalStack
    discards such a deployment with its state.
    """
    outputs_file(settings).unlink(missing_ok=True)
    work = work_dir(instance)
    if not state_file(instance).is_file() or not (work / artifact.STACK_FILE).is_file():
        return False
    if protected := deletion_protected(work):
        raise DeletionProtected(
            f"the deployment has deletion protection on {len(protected)} resources ({', '.join(protected)}): "
            "terraform destroy would delete the rest and fail on those, so it is not run; stopping LocalStack "
            "(`make localstack-down`) discards the deployment with its state"
        )
    env = _env(settings, request.cli_config, account_of(work))
    tf = str(request.terraform)
    if not (work / ".terraform").is_dir():
        _init(tf, work, env)
    _change(tf, "destroy", work, env, request.parallelism, ApplyProgress(progress, "destroyed"))
    return True
