"""``python -m pipeline <command>``: the entry point, and the only code that reads the process environment."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from contracts.callers import api_key_caller
from pipeline import merchants
from pipeline.build import artifact, dependencies, package
from pipeline.cache import suite as unit_suite
from pipeline.core import toolchain
from pipeline.core.errors import PipelineError
from pipeline.core.files import write_if_changed
from pipeline.core.settings import Settings, from_environ
from pipeline.deploy import apply as deploy
from pipeline.e2e import run as e2e
from pipeline.evidence import bundle as evidence_bundle
from pipeline.evidence import command as evidence_command
from pipeline.localstack import instance as localstack
from pipeline.localstack import venv as localstack_venv
from pipeline.policy import access, gate, pack, reports, waivers
from pipeline.policy import checkov as policy
from pipeline.promote import audit
from pipeline.promote import command as promote_command
from pipeline.promote import target as promote_targets
from pipeline.promote.refusals import Refusal
from pipeline.terraform import offline_plan as plan
from pipeline.terraform import tfconfig
from pipeline.terraform import validate as terraform

DEFAULT_TF_CONFIG = "build/terraform.tfrc"
DEFAULT_LOCK_FILE = "terraform/.terraform.lock.hcl"
DEFAULT_DIST = "build/dist"
DEFAULT_LOCK_PLATFORM = "linux_amd64"  # the only platform the offline mirror holds
DEFAULT_CHECKS_DIR = "policies/checks"
DEFAULT_MAPPING = "policies/pci_dss_mapping.yaml"
DEFAULT_WAIVERS = "policies/waivers.yaml"
DEFAULT_POLICY_OUT = "build/policy"
DEFAULT_PLAN_OUT = "build/plan/plan.json"
DEFAULT_PLAN_WORK = "build/plan/stack"
DEFAULT_UNIT_CACHE = "build/cache/unit"
Command = Callable[[argparse.Namespace, Settings, TextIO], int]


def _path(settings: Settings, value: str) -> Path:
    return settings.repo_root / value


def doctor(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print what was found; exit 1 with one sentence per missing prerequisite."""
    report = toolchain.diagnose(settings)
    for line in report.lines:
        print(line, file=out)
    if report.problems:
        raise PipelineError("\n".join(report.problems))
    return 0


def _render_config(settings: Settings, out_path: Path, out: TextIO) -> toolchain.ProviderSource:
    source = toolchain.find_provider_source(settings)
    write_if_changed(out_path, tfconfig.render(source, settings.repo_root / "terraform"))
    print(f"terraform CLI config {out_path}: hashicorp/aws from {source.describe()}", file=out)
    return source


