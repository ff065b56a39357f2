"""``python -m pipeline evidence sign|verify``: the evidence commands (registered by ``pipeline.cli``).

Until the environment files carry an ``[evidence]`` table, the keys an environment trusts come from
``--trusted-key`` (repeatable, repository-relative PEM paths) and ``--accept-local-keys``; the make
targets pass ``--accept-local-keys`` for the LocalStack-kind environments only.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from pipeline.build import artifact
from pipeline.core.errors import PipelineError
from pipeline.core.settings import Settings
from pipeline.evidence import bundle, signing, verify

DEFAULT_EVIDENCE = "build/evidence"
DEFAULT_KEYS = "build/keys"
DEFAULT_WAIVERS = "policies/waivers.yaml"
Handler = Callable[[argparse.Namespace, Settings, TextIO], int]


def _suite(value: str) -> tuple[str, str]:
    name, _, path = value.partition("=")
    if not name or not path:
        raise argparse.ArgumentTypeError(f"--suite wants NAME=JUNIT_XML, not {value!r}")
    return name, path


def trust_arguments(args: argparse.Namespace, settings: Settings) -> tuple[list[Path], bool]:
    """Trusted key files (absolute) and whether local keys are accepted: ``--trusted-key`` / ``--accept-local-keys``
    when given, else the ``[evidence]`` table of ``environments/<env>.toml`` (``stacks.config``)."""
    if args.trusted_key or args.accept_local_keys:
        return [settings.repo_root / key for key in args.trusted_key or ()], bool(args.accept_local_keys)
    from stacks.config import ConfigError
    from stacks.config import load as load_environment

    environ = {**settings.environ, "PAYGATE_ENVIRONMENT": args.env}
    try:
        trust = load_environment(environ, settings.repo_root / "environments").config.evidence
    except ConfigError as exc:
        raise PipelineError(f"whose keys environment {args.env!r} trusts is unknown: {exc}") from None
    return [settings.repo_root / str(key) for key in trust.trusted_keys], trust.accept_local_keys


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--keys``, ``--trusted-key`` and ``--accept-local-keys`` (shared with ``audit verify``)."""
    parser.add_argument("--keys", default=DEFAULT_KEYS, help="where this machine's throwaway key lives")
    parser.add_argument("--trusted-key", action="append", help="PEM ed25519 public key the env trusts; repeatable")
    parser.add_argument("--accept-local-keys", action="store_true", help="trust this machine's throwaway key")


def sign(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Add this step's evidence (policy verdict, JUnit reports, e2e summary) to the artifact's bundle; re-sign it."""
    key = signing.signing_key(settings.signing_key, settings.repo_root / args.keys)
    root = settings.repo_root
    request = bundle.RecordRequest(
        environment=args.env,
        stack_dir=root / args.stack_dir,
        evidence_root=root / args.evidence,
        git=bundle.git_state(settings),
        now=dt.datetime.now(dt.UTC),
        policy_dir=root / args.policy if args.policy else None,
        waivers_file=root / args.waivers,
        suites=[(name, root / path) for name, path in args.suite or ()],
        e2e_summary=root / args.e2e_summary if args.e2e_summary else None,
    )
    out.write(bundle.record(request, key).describe())
    return 0


def verify_(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Check the artifact's signed evidence against the freshly synthesized stack; exit 1 unless promotable."""
    root = settings.repo_root
    stack_dir = root / args.stack_dir
    if args.bundle:
        where = root / args.bundle
    else:
        where = bundle.bundle_dir(root / args.evidence, args.env, artifact.digest(stack_dir).sha256)
    trusted, accept_local = trust_arguments(args, settings)
    verified = verify.verify_bundle(
        where, stack_dir, trusted, accept_local, environment=args.env, local_keys_dir=root / args.keys
    )
    out.write(verified.describe())
    verify.check_promotable(verified, commit=bundle.git_state(settings).commit, today=args.today)
    print(f"the evidence allows promoting artifact {verified.artifact_sha256} to {args.env}", file=out)
    return 0


def register(commands: Any) -> None:
    """Add ``evidence sign`` and ``evidence verify`` to the CLI's sub-parsers (``argparse`` ``_SubParsersAction``)."""
    group = commands.add_parser("evidence", help="signed evidence per artifact: sign, verify")
    steps = group.add_subparsers(dest="evidence_command", required=True, metavar="step")

    def add(name: str, handler: Handler) -> argparse.ArgumentParser:
        step: argparse.ArgumentParser = steps.add_parser(
            name, help=(handler.__doc__ or "").strip(), description=handler.__doc__
        )
        step.set_defaults(handler=handler)
        step.add_argument("--env", required=True, help="environment name")
        step.add_argument("--stack-dir", required=True, help="the synthesized stack (the artifact)")
        step.add_argument("--evidence", default=DEFAULT_EVIDENCE, help="root of the evidence bundles")
        return step

    signed = add("sign", sign)
    signed.add_argument("--keys", default=DEFAULT_KEYS, help="where this machine's throwaway key lives")
    signed.add_argument("--policy", help="the policy gate's output dir (build/policy) to record")
    signed.add_argument("--waivers", default=DEFAULT_WAIVERS, help="the waivers file the gate applied")
    signed.add_argument("--suite", action="append", type=_suite, help="NAME=JUNIT_XML of a test suite; repeatable")
    signed.add_argument("--e2e-summary", help="the e2e run's summary.json to record (with its JUnit report)")
    checked = add("verify", verify_)
    add_trust_arguments(checked)
    checked.add_argument("--bundle", help="a bundle dir (default: <evidence>/<env>/<sha256 of the fresh artifact>)")
    checked.add_argument(
        "--today", type=dt.date.fromisoformat, default=dt.date.today(), help="YYYY-MM-DD (waiver expiry)"
    )
