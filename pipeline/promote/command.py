"""``python -m pipeline promote`` / ``promote-bootstrap``: the environment file, the evidence, the audit trail
and the post-deploy suite wired into :mod:`pipeline.promote.run`.

The environment comes from ``environments/<name>.toml`` (``stacks.config``): an undeclared name is a
refusal. A ``localstack`` environment is the LocalStack instance running for ``PAYGATE_LOCALSTACK_DIR``
(``make localstack-up``). Evidence must verify against the keys the environment trusts
(``pipeline.evidence.verify.require_promotable``). Every run appends to the environment's audit trail in
its state bucket (``<env>/promotions/``) with a local copy under ``build/promote/<env>/audit``; a run
refused before the state bucket could be reached is kept in the local copy only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config

from pipeline.build.artifact import Artifact
from pipeline.core.errors import PipelineError
from pipeline.core.settings import Settings
from pipeline.evidence import signing
from pipeline.evidence.verify import EvidenceRefused, require_promotable
from pipeline.localstack import instance as localstack
from pipeline.promote import audit, integration, run
from pipeline.promote import target as targets
from pipeline.promote.refusals import Reason, Refusal
from pipeline.promote.target import Target
from stacks.config import ConfigError, PlatformConfig
from stacks.config import load as load_environment

ENVIRONMENTS_DIR = "environments"
EVIDENCE_ROOT = "build/evidence"
KEYS_DIR = "build/keys"
PROMOTE_ROOT = "build/promote"


@dataclass(frozen=True)
class Environment:
    """A declared environment: its platform config and the promotion target made from it."""

    config: PlatformConfig
    target: Target

    @property
    def trusted_keys(self) -> list[Path]:
        return [Path(str(key)) for key in self.config.evidence.trusted_keys]


def environment(settings: Settings, name: str, *, need_endpoint: bool = True) -> Environment:
    """The environment ``name`` from its file (``PAYGATE_*`` overrides as for synth); Refusal when undeclared."""
    environ = {**settings.environ, "PAYGATE_ENVIRONMENT": name}
    try:
        config = load_environment(environ, settings.repo_root / ENVIRONMENTS_DIR).config
    except ConfigError as exc:
        raise Refusal(Reason.UNDECLARED_ENVIRONMENT, f"environment {name!r} cannot be promoted: {exc}.") from None
    endpoint = None
    if config.kind == "localstack" and need_endpoint:
        running = localstack.running(localstack.Layout.of(settings))
        if running is None:
            raise Refusal(
                Reason.BACKEND_UNREACHABLE,
                f"environment {name} is a LocalStack environment and no LocalStack runs for "
                f"{settings.localstack_dir}: start it with `make localstack-up`.",
            )
        endpoint = running.endpoint
    target = Target(
        environment=config.environment,
        kind=config.kind,
        region=config.region,
        account_id=config.account_id,
        state_bucket=config.state_bucket,
        state_region=config.state_region,
        endpoint=endpoint,
    )
    return Environment(config, target)


def evidence_check(settings: Settings, env: Environment, stack_dir: Path, today: dt.date) -> run.Evidence:
    """The evidence adapter of :func:`run.promote`: verified, promotable evidence or ``Refusal(NO_EVIDENCE)``."""

    def check(target: Target, checked: Artifact) -> str:
        commit = run.git_state(settings.repo_root, settings.environ)[0]
        try:
            verified = require_promotable(
                settings.repo_root / EVIDENCE_ROOT,
                target.environment,
                stack_dir,
                [settings.repo_root / key for key in env.trusted_keys],
                env.config.evidence.accept_local_keys,
                commit=commit,
                today=today,
                local_keys_dir=settings.repo_root / KEYS_DIR,
                allow_uncommitted=target.emulated,
            )
        except EvidenceRefused as exc:
            raise Refusal(Reason.NO_EVIDENCE, str(exc)) from None
        if verified.artifact_sha256 != checked.sha256:
            raise Refusal(
                Reason.NO_EVIDENCE,
                f"the evidence is of artifact {verified.artifact_sha256[:12]}, not of {checked.short} being promoted.",
            )
        return verified.evidence_sha256

    return check


def s3_client(target: Target, made: boto3.session.Session) -> Any:
    config = Config(s3={"addressing_style": "path"}) if target.emulated else None
    return made.client("s3", region_name=target.state_region, endpoint_url=target.endpoint, config=config)


def audit_trail(settings: Settings, work_root: Path, out: TextIO) -> run.AuditTrail:
    """The audit adapter: append to ``<state bucket>/<env>/promotions/`` (mirrored locally), or locally only."""
    key = signing.signing_key(settings.signing_key, settings.repo_root / KEYS_DIR)
    local = audit.LocalStore(work_root / "audit")

    def append(target: Target, made: boto3.session.Session | None, record: Mapping[str, Any]) -> None:
        event = audit.PromotionEvent(
            actor=str(record["who"]),
            environment=target.environment,
            commit=str(record["commit"] or "unknown"),
            result=str(record["result"]),
            reason=str(record["reason"] or f"{record['result']} plan {str(record['plan_sha256'])[:12]}"),
            artifact_sha256=record["artifact_sha256"] or None,
            evidence_sha256=record["evidence_sha256"] or None,
            plan_sha256=record["plan_sha256"] or None,
            approver=record["approver"] or None,
        )
        now = dt.datetime.now(dt.UTC)
        if made is None:
            appended = audit.append(local, event, key, now)
            print(f"audit: record {appended.record.sequence} kept locally in {local.location} only", file=out)
            return
        store = audit.S3Store(s3_client(target, made), target.state_bucket, audit.s3_prefix(target.environment))
        appended = audit.append(store, event, key, now, mirrors=(local,))
        print(f"audit: record {appended.record.sequence} appended to {store.location}", file=out)

    return append


def applied_plans(settings: Settings, env: Environment) -> Any:
    """The adapter listing plan digests the (verified) trail records as applied: a saved plan is applied once.

    A trail that does not verify refuses the apply (``AUDIT_TRAIL_BROKEN``): its records cannot be relied on."""

    def read(target: Target, made: boto3.session.Session) -> frozenset[str]:
        store = audit.S3Store(s3_client(target, made), target.state_bucket, audit.s3_prefix(target.environment))
        report = audit.verify_trail(
            store,
            [settings.repo_root / key for key in env.trusted_keys],
            env.config.evidence.accept_local_keys,
            environment=target.environment,
            local_keys_dir=settings.repo_root / KEYS_DIR,
        )
        if not report.ok:
            raise Refusal(
                Reason.AUDIT_TRAIL_BROKEN,
                f"the audit trail at {store.location} does not verify ({'; '.join(report.problems[:3])}): "
                "nothing is applied until it is investigated (`make audit-verify`).",
            )
        return frozenset(
            r.event.plan_sha256 for r in report.records if r.event.result == "applied" and r.event.plan_sha256
        )

    return read


def promote(
    settings: Settings,
    *,
    name: str,
    stack_dir: Path,
    lock_file: Path,
    cli_config: Path,
    terraform: Path,
    checks_dir: Path,
    mapping: Path,
    waivers_file: Path,
    today: dt.date,
    approve: str | None,
    allow_replace: frozenset[str],
    out: TextIO,
) -> run.Outcome:
    """One ``make promote`` run; the ``Refusal`` / ``PipelineError`` it raises carries the exit status."""
    work_root = settings.repo_root / PROMOTE_ROOT / name
    actor = audit.identify_actor(settings.environ, settings)
    try:
        env = environment(settings, name)
    except Refusal as refused:
        key = signing.signing_key(settings.signing_key, settings.repo_root / KEYS_DIR)
        event = audit.PromotionEvent(
            actor=actor,
            environment=name,
            commit="unknown",
            result="refused",
            reason=f"{refused.reason.name}: {refused}",
        )
        appended = audit.append(audit.LocalStore(work_root / "audit"), event, key, dt.datetime.now(dt.UTC))
        print(f"audit: record {appended.record.sequence} kept locally in {work_root / 'audit'} only", file=out)
        raise
    request = run.Request(
        target=env.target,
        stack_dir=stack_dir,
        lock_file=lock_file,
        cli_config=cli_config,
        terraform=terraform,
        work_root=work_root,
        checks_dir=checks_dir,
        mapping=mapping,
        waivers_file=waivers_file,
        today=today,
        actor=actor,
        approve=approve,
        allow_replace=allow_replace,
    )

    def show(line: str) -> None:
        print(line, file=out, flush=True)

    def suite(target: Target, outputs: Path) -> None:
        integration.run_suite(settings, target, outputs, stack_dir, work_root / "integration-junit.xml", show)

    outcome = run.promote(
        request,
        settings,
        evidence=evidence_check(settings, env, stack_dir, today),
        integration=suite,
        audit=audit_trail(settings, work_root, out),
        applied_plans=applied_plans(settings, env),
        progress=show,
    )
    phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in outcome.timings.items())
    show(f"promote {outcome.result}: {name}, phases: {phases}")
    return outcome


def bootstrap(settings: Settings, name: str, out: TextIO) -> None:
    """Create the environment's state bucket if missing (versioned, encrypted, public access blocked, TLS only)."""
    env = environment(settings, name)
    made = targets.session(env.target, settings.environ)
    targets.check_account(env.target, made)
    created = targets.bootstrap_backend(env.target, made)
    state = "created" if created else "already there"
    print(f"state backend s3://{env.target.state_bucket} ({env.target.state_region}) of {name}: {state}", file=out)


__all__ = ["PipelineError", "bootstrap", "environment", "promote"]
