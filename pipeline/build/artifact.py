"""The deployable artifact: a synthesized stack directory, named by one SHA-256, and the evidence it passed.

The artifact is what terraform reads from the stack directory: its configuration files (``*.tf`` and
``*.tf.json`` at the top level, ``cdk.tf.json`` first of all) and the assets ``cdk.tf.json`` names
(``assets/...`` paths: the Lambda archives), by relative path and content. Nothing else in the
directory is part of it, so the digest does not depend on what else lies there: what terraform or the
pipeline add later (``.terraform``, override files, state, plans, the lock file copy), an editor's or
file browser's files (``.DS_Store``, swap files), or the asset folder of a function an earlier synth
had (cdktf replaces an asset's folder, but never removes one no construct names any more). A named
asset that is missing is simply not part of it. The policy gate writes ``evidence.json`` naming the
digest it passed; a deployment recomputes the digest of what it is about to apply and refuses
anything else, and copies only the artifact's files, so what reaches LocalStack (or AWS) is byte for
byte the checked artifact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file, write_if_changed

STACK_FILE = "cdk.tf.json"
EVIDENCE_FILE = "evidence.json"
ASSETS_PREFIX = "assets/"  # cdktf's TerraformAsset folder, relative to the stack directory
# Configuration-like files terraform or the pipeline add next to the artifact; never part of it.
NOT_ARTIFACT_SUFFIXES = ("_override.tf", "_override.tf.json", "override.tf", "override.tf.json")
NOT_ARTIFACT_NAMES = frozenset({"tfplan"})


@dataclass(frozen=True)
class Artifact:
    """A stack directory's digest and the files it covers (relative path -> sha256)."""

    sha256: str
    files: tuple[tuple[str, str], ...]

    @property
    def short(self) -> str:
        return self.sha256[:12]


def _configuration(name: str) -> bool:
    """A file terraform reads as configuration from the stack directory (not one it or the pipeline writes)."""
    return (
        name.endswith((".tf", ".tf.json"))
        and name not in NOT_ARTIFACT_NAMES
        and not name.endswith(NOT_ARTIFACT_SUFFIXES)
    )


def _asset_references(stack_dir: Path) -> set[str]:
    """The ``assets/...`` paths ``cdk.tf.json`` names (cdktf's asset folder; a file, or a directory asset)."""
    try:
        document = json.loads((stack_dir / STACK_FILE).read_bytes())  # RFC 8259: JSON is UTF-8
    except ValueError as exc:
        raise PipelineError(f"{stack_dir / STACK_FILE} is not JSON ({exc}): synthesize the stack again.") from None
    found: set[str] = set()
    pending: list[object] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str) and value.startswith(ASSETS_PREFIX):
            found.add(value)  # "assets/site/" and "assets/site" name the same folder (pathlib drops the "/")
    return found


def artifact_files(stack_dir: Path) -> Iterator[Path]:
    """The artifact's files under ``stack_dir``, sorted, as paths relative to it.

    A named asset that is not there is not part of it (the policy gate may check a stack whose archives
    are elsewhere; terraform reports the missing file). Raises :class:`PipelineError` when ``cdk.tf.json``
    is not JSON or names an asset outside ``stack_dir``.
    """
    found = {Path(entry.name) for entry in os.scandir(stack_dir) if entry.is_file() and _configuration(entry.name)}
    for reference in sorted(_asset_references(stack_dir)):
        path = stack_dir / reference
        if ".." in Path(reference).parts:
            raise PipelineError(f"{stack_dir / STACK_FILE} names the asset {reference}, outside {stack_dir}.")
        if path.is_file():
            found.add(Path(reference))
        elif path.is_dir():
            found.update(p.relative_to(stack_dir) for p in path.rglob("*") if p.is_file())
    yield from sorted(found, key=lambda p: p.as_posix())


def digest(stack_dir: Path) -> Artifact:
    """SHA-256 over (relative path, content sha256) of every artifact file; refuses a dir without cdk.tf.json."""
    if not (stack_dir / STACK_FILE).is_file():
        raise PipelineError(f"{stack_dir / STACK_FILE} does not exist: synthesize the stack first (`make synth`).")
    files = tuple((relative.as_posix(), sha256_file(stack_dir / relative)) for relative in artifact_files(stack_dir))
    total = hashlib.sha256()
    for name, sha in files:
        total.update(f"{sha}  {name}\n".encode())
    return Artifact(total.hexdigest(), files)


@dataclass(frozen=True)
class Evidence:
    """What the policy gate passed: the artifact digest, the inputs it scanned, when."""

    artifact_sha256: str
    stack_dir: str
    inputs: tuple[tuple[str, str], ...]
    passed_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def record_evidence(out_dir: Path, stack_dir: Path, inputs: Sequence[Path], now: dt.datetime) -> Evidence:
    """Write ``evidence.json`` for an artifact that has just passed the gate on ``inputs``."""
    evidence = Evidence(
        artifact_sha256=digest(stack_dir).sha256,
        stack_dir=str(stack_dir),
        inputs=tuple((str(path), sha256_file(path)) for path in inputs),
        passed_at=now.isoformat(timespec="seconds"),
    )
    write_if_changed(out_dir / EVIDENCE_FILE, evidence.to_json())
    return evidence


def forget_evidence(out_dir: Path) -> None:
    """A gate run that has not passed (yet) leaves no evidence behind."""
    (out_dir / EVIDENCE_FILE).unlink(missing_ok=True)


def require_evidence(evidence_file: Path, stack_dir: Path) -> Artifact:
    """The artifact in ``stack_dir``, if and only if it is the one the gate passed; else a clear refusal."""
    if not evidence_file.is_file():
        raise PipelineError(
            f"no policy evidence at {evidence_file}: the artifact has not passed the policy gate (`make policy`)."
        )
    try:
        passed = json.loads(evidence_file.read_bytes())["artifact_sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{evidence_file} is not policy evidence ({exc}): run `make policy` again.") from None
    artifact = digest(stack_dir)
    if artifact.sha256 != passed:
        raise PipelineError(
            f"the artifact in {stack_dir} (sha256 {artifact.short}) is not the one the policy gate passed "
            f"({str(passed)[:12]}): run `make policy` on it before deploying."
        )
    return artifact


def copy_artifact(stack_dir: Path, target: Path, expected: Artifact) -> Artifact:
    """Recreate ``target`` with the files of ``expected`` (copies: a re-synth may rewrite files in place) and
    refuse the copy unless its digest is ``expected``'s: what terraform reads is what was checked."""
    if target.exists():
        shutil.rmtree(target)
    for name, _ in expected.files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stack_dir / name, destination)
    copied = digest(target)
    if copied.sha256 != expected.sha256:
        raise PipelineError(
            f"the copy of {stack_dir} in {target} (sha256 {copied.short}) is not the checked artifact "
            f"({expected.short}): something rewrote the stack meanwhile; synthesize and run `make policy` again."
        )
    return copied
