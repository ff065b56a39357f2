"""The deployable artifact: a synthesized stack directory, named by one SHA-256, and the evidence it passed.

The digest covers ``cdk.tf.json`` and every asset under the stack directory (the Lambda archives), by
relative path and content; what terraform or the pipeline add later (``.terraform``, override files,
state, plans, the lock file copy) is not part of it. The policy gate writes ``evidence.json`` naming
the digest it passed; a deployment recomputes the digest of what it is about to apply and refuses
anything else, so the artifact that reaches LocalStack (or AWS) is byte for byte the checked one.
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

from pipeline.errors import PipelineError
from pipeline.files import sha256_file, write_if_changed

STACK_FILE = "cdk.tf.json"
EVIDENCE_FILE = "evidence.json"
# Added next to the artifact by terraform or by the pipeline; never part of it.
NOT_ARTIFACT_DIRS = frozenset({".terraform"})
NOT_ARTIFACT_SUFFIXES = ("_override.tf.json", ".tfstate", ".tfstate.backup", ".lock.hcl", ".lock.info")
NOT_ARTIFACT_NAMES = frozenset({"tfplan"})


@dataclass(frozen=True)
class Artifact:
    """A stack directory's digest and the files it covers (relative path -> sha256)."""

    sha256: str
    files: tuple[tuple[str, str], ...]

    @property
    def short(self) -> str:
        return self.sha256[:12]


def _belongs(relative: Path) -> bool:
    if any(part in NOT_ARTIFACT_DIRS for part in relative.parts):
        return False
    name = relative.name
    return name not in NOT_ARTIFACT_NAMES and not name.endswith(NOT_ARTIFACT_SUFFIXES)


def artifact_files(stack_dir: Path) -> Iterator[Path]:
    """The artifact's files under ``stack_dir``, sorted, as paths relative to it."""
    found = []
    for root, dirs, names in os.walk(stack_dir):
        dirs[:] = sorted(d for d in dirs if d not in NOT_ARTIFACT_DIRS)
        for name in names:
            relative = (Path(root) / name).relative_to(stack_dir)
            if _belongs(relative):
                found.append(relative)
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
        passed = json.loads(evidence_file.read_text(encoding="utf-8"))["artifact_sha256"]
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