def tf_config(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Render the terraform CLI config for this machine (mirror if there is one, else the registry)."""
    _render_config(settings, _path(settings, args.out), out)
    return 0


def tf_lock(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Regenerate the committed provider lock file."""
    registry = toolchain.ProviderSource(None, "registry")
    source = registry if args.registry else toolchain.find_provider_source(settings)
    binary = toolchain.find_terraform(settings).path
    target = _path(settings, args.out)
    platforms = args.platform or [DEFAULT_LOCK_PLATFORM]
    changed = terraform.lock(target, source=source, platforms=platforms, terraform=binary, settings=settings)
    state = "updated" if changed else "unchanged"
    print(f"{target}: {state} (hashicorp/aws from {source.describe()})", file=out)
    return 0


def package_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Build the Lambda archives and their manifest."""
    # Imported here so the other commands (doctor first of all) work even when stacks/ is broken.
    from stacks.constants import FUNCTION_HANDLERS, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME

    started = time.monotonic()
    python = toolchain.find_python(settings).path
    target = dependencies.Target.for_lambda(LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE)
    layer = dependencies.prepare_layer(settings, target, python)
    outcome = package.build(
        FUNCTION_HANDLERS,
        repo_root=settings.repo_root,
        out_dir=_path(settings, args.out),
        layer=layer,
        env=settings.child_env(),
    )
    if outcome.modified:
        print(
            f"packaged with changes git has not staged (not reproducible from a commit): {', '.join(outcome.modified)}",
            file=out,
        )
    for key, record in outcome.archives.items():
        state = "written" if key in outcome.written else "unchanged"
        print(f"{record.file}: {state}, {record.size} bytes, {record.files} files, sha256 {record.sha256}", file=out)
    print(f"packaged {len(outcome.archives)} functions in {time.monotonic() - started:.2f} s", file=out)
    return 0


def _terraform(args: argparse.Namespace, settings: Settings, out: TextIO) -> tuple[Path, Path]:
    """The terraform binary and this machine's CLI config, rendered to ``--tf-config``."""
    config = _path(settings, args.tf_config)
    _render_config(settings, config, out)
    return toolchain.find_terraform(settings).path, config


def validate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """terraform init (offline, read-only lock) and validate on a synthesized stack."""
    binary, config = _terraform(args, settings, out)
    started = time.monotonic()
    result = terraform.validate(
        _path(settings, args.stack_dir),
        lock_file=_path(settings, args.lock_file),
        cli_config=config,
        terraform=binary,
        settings=settings,
    )
    print(f"{result.stack_dir}: {result.output} ({time.monotonic() - started:.1f} s)", file=out)
    return 0


def plan_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Offline terraform plan of a copy of the synthesized stack (local STS stub) -> plan JSON."""
    binary, config = _terraform(args, settings, out)
    started = time.monotonic()
    request = plan.PlanRequest(
        stack_dir=_path(settings, args.stack_dir),
        work_dir=_path(settings, args.work_dir),
        lock_file=_path(settings, args.lock_file),
        cli_config=config,
        terraform=binary,
    )
    target = plan.plan_json(request, _path(settings, args.out), settings)
    print(f"{target}: plan JSON written ({time.monotonic() - started:.1f} s)", file=out)
    return 0


def policy_gate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run the PCI pack and Checkov's AWS checks on cdk.tf.json and/or plan JSON; 1 on any failure."""
    started = time.monotonic()
    mapping = pack.load(_path(settings, args.mapping))
    waived = waivers.load(_path(settings, args.waivers))
    targets = [_path(settings, value) for value in args.input]
    out_dir = _path(settings, args.out)
    artifact.forget_evidence(out_dir)
    missing = [str(t) for t in targets if not t.is_file()]
    if missing:
        raise PipelineError(f"no such input: {', '.join(missing)}")
    checks_dir = _path(settings, args.checks_dir)
    declared = frozenset(pack.declared_checks(checks_dir)) if checks_dir.is_dir() else frozenset()
    scans = policy.scan_all(targets, checks_dir, settings)
    verdict = gate.decide(
        scans, mapping, waived, args.today, require_every_check=args.require_every_check, declared=declared
    )
    written = reports.write(verdict, out_dir)
    out.write(reports.console(verdict))
    print(f"reports: {', '.join(str(p) for p in written.values())} ({time.monotonic() - started:.1f} s)", file=out)
    if not verdict.ok:
        failed = ", ".join(sorted(verdict.failed_checks())) or "none"
        raise PipelineError(f"policy gate failed: failed checks: {failed}; problems: {len(verdict.problems)}")
    stacks = [t.parent for t in targets if t.name == artifact.STACK_FILE]
    for stack_dir in stacks[:1]:  # the deployable artifact: the stack dir of the synthesized JSON
        evidence = artifact.record_evidence(out_dir, stack_dir, targets, dt.datetime.now(dt.UTC))
        print(f"evidence: artifact {evidence.artifact_sha256} passed -> {out_dir / artifact.EVIDENCE_FILE}", file=out)
    return 0


def localstack_venv_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Create/refresh LocalStack's Python 3.13 virtualenv from localstack/requirements.lock (only when it changed)."""
    venv = localstack_venv.ensure(settings, _path(settings, args.lock))
    if venv.rebuilt:
        state = f"installed in {venv.seconds:.1f} s"
    elif venv.project_installed:
        state = f"project package reinstalled in {venv.seconds:.1f} s"
    else:
        state = "up to date"
    print(f"{venv.path}: {state}", file=out)
    return 0


def localstack_up(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Start LocalStack on the host (127.0.0.1, a free port); an instance already running is reused."""
    layout = localstack.Layout.of(settings)
    already = localstack.running(layout)
    started = time.monotonic()
    instance = localstack.start(settings, port=args.port, reuse=True, timeout=args.timeout)
    if already is not None:
        print(f"LocalStack is already running: reusing it at {instance.endpoint} (pid {instance.pid})", file=out)
    else:
        print(
            f"LocalStack healthy at {instance.endpoint} (pid {instance.pid}) in {time.monotonic() - started:.1f} s; "
            f"log {instance.log}, state {layout.state_file}",
            file=out,
        )
    return 0


def _deploy_request(args: argparse.Namespace, settings: Settings, out: TextIO) -> deploy.DeployRequest:
    binary, config = _terraform(args, settings, out)
    return deploy.DeployRequest(
        stack_dir=_path(settings, args.stack_dir),
        evidence=_path(settings, args.evidence),
        lock_file=_path(settings, args.lock_file),
        cli_config=config,
        terraform=binary,
    )


def _printer(out: TextIO) -> Callable[[str], None]:
    def show(line: str) -> None:
        print(line, file=out, flush=True)

    return show


def localstack_deploy(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Apply the artifact the policy gate passed to LocalStack (started if needed); write its outputs.json."""
    request = _deploy_request(args, settings, out)
    artifact.require_evidence(request.evidence, request.stack_dir)  # refuse before starting anything
    started = time.monotonic()
    instance = localstack.start(settings, port=args.port, reuse=True)
    up = time.monotonic() - started
    result = deploy.deploy(request, instance, settings, _printer(out))
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in {"up": up, **result.timings}.items())
    print(
        f"deployed artifact {result.artifact.sha256} to {instance.endpoint} ({phases}); outputs: {result.outputs_file}",
        file=out,
    )
    return 0


def localstack_destroy(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """terraform destroy what was deployed to the running LocalStack (nothing to do when nothing was)."""
    instance = localstack.running(localstack.Layout.of(settings))
    deploy.outputs_file(settings).unlink(missing_ok=True)
    if instance is None:
        print("LocalStack is not running: nothing deployed to destroy", file=out)
        return 0
    started = time.monotonic()
    try:
        destroyed = deploy.destroy(instance, settings, _deploy_request(args, settings, out), _printer(out))
    except deploy.DeletionProtected as protected:
        print(f"not destroyed: {protected}", file=out)
        return 0
    if destroyed:
        print(f"destroyed the deployment in {time.monotonic() - started:.1f} s", file=out)
    else:
        print("nothing was deployed to this LocalStack", file=out)
    return 0


def _phase(value: str) -> tuple[str, float]:
    name, _, seconds = value.rpartition("=")
    try:
        if not name.strip():
            raise ValueError(value)
        return name, float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--phase wants NAME=SECONDS, not {value!r}") from None


def localstack_e2e(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Fresh LocalStack -> deploy the checked artifact -> e2e tests (JUnit) -> destroy -> down; a summary."""
    request = e2e.E2ERequest(
        deploy=_deploy_request(args, settings, out),
        python=Path(sys.executable),
        tests=args.tests,
        junit=_path(settings, args.junit),
        work_root=_path(settings, args.work_root),
        pytest_args=args.pytest_arg or (),
        prior_phases=args.phase or (),
        workers=args.workers,
        destroy=args.destroy,
    )
    summary_file = _path(settings, args.summary)
    summary_file.unlink(missing_ok=True)  # the evidence gets this run's summary or none
    checkout = evidence_bundle.git_state(settings)  # the test code this run starts from
    summary = e2e.run(request, settings, _printer(out))
    evidence_bundle.write_e2e_summary(summary, request.junit, summary_file, checkout)
    out.write(summary.render())
    if not summary.ok:
        raise PipelineError(
            "localstack-e2e failed: " + ("; ".join(summary.problems + summary.leftovers) or "see above")
        )
    return 0


def localstack_down(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Stop LocalStack (SIGTERM, SIGKILL after 20 s) and remove its run dir and state file."""
    started = time.monotonic()
    deploy.outputs_file(settings).unlink(missing_ok=True)
    instance = localstack.stop(settings)
    if instance is None:
        print("LocalStack was not running; its state is clean", file=out)
    else:
        print(f"LocalStack (pid {instance.pid}) stopped and cleaned in {time.monotonic() - started:.1f} s", file=out)
    return 0


def localstack_status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Show the running LocalStack (endpoint, health, memory); exit 1 when none runs."""
    instance = localstack.running(localstack.Layout.of(settings))
    if instance is None:
        raise PipelineError("LocalStack is not running: start it with `make localstack-up`.")
    healthy = localstack.health(instance.port) is not None
    rss = localstack.rss_bytes(instance.pid) / 2**20
    print(
        f"LocalStack pid {instance.pid} at {instance.endpoint}: {'healthy' if healthy else 'NOT healthy'}, "
        f"RSS {rss:.0f} MiB; log {instance.log}",
        file=out,
    )
    return 0 if healthy else 1


def audit_verify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Verify an environment's audit trail of promotions (its state bucket's <env>/promotions/, or --local DIR)."""
    store: audit.Store = audit.LocalStore(_path(settings, args.local)) if args.local else _audit_bucket(args, settings)
    trusted, accept_local = evidence_command.trust_arguments(args, settings)
    report = audit.verify_trail(
        store, trusted, accept_local, environment=args.env, local_keys_dir=_path(settings, args.keys)
    )
    out.write(report.describe())
    if not report.ok:
        raise PipelineError(f"the audit trail at {store.location} has {len(report.problems)} problem(s), listed above.")
    return 0


def _audit_bucket(args: argparse.Namespace, settings: Settings) -> audit.S3Store:
    """The environment's trail in its state bucket, reached like promotion reaches it (LocalStack or AWS)."""
    env = promote_command.environment(settings, args.env)
    made = promote_targets.session(env.target, settings.environ)
    client = promote_command.s3_client(env.target, made)
    return audit.S3Store(client, env.target.state_bucket, audit.s3_prefix(args.env))


def promote(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Plan a promotion of the checked artifact to an environment, or apply the plan approved by its sha256."""
    binary, config = _terraform(args, settings, out)
    allow = frozenset(a.strip() for a in (args.allow_replace or "").split(",") if a.strip())
    promote_command.promote(
        settings,
        name=args.env,
        stack_dir=_path(settings, args.stack_dir),
        lock_file=_path(settings, args.lock_file),
        cli_config=config,
        terraform=binary,
        checks_dir=_path(settings, DEFAULT_CHECKS_DIR),
        mapping=_path(settings, DEFAULT_MAPPING),
        waivers_file=_path(settings, DEFAULT_WAIVERS),
        today=args.today,
        approve=args.approve or None,
        allow_replace=allow,
        out=out,
    )
    return 0


def promote_bootstrap(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Create an environment's S3 state bucket if missing (versioned, KMS-encrypted, public access blocked)."""
    promote_command.bootstrap(settings, args.env, out)
    return 0


def unit_suite_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Run a unit suite (one pytest process), or reuse its passing run on the same inputs (content key)."""
    request = unit_suite.SuiteRequest(
        name=args.name,
        tests=args.tests,
        junit=_path(settings, args.junit),
        coverage=_path(settings, args.coverage),
        cache=None if args.no_cache else _path(settings, args.cache),
        excluded=tuple(args.exclude or ()),
        extra_files=tuple(_path(settings, f) for f in args.extra_file or ()),
        include_head=args.head,
    )
    return unit_suite.run_suite(request, settings.repo_root, settings.environ, out)


def artifact_key(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Write the stack's artifact digest (what terraform reads) to --out, only when it changed (a make key)."""
    found = artifact.digest(_path(settings, args.stack_dir))
    write_if_changed(_path(settings, args.out), found.sha256 + "\n")
    return 0


def junit_merge(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Merge JUnit reports into one (every testsuite of each part, in order)."""
    unit_suite.merge_junit([_path(settings, p) for p in args.parts], _path(settings, args.out))
    return 0


DEFAULT_OUTPUTS = "build/localstack/outputs.json"
DEFAULT_ACCESS_MATRIX = "policies/access_matrix.yaml"


def access_check(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Each role's effective access to the stack's resources against the access matrix; exit 1 on any
    access the matrix does not grant (or a grant the stack no longer uses). Report: <out>/access.md."""
    report = _path(settings, args.out) / "access.md"
    differences = access.check(_path(settings, args.input), _path(settings, args.matrix), report)
    for difference in differences:
        print(f"ACCESS {difference.kind.upper()}: {difference}", file=out)
    if differences:
        raise PipelineError(f"{len(differences)} difference(s) from {args.matrix} (report: {report})")
    print(f"access check PASSED: every role has exactly the access {args.matrix} grants (report: {report})", file=out)
    return 0


def _merchant_admin(args: argparse.Namespace, settings: Settings) -> merchants.MerchantAdmin:
    deployment = merchants.Deployment.read(_path(settings, args.outputs))
    return merchants.MerchantAdmin.connect(deployment, deployment.session(settings.environ))


def merchant_bind(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Bind a caller to a merchant: a new API key (--new-api-key), an existing one (--api-key-id) or an IAM
    principal (--principal-arn). Prints the binding as JSON (a new key's value only with --show-key-value)."""
    admin = _merchant_admin(args, settings)
    bound_by = args.bound_by or settings.environ.get("USER") or "operator"
    if args.new_api_key:
        prefix = admin.deployment.callers_table.removesuffix("-callers")
        binding = admin.bind_new_api_key(args.merchant, name_prefix=prefix, bound_by=bound_by)
    elif args.api_key_id:
        binding = admin.bind(api_key_caller(args.api_key_id), args.merchant, bound_by=bound_by)
    else:
        binding = admin.bind(merchants.principal(args.principal_arn), args.merchant, bound_by=bound_by)
    print(json.dumps(binding.to_json(with_secret=args.show_key_value), sort_keys=True), file=out)
    return 0


def merchant_revoke(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Remove a caller's binding (it acts for no merchant from its next request); --delete-api-key also deletes
    an API key caller's key. Exit 1 when the caller was not bound."""
    admin = _merchant_admin(args, settings)
    caller = api_key_caller(args.api_key_id) if args.api_key_id else merchants.principal(args.principal_arn)
    if not admin.revoke(caller, delete_api_key=args.delete_api_key):
        raise PipelineError(f"{caller} is not bound to any merchant")
    print(f"revoked {caller}", file=out)
    return 0


def merchant_list(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Every caller bound to a merchant, as JSON lines (oldest first)."""
    for binding in _merchant_admin(args, settings).callers_of(args.merchant):
        print(json.dumps(binding, sort_keys=True), file=out)
    return 0


def invariants_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Check a deployment's payment invariants (final state or dead letter, audit trail, one payment per idempotency
    key, a notification per final transition): a table, then each violation; exit 1 on any violation."""
    # Imported here: the checker reads lambdas.shared.lifecycle, which no other command needs.
    from pipeline.reliability import deployed, invariants

    requests = invariants.read_requests(_path(settings, args.requests)) if args.requests else None
    deployment = deployed.Deployment.read(_path(settings, args.outputs), endpoint=args.endpoint)
    state = deployed.DeployedState.connect(deployment, deployment.session(settings.environ))
    report = invariants.check_invariants(
        state, requests=requests, merchant_id=args.merchant, notifications_from_queue=args.notifications_from_queue
    )
    out.write(report.render())
    if args.json:
        report.write_json(_path(settings, args.json))
    if not report.ok:
        raise PipelineError(f"{len(report.violations)} invariant violation(s), listed above")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True, metavar="command")

    def add(name: str, handler: Command) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=(handler.__doc__ or "").strip(), description=handler.__doc__)
        sub.set_defaults(handler=handler)
        return sub

    add("doctor", doctor)
    add("tf-config", tf_config).add_argument("--out", default=DEFAULT_TF_CONFIG)
    lock = add("tf-lock", tf_lock)
    lock.add_argument("--out", default=DEFAULT_LOCK_FILE)
    lock.add_argument("--platform", action="append", help=f"repeatable; default {DEFAULT_LOCK_PLATFORM}")
    lock.add_argument("--registry", action="store_true", help="hash from registry.terraform.io (other platforms)")
    add("package", package_).add_argument("--out", default=DEFAULT_DIST)
    check = add("validate", validate)
    check.add_argument("--stack-dir", required=True)
    check.add_argument("--lock-file", default=DEFAULT_LOCK_FILE)
    check.add_argument("--tf-config", default=DEFAULT_TF_CONFIG)
    planned = add("plan", plan_)
    planned.add_argument("--stack-dir", required=True)
    planned.add_argument("--out", default=DEFAULT_PLAN_OUT)
    planned.add_argument("--work-dir", default=DEFAULT_PLAN_WORK)
    planned.add_argument("--lock-file", default=DEFAULT_LOCK_FILE)
    planned.add_argument("--tf-config", default=DEFAULT_TF_CONFIG)
    gated = add("policy-gate", policy_gate)
    gated.add_argument("--input", action="append", required=True, help="cdk.tf.json or plan JSON; repeatable")
    gated.add_argument("--checks-dir", default=DEFAULT_CHECKS_DIR)
    gated.add_argument("--mapping", default=DEFAULT_MAPPING)
    gated.add_argument("--waivers", default=DEFAULT_WAIVERS)
    gated.add_argument("--out", default=DEFAULT_POLICY_OUT)
    gated.add_argument(
        "--require-every-check", action="store_true", help="fail when a mapped check has no result on any input"
    )
    gated.add_argument(
        "--today", type=dt.date.fromisoformat, default=dt.date.today(), help="YYYY-MM-DD (waiver expiry)"
    )
    add("localstack-venv", localstack_venv_).add_argument("--lock", default=str(localstack_venv.LOCK_FILE))
    up = add("localstack-up", localstack_up)
    up.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; default: a free one")
    up.add_argument("--timeout", type=float, default=localstack.START_TIMEOUT_SECONDS, help="seconds to healthy")
    add("localstack-down", localstack_down)
    for name, handler in (("localstack-deploy", localstack_deploy), ("localstack-destroy", localstack_destroy)):
        deployed = add(name, handler)
        deployed.add_argument("--stack-dir", required=True)
        deployed.add_argument("--evidence", default=f"{DEFAULT_POLICY_OUT}/{artifact.EVIDENCE_FILE}")
        deployed.add_argument("--lock-file", default=DEFAULT_LOCK_FILE)
        deployed.add_argument("--tf-config", default=DEFAULT_TF_CONFIG)
    whole = add("localstack-e2e", localstack_e2e)
    whole.add_argument("--stack-dir", required=True)
    whole.add_argument("--evidence", default=f"{DEFAULT_POLICY_OUT}/{artifact.EVIDENCE_FILE}")
    whole.add_argument("--lock-file", default=DEFAULT_LOCK_FILE)
    whole.add_argument("--tf-config", default=DEFAULT_TF_CONFIG)
    whole.add_argument("--junit", default="build/e2e/junit.xml")
    whole.add_argument("--work-root", default="build/localstack-e2e", help="the e2e instance's own directory")
    whole.add_argument("--tests", nargs="+", default=["tests/localstack"])
    whole.add_argument("--pytest-arg", action="append", help="extra pytest argument; repeatable")
    whole.add_argument("--workers", type=int, default=e2e.TEST_WORKERS, help="pytest-xdist workers (0: none)")
    whole.add_argument(
        "--destroy", action="store_true", help="terraform destroy before down (default: discard with the instance)"
    )
    whole.add_argument("--phase", action="append", type=_phase, help="NAME=SECONDS of an earlier phase (summary)")
    deployed_up = commands.choices["localstack-deploy"]
    deployed_up.add_argument("--port", type=int, default=0, help="port for a LocalStack started here")
    whole.add_argument("--summary", default="build/e2e/summary.json", help="the e2e summary (JSON) for the evidence")
    add("localstack-status", localstack_status)
    evidence_command.register(commands)
    trail = commands.add_parser("audit", help="the audit trail of promotions: verify").add_subparsers(
        dest="audit_command", required=True, metavar="step"
    )
    checked = trail.add_parser("verify", help=(audit_verify.__doc__ or "").strip(), description=audit_verify.__doc__)
    checked.set_defaults(handler=audit_verify)
    checked.add_argument("--env", required=True, help="environment name")
    checked.add_argument("--local", help="a local copy of the trail instead of the state bucket")
    evidence_command.add_trust_arguments(checked)
    promoted = add("promote", promote)
    promoted.add_argument("--env", required=True, help="a declared environment (environments/<name>.toml)")
    promoted.add_argument("--stack-dir", required=True)
    promoted.add_argument("--approve", help="sha256 of the saved plan to apply (printed by the planning run)")
    promoted.add_argument("--allow-replace", help="comma-separated addresses of stateful resources to replace/destroy")
    promoted.add_argument("--lock-file", default=DEFAULT_LOCK_FILE)
    promoted.add_argument("--tf-config", default=DEFAULT_TF_CONFIG)
    promoted.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(), help="YYYY-MM-DD")
    add("promote-bootstrap", promote_bootstrap).add_argument("--env", required=True)
    suite = add("unit-suite", unit_suite_)
    suite.add_argument("--name", required=True, help="the suite's name (its cache folder)")
    suite.add_argument("--junit", required=True)
    suite.add_argument("--coverage", required=True, help="coverage.py data file this process writes")
    suite.add_argument("--cache", default=DEFAULT_UNIT_CACHE)
    suite.add_argument("--no-cache", action="store_true", help="always run, record nothing")
    suite.add_argument("--exclude", action="append", help="a repository path the suite never reads; repeatable")
    suite.add_argument("--extra-file", action="append", help="an input git does not see; repeatable")
    suite.add_argument("--head", action="store_true", help="the suite reads the commit HEAD names (it clones)")
    suite.add_argument("tests", nargs="+", help="pytest arguments")
    checked_access = add("access-check", access_check)
    checked_access.add_argument("--input", required=True, help="the synthesized cdk.tf.json")
    checked_access.add_argument("--matrix", default=DEFAULT_ACCESS_MATRIX)
    checked_access.add_argument("--out", default=DEFAULT_POLICY_OUT)
    bind = add("merchant-bind", merchant_bind)
    bind.add_argument("--merchant", required=True, help="m_ + 6-32 lowercase letters or digits")
    bound = bind.add_mutually_exclusive_group(required=True)
    bound.add_argument("--new-api-key", action="store_true", help="create a key in the stage's usage plan")
    bound.add_argument("--api-key-id", help="an existing API key")
    bound.add_argument("--principal-arn", help="an IAM role or user (where AWS_IAM is enforced)")
    bind.add_argument("--show-key-value", action="store_true", help="print a new key's value")
    bind.add_argument("--bound-by", help="who binds (recorded with the binding); default $USER")
    revoke = add("merchant-revoke", merchant_revoke)
    revoked = revoke.add_mutually_exclusive_group(required=True)
    revoked.add_argument("--api-key-id")
    revoked.add_argument("--principal-arn")
    revoke.add_argument("--delete-api-key", action="store_true", help="also delete the API key")
    add("merchant-list", merchant_list).add_argument("--merchant", required=True)
    for name in ("merchant-bind", "merchant-revoke", "merchant-list"):
        commands.choices[name].add_argument("--outputs", default=DEFAULT_OUTPUTS, help="the deployment's outputs")
    checked_invariants = add("invariants", invariants_)
    checked_invariants.add_argument("--outputs", default=DEFAULT_OUTPUTS, help="the deployment's outputs")
    checked_invariants.add_argument("--endpoint", help="LocalStack's URL; default: the outputs' own, else AWS")
    checked_invariants.add_argument("--requests", help="accepted requests (JSON lines); default: every payment")
    checked_invariants.add_argument("--merchant", help="only this merchant's payments")
    checked_invariants.add_argument(
        "--notifications-from-queue", action="store_true", help="also find each final event on the notification queue"
    )
    checked_invariants.add_argument("--json", help="also write the report as JSON to this path")
    keyed = add("artifact-key", artifact_key)
    keyed.add_argument("--stack-dir", required=True)
    keyed.add_argument("--out", required=True)
    merged = add("junit-merge", junit_merge)
    merged.add_argument("--out", required=True)
    merged.add_argument("parts", nargs="+")
    return root


def interrupt_on_sigterm() -> None:
    """A CI cancel sends SIGTERM: unwind like Ctrl-C, so every teardown (LocalStack, terraform) runs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Parse arguments, build the settings from the environment, run one command; 1 on a pipeline error."""
    args = parser().parse_args(argv)
    settings = from_environ(os.environ if environ is None else environ, Path.cwd())
    try:
        handler: Command = args.handler
        return handler(args, settings, out or sys.stdout)
    except Refusal as refused:
        print(f"refused ({refused.reason.name}, exit {refused.status}): {refused}", file=err or sys.stderr)
        return refused.status
    except PipelineError as exc:
        print(f"error: {exc}", file=err or sys.stderr)
        return 1
