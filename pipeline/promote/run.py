"""``make promote ENV=<name> [APPROVE=<plan sha256>] [ALLOW_REPLACE=<address,...>]``: plan, approval, apply.

Two runs, one saved plan between them (``build/promote/<env>/tfplan`` and its ``review.json``):

1. **Plan** (no ``APPROVE``): preflight (clean work tree, evidence of this exact artifact, no expired
   waiver, credentials of the declared account, state backend reachable), then ``terraform init`` with
   the environment's S3 backend (state locking on), ``terraform plan -out``, the policy gate on the plan's
   JSON, and a change summary (``review``). It stops and prints the plan's SHA-256.
2. **Apply** (``APPROVE=<sha256>``): the same preflight; the saved plan is re-hashed and must be the one
   approved and the one reviewed, for the same commit and artifact; the approver may not be the planner
   (except on an emulated environment); every stateful replace/destroy must be named in
   ``ALLOW_REPLACE``; a plan already applied is refused. Then ``terraform apply <planfile>`` of exactly
   that file, the post-deploy suite (``tests/integration``) against the environment's outputs, and a
   drift check (``terraform plan -detailed-exitcode`` must find no changes).

Every run, whatever its result, appends one record to the environment's audit trail (``audit``).
Sources: PCI DSS v4.0.1 6.5.1-6.5.4 (change control, separation of duties), Terraform saved plans
(https://developer.hashicorp.com/terraform/cli/commands/plan#out-filename) and ``-detailed-exitcode``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3

from pipeline.build import artifact
from pipeline.build.artifact import Artifact
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file
from pipeline.core.runner import CommandFailed, run, stream
from pipeline.core.settings import Settings
from pipeline.deploy.apply import ENDPOINT_SERVICES, ApplyProgress, flat_outputs, planned_changes
from pipeline.policy import checkov, gate, pack, reports, waivers
from pipeline.promote import review as plan_review
from pipeline.promote import target as targets
from pipeline.promote.refusals import Reason, Refusal
from pipeline.promote.target import Target

PLAN_FILE = "tfplan"
REVIEW_FILE = "review.json"
PLAN_JSON = "plan.json"
PLAN_DIGEST_FILE = "plan.sha256"  # the hex digest alone, for CI to pass on as the approval
OUTPUTS_FILE = "outputs.json"
LOCK_FILE = ".terraform.lock.hcl"
BACKEND_CONFIG = "backend.tfbackend"
TERRAFORM_TIMEOUT_S = 1800.0
PARALLELISM = 32
Progress = Callable[[str], None]


class Evidence(Protocol):
    """Verifies the signed evidence of ``artifact`` for ``target``; returns the evidence digest (sha256 hex).

    Raises ``Refusal(Reason.NO_EVIDENCE, ...)`` when there is none, it does not verify, or it shows a failed or
    skipped test."""

    def __call__(self, target: Target, checked: Artifact) -> str: ...


class Integration(Protocol):
    """Runs ``tests/integration`` against the deployed environment whose flat outputs are in ``outputs``;
    raises ``Refusal(Reason.INTEGRATION_FAILED, ...)`` when a test fails or errors."""

    def __call__(self, target: Target, outputs: Path) -> None: ...


class AuditTrail(Protocol):
    """Appends one promotion record (the fields of ``Outcome.record``) to the environment's audit trail."""

    def __call__(self, target: Target, made: boto3.session.Session | None, record: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Request:
    """One ``make promote`` run: the environment, the synthesized stack, terraform, the gate's inputs, who."""

    target: Target
    stack_dir: Path
    lock_file: Path
    cli_config: Path
    terraform: Path
    work_root: Path  # build/promote/<env>: tfplan, review.json, plan.json, the stack copy, reports
    checks_dir: Path
    mapping: Path
    waivers_file: Path
    today: dt.date
    actor: str  # git identity or CI actor
    approve: str | None = None
    allow_replace: frozenset[str] = frozenset()
    parallelism: int = PARALLELISM

    @property
    def plan_file(self) -> Path:
        return self.work_root / PLAN_FILE

    @property
    def review_file(self) -> Path:
        return self.work_root / REVIEW_FILE

    @property
    def stack_copy(self) -> Path:
        return self.work_root / "stack"


@dataclass
class Outcome:
    """What one run did; ``record`` is what the audit trail keeps of it."""

    environment: str
    actor: str
    commit: str = ""
    artifact_sha256: str = ""
    evidence_sha256: str = ""
    plan_sha256: str = ""
    approver: str = ""
    result: str = "refused"  # refused | planned | applied | failed
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    review: plan_review.PlanReview | None = None

    def record(self) -> dict[str, Any]:
        return {
            "who": self.actor,
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "environment": self.environment,
            "commit": self.commit,
            "artifact_sha256": self.artifact_sha256,
            "evidence_sha256": self.evidence_sha256,
            "plan_sha256": self.plan_sha256,
            "approver": self.approver,
            "result": self.result,
            "reason": self.reason,
        }


# --- preflight ---------------------------------------------------------------------------------------------


def git_state(repo_root: Path, env: Mapping[str, str]) -> tuple[str, bool]:
    """(commit sha, dirty) of the work tree; dirty counts tracked changes and untracked files git does not ignore."""
    head = run(["git", "rev-parse", "HEAD"], env=env, cwd=repo_root, check="git rev-parse HEAD").stdout.strip()
    status = run(["git", "status", "--porcelain"], env=env, cwd=repo_root, check="git status").stdout
    return head, bool(status.strip())


def require_clean_tree(target: Target, dirty: bool, progress: Progress) -> None:
    if not dirty:
        return
    if target.emulated:
        progress(f"note: the work tree has uncommitted changes; allowed for emulated environment {target.environment}")
        return
    raise Refusal(
        Reason.DIRTY_TREE,
        f"the work tree has uncommitted changes: commit or stash them, so that environment {target.environment} "
        "gets exactly what a commit holds.",
    )


def require_current_waivers(waivers_file: Path, today: dt.date) -> None:
    expired = [w for w in waivers.load(waivers_file) if w.expires < today]
    if expired:
        named = ", ".join(f"{w.check} on {w.resource} (expired {w.expires})" for w in expired)
        raise Refusal(
            Reason.WAIVER_EXPIRED, f"waivers have expired: {named}; fix the finding or renew the waiver with its owner."
        )


# --- terraform ---------------------------------------------------------------------------------------------


def backend_config(target: Target) -> str:
    """Partial S3 backend configuration (``-backend-config=<file>``) sending the state to LocalStack's S3."""
    assert target.endpoint is not None
    return "\n".join(
        [
            f'endpoints = {{ s3 = "{target.endpoint}", sts = "{target.endpoint}" }}',
            "use_path_style = true",
            "skip_credentials_validation = true",
            "skip_region_validation = true",
            "skip_metadata_api_check = true",
            "",
        ]
    )


def provider_override(target: Target) -> dict[str, Any]:
    """Every service the stack calls sent to LocalStack; credentials stay the caller's (account = access key id),
    so the artifact's ``allowed_account_ids`` is checked against a real STS answer."""
    assert target.endpoint is not None
    provider = {
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "s3_use_path_style": True,
        # A lost answer of the emulator under load ("use of closed network connection") is retried.
        "max_retries": 5,
        "endpoints": [dict.fromkeys(ENDPOINT_SERVICES, target.endpoint)],
    }
    return {"provider": {"aws": [provider]}}


def prepare_stack(request: Request, checked: Artifact) -> Path:
    """A fresh copy of the artifact (plus the lock file; for LocalStack the endpoint overrides) to run terraform in."""
    work = request.stack_copy
    if work.exists():
        shutil.rmtree(work)
    artifact.copy_artifact(request.stack_dir, work, checked)
    shutil.copyfile(request.lock_file, work / LOCK_FILE)
    if request.target.emulated:
        (work / BACKEND_CONFIG).write_text(backend_config(request.target), encoding="utf-8")
        (work / "provider_override.tf.json").write_text(
            json.dumps(provider_override(request.target), indent=2) + "\n", encoding="utf-8"
        )
    return work


def _tf_env(request: Request, settings: Settings, made: boto3.session.Session) -> dict[str, str]:
    return settings.child_env(
        TF_CLI_CONFIG_FILE=str(request.cli_config),
        TF_INPUT="0",
        TF_IN_AUTOMATION="1",
        **({"AWS_EC2_METADATA_DISABLED": "true"} if request.target.emulated else {}),
        **targets.credentials_env(request.target, made),
    )


def terraform_init(request: Request, work: Path, env: dict[str, str]) -> None:
    command = [str(request.terraform), "init", "-input=false", "-lockfile=readonly", "-no-color", "-reconfigure"]
    if request.target.emulated:
        command.append(f"-backend-config={BACKEND_CONFIG}")
    result = run(command, env=env, cwd=work, timeout=TERRAFORM_TIMEOUT_S)
    if result.returncode != 0:
        raise Refusal(
            Reason.BACKEND_UNREACHABLE,
            f"terraform init with the S3 backend of environment {request.target.environment} failed: "
            f"{_last_error(result.output)}",
        )


def _last_error(output: str) -> str:
    lines = [line.strip("│ ").strip() for line in output.splitlines() if line.strip("│ ").strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    return " ".join(lines[errors[-1] : errors[-1] + 3]) if errors else (lines[-1] if lines else "no output")


def gate_plan(request: Request, plan_json: Path, settings: Settings, progress: Progress) -> None:
    """The policy gate on the saved plan's JSON (reports under ``<work_root>/policy``)."""
    scans = checkov.scan_all([plan_json], request.checks_dir, settings)
    verdict = gate.decide(scans, pack.load(request.mapping), waivers.load(request.waivers_file), request.today)
    reports.write(verdict, request.work_root / "policy")
    if not verdict.ok:
        failed = ", ".join(sorted(verdict.failed_checks())) or "none"
        raise Refusal(
            Reason.PLAN_POLICY_FAILED,
            f"the policy gate failed on the plan: failed checks {failed}; reports in {request.work_root / 'policy'}.",
        )
    progress(f"policy gate on the plan: passed ({len(verdict.rows)} results)")


# --- the two runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What preflight established: commit, the checked artifact, its evidence digest, the AWS session."""

    commit: str
    checked: Artifact
    evidence_sha256: str
    session: boto3.session.Session
    caller: str


def preflight(
    request: Request, settings: Settings, evidence: Evidence, outcome: Outcome, progress: Progress
) -> Context:
    commit, dirty = git_state(settings.repo_root, settings.environ)
    outcome.commit = commit
    require_clean_tree(request.target, dirty, progress)
    if not (request.stack_dir / artifact.STACK_FILE).is_file():
        raise Refusal(
            Reason.NO_EVIDENCE,
            f"no synthesized stack in {request.stack_dir}: `make synth ENV={request.target.environment}` first.",
        )
    checked = artifact.digest(request.stack_dir)
    outcome.artifact_sha256 = checked.sha256
    evidence_sha256 = evidence(request.target, checked)
    outcome.evidence_sha256 = evidence_sha256
    require_current_waivers(request.waivers_file, request.today)
    made = targets.session(request.target, settings.environ)
    caller = targets.check_account(request.target, made)
    targets.check_backend(request.target, made)
    progress(
        f"preflight: commit {commit[:12]}, artifact {checked.short}, evidence {evidence_sha256[:12]} verified, "
        f"account {request.target.account_id} ({caller}), backend s3://{request.target.state_bucket}"
    )
    return Context(commit, checked, evidence_sha256, made, caller)


def plan(request: Request, settings: Settings, ctx: Context, outcome: Outcome, progress: Progress) -> str:
    """terraform init + plan -out + show -json, the gate on the plan, the review; returns the plan's sha256."""
    started = time.monotonic()
    work = prepare_stack(request, ctx.checked)
    env = _tf_env(request, settings, ctx.session)
    terraform_init(request, work, env)
    outcome.timings["init"] = time.monotonic() - started
    started = time.monotonic()
    request.work_root.mkdir(parents=True, exist_ok=True)
    for stale in (request.plan_file, request.review_file, request.work_root / PLAN_DIGEST_FILE):
        stale.unlink(missing_ok=True)  # a plan that is not reviewed to the end can never be approved
    tf = str(request.terraform)
    planned = run(
        [tf, "plan", "-input=false", "-lock=true", "-no-color", f"-parallelism={request.parallelism}",
         f"-out={request.plan_file.resolve()}"],
        env=env, cwd=work, timeout=TERRAFORM_TIMEOUT_S,
    )  # fmt: skip
    if planned.returncode != 0:
        raise PipelineError(f"terraform plan failed: {_last_error(planned.output)}")
    shown = run([tf, "show", "-json", str(request.plan_file.resolve())], env=env, cwd=work, check="terraform show")
    plan_json = request.work_root / PLAN_JSON
    plan_json.write_text(shown.stdout, encoding="utf-8")
    outcome.timings["plan"] = time.monotonic() - started
    started = time.monotonic()
    try:
        gate_plan(request, plan_json, settings, progress)
    except Refusal:
        request.plan_file.unlink(missing_ok=True)
        raise
    outcome.timings["gate"] = time.monotonic() - started
    found = plan_review.review(json.loads(shown.stdout))
    outcome.review = found
    plan_sha256 = sha256_file(request.plan_file)
    request.review_file.write_text(
        json.dumps(
            {
                "plan_sha256": plan_sha256,
                "environment": request.target.environment,
                "commit": ctx.commit,
                "artifact_sha256": ctx.checked.sha256,
                "evidence_sha256": ctx.evidence_sha256,
                "planner": request.actor,
                "counts": dict(found.counts),
                "stateful": [c.address for c in found.stateful],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    (request.work_root / PLAN_DIGEST_FILE).write_text(plan_sha256 + "\n", encoding="utf-8")
    progress(plan_review.render(found, request.allow_replace).rstrip())
    return plan_sha256


def check_approval(
    request: Request, ctx: Context, applied_plans: frozenset[str]
) -> tuple[dict[str, Any], plan_review.PlanReview]:
    """The saved plan is the approved one, reviewed for this commit and artifact, not applied before, approved by
    someone other than its planner, and every stateful loss it holds is allowed; else a ``Refusal``."""
    approved = (request.approve or "").strip().lower()
    target = request.target
    if not request.plan_file.is_file() or not request.review_file.is_file():
        raise Refusal(
            Reason.APPROVAL_MISMATCH,
            f"no saved plan in {request.work_root}: run `make promote ENV={target.environment}` and approve its hash.",
        )
    reviewed = json.loads(request.review_file.read_text(encoding="utf-8"))
    actual = sha256_file(request.plan_file)
    if actual != approved:
        raise Refusal(
            Reason.APPROVAL_MISMATCH,
            f"the approval names plan {approved[:12] or '(none)'}, but the saved plan file is {actual[:12]}: "
            "it changed since review or the approval is for another plan; nothing was applied.",
        )
    if reviewed.get("plan_sha256") != actual:
        raise Refusal(
            Reason.APPROVAL_MISMATCH,
            f"the saved plan {actual[:12]} is not the plan that was reviewed "
            f"({str(reviewed.get('plan_sha256'))[:12]}); nothing was applied.",
        )
    for key, now in (("commit", ctx.commit), ("artifact_sha256", ctx.checked.sha256)):
        if reviewed.get(key) != now:
            raise Refusal(
                Reason.PLAN_STALE,
                f"the plan was made for {key} {str(reviewed.get(key))[:12]}, this checkout is {now[:12]}: plan again.",
            )
    if actual in applied_plans:
        raise Refusal(Reason.PLAN_STALE, f"plan {actual[:12]} was applied already: plan again for a new change.")
    if reviewed.get("planner") == request.actor and not target.emulated:
        raise Refusal(
            Reason.SELF_APPROVAL,
            f"{request.actor} made this plan and cannot approve it: another person approves changes to "
            f"{target.environment} (PCI DSS 6.5.4 separation of duties).",
        )
    found = plan_review.review(json.loads((request.work_root / PLAN_JSON).read_text(encoding="utf-8")))
    missing = found.unapproved(request.allow_replace)
    if missing:
        raise Refusal(
            Reason.REPLACE_NOT_ALLOWED,
            "the plan replaces or destroys stateful resources that ALLOW_REPLACE does not name: "
            + ", ".join(f"{c.address} ({c.action})" for c in missing)
            + "; nothing was applied.",
        )
    return reviewed, found


def apply(
    request: Request,
    settings: Settings,
    ctx: Context,
    outcome: Outcome,
    progress: Progress,
    integration: Integration,
) -> Path:
    """terraform apply of exactly the saved plan, outputs, the post-deploy suite, the drift check."""
    started = time.monotonic()
    work = prepare_stack(request, ctx.checked)
    env = _tf_env(request, settings, ctx.session)
    terraform_init(request, work, env)
    tf = str(request.terraform)
    outcome.timings["init"] = time.monotonic() - started
    started = time.monotonic()
    consumed = request.work_root / f"{PLAN_FILE}.applying"
    shutil.copyfile(request.plan_file, consumed)
    if sha256_file(consumed) != outcome.plan_sha256:
        raise Refusal(Reason.APPROVAL_MISMATCH, "the plan file changed while it was being read; nothing was applied.")
    try:
        stream(
            [tf, "apply", "-input=false", "-lock=true", "-no-color", f"-parallelism={request.parallelism}",
             str(consumed.resolve())],
            env=env, cwd=work, check="terraform apply of the saved plan", timeout=TERRAFORM_TIMEOUT_S,
            on_line=ApplyProgress(progress, "created"),
        )  # fmt: skip
    except CommandFailed as exc:
        if "Saved plan is stale" in str(exc):
            raise Refusal(
                Reason.PLAN_STALE, "terraform refused the saved plan as stale (the state changed since): plan again."
            ) from None
        raise Refusal(Reason.APPLY_FAILED, f"terraform apply failed: {_last_error(str(exc))}") from None
    finally:
        consumed.unlink(missing_ok=True)
    request.plan_file.unlink()  # applied: a saved plan is applied once
    outcome.timings["apply"] = time.monotonic() - started
    started = time.monotonic()
    shown = run([tf, "output", "-json"], env=env, cwd=work, check="terraform output -json", timeout=120)
    outputs = flat_outputs(json.loads(shown.stdout))
    outputs.update(
        {
            "environment": request.target.environment,
            "kind": request.target.kind,
            "region": request.target.region,
            "account_id": request.target.account_id,
            "artifact_sha256": ctx.checked.sha256,
            **({"localstack_endpoint": request.target.endpoint} if request.target.endpoint else {}),
        }
    )
    outputs_file = request.work_root / OUTPUTS_FILE
    outputs_file.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    integration(request.target, outputs_file)
    outcome.timings["integration"] = time.monotonic() - started
    started = time.monotonic()
    check_drift(request, work, env)
    outcome.timings["drift"] = time.monotonic() - started
    return outputs_file


def check_drift(request: Request, work: Path, env: dict[str, str]) -> None:
    """Right after apply, ``terraform plan -detailed-exitcode`` must find nothing to change (the deploy step's
    ``planned_changes``); anything it would still change is a ``Refusal(DRIFT)`` naming each resource."""
    try:
        changed = planned_changes(request.terraform, work, env, request.parallelism)
    except CommandFailed as exc:
        raise PipelineError(
            f"the drift check (terraform plan -detailed-exitcode) failed: {_last_error(str(exc))}"
        ) from None
    if changed:
        raise Refusal(
            Reason.DRIFT,
            f"drift right after apply in {request.target.environment}: terraform still plans changes to "
            f"{len(changed)} resource(s): {'; '.join(changed[:10])}",
        )


def promote(
    request: Request,
    settings: Settings,
    *,
    evidence: Evidence,
    integration: Integration,
    audit: AuditTrail,
    applied_plans: Callable[[Target, boto3.session.Session], frozenset[str]],
    progress: Progress,
) -> Outcome:
    """One promote run (plan, or apply of an approved plan); the audit record is appended whatever happens.

    Raises ``Refusal`` (exit status per ``Reason``) or ``PipelineError`` after recording the run."""
    outcome = Outcome(request.target.environment, request.actor)
    made: boto3.session.Session | None = None
    try:
        ctx = preflight(request, settings, evidence, outcome, progress)
        made = ctx.session
        if request.approve is None:
            outcome.plan_sha256 = plan(request, settings, ctx, outcome, progress)
            outcome.result = "planned"
            progress(f"plan sha256: {outcome.plan_sha256}")
            stateful = outcome.review.stateful if outcome.review else ()
            allow = f" ALLOW_REPLACE={','.join(c.address for c in stateful)}" if stateful else ""
            progress(
                f"to apply exactly this plan: make promote ENV={request.target.environment} "
                f"APPROVE={outcome.plan_sha256}{allow}"
            )
        else:
            outcome.approver = request.actor
            outcome.plan_sha256 = (request.approve or "").strip().lower()
            check_approval(request, ctx, applied_plans(request.target, ctx.session))
            apply(request, settings, ctx, outcome, progress, integration)
            outcome.result = "applied"
        return outcome
    except Refusal as exc:
        applied_already = request.approve is not None and exc.reason in (
            Reason.APPLY_FAILED,
            Reason.INTEGRATION_FAILED,
            Reason.DRIFT,
        )
        outcome.result = "failed" if applied_already else "refused"
        outcome.reason = f"{exc.reason.name}: {exc}"
        raise
    except (PipelineError, KeyboardInterrupt, subprocess.SubprocessError) as exc:
        outcome.result = "failed"
        outcome.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise
    finally:
        audit(request.target, made, outcome.record())
