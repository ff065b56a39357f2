"""``python -m pipeline <command>``: the entry point, and the only code that reads the process environment."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from pipeline import dependencies, package, terraform, tfconfig, toolchain
from pipeline.errors import PipelineError
from pipeline.files import write_if_changed
from pipeline.settings import Settings, from_environ

DEFAULT_TF_CONFIG = "build/terraform.tfrc"
DEFAULT_LOCK_FILE = "terraform/.terraform.lock.hcl"
DEFAULT_DIST = "build/dist"
DEFAULT_LOCK_PLATFORM = "linux_amd64"  # the only platform the offline mirror holds
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
        FUNCTION_HANDLERS, repo_root=settings.repo_root, out_dir=_path(settings, args.out), layer=layer
    )
    for key, record in outcome.archives.items():
        state = "written" if key in outcome.written else "unchanged"
        print(f"{record.file}: {state}, {record.size} bytes, {record.files} files, sha256 {record.sha256}", file=out)
    print(f"packaged {len(outcome.archives)} functions in {time.monotonic() - started:.2f} s", file=out)
    return 0


def validate(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """terraform init (offline, read-only lock) and validate on a synthesized stack."""
    binary = toolchain.find_terraform(settings).path
    config = _path(settings, args.tf_config)
    _render_config(settings, config, out)
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
    return root


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
    except PipelineError as exc:
        print(f"error: {exc}", file=err or sys.stderr)
        return 1
