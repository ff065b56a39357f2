"""Terraform steps run against a synthesized stack: offline init with the committed lock file, then validate."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.files import write_if_changed
from pipeline.core.runner import CommandFailed, run
from pipeline.core.settings import Settings
from pipeline.core.toolchain import AWS_PROVIDER, AWS_PROVIDER_VERSION, ProviderSource

LOCK_FILE = ".terraform.lock.hcl"
STACK_FILE = "cdk.tf.json"
# How terraform says the committed lock file does not fit the stack (other version, new provider,
# other platform's package).
LOCK_MISMATCH = (
    "does not match configured version constraint",
    "lock file is read-only",
    "checksums previously recorded",
)
LOCK_HINT = (
    "The stack asks for providers or versions that terraform/.terraform.lock.hcl does not cover: "
    "regenerate it with `make tf-lock` (a platform other than linux_amd64 needs the registry)."
)


@dataclass(frozen=True)
class Validated:
    stack_dir: Path
    output: str


def validate(stack_dir: Path, *, lock_file: Path, cli_config: Path, terraform: Path, settings: Settings) -> Validated:
    """Copy the committed lock file in, ``terraform init`` without backend and read-only lock, then validate."""
    if not (stack_dir / STACK_FILE).is_file():
        raise PipelineError(f"{stack_dir / STACK_FILE} does not exist: synthesize the stack first (`make synth`).")
    if not lock_file.is_file():
        raise PipelineError(f"{lock_file} does not exist: generate it with `make tf-lock`.")
    shutil.copyfile(lock_file, stack_dir / LOCK_FILE)
    env = settings.child_env(TF_CLI_CONFIG_FILE=str(cli_config))
    init: list[str | Path] = [terraform, "init", "-backend=false", "-input=false", "-lockfile=readonly", "-no-color"]
    try:
        run(init, env=env, cwd=stack_dir, check=f"terraform init in {stack_dir}")
    except CommandFailed as exc:
        if any(sign in " ".join(exc.result.output.split()) for sign in LOCK_MISMATCH):
            raise PipelineError(f"{exc}\n{LOCK_HINT}") from None
        raise
    result = run(
        [terraform, "validate", "-no-color"], env=env, cwd=stack_dir, check=f"terraform validate in {stack_dir}"
    )
    return Validated(stack_dir, result.stdout.strip())


def lock(out: Path, *, source: ProviderSource, platforms: Sequence[str], terraform: Path, settings: Settings) -> bool:
    """Write the lock file for hashicorp/aws at the pinned version (offline from the mirror when there is one).

    Runs ``terraform providers lock`` in a scratch directory holding only ``required_providers``;
    True when ``out`` changed.
    """
    with tempfile.TemporaryDirectory(prefix="tf-lock-") as scratch:
        work = Path(scratch)
        required = {"aws": {"source": AWS_PROVIDER, "version": AWS_PROVIDER_VERSION}}
        (work / "main.tf.json").write_text(json.dumps({"terraform": {"required_providers": required}}))
        args: list[str | Path] = [terraform, "providers", "lock", "-no-color"]
        if source.mirror is not None:
            args.append(f"-fs-mirror={source.mirror}")
        args += [f"-platform={platform}" for platform in platforms]
        # No CLI config: with -fs-mirror terraform reads only the mirror; without, only the registry.
        run(args, env=settings.child_env(TF_CLI_CONFIG_FILE="/dev/null"), cwd=work, check="terraform providers lock")
        text = (work / LOCK_FILE).read_text(encoding="utf-8")
    return write_if_changed(out, text)
