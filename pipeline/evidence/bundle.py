"""An artifact's evidence bundle: what the pipeline proved about one artifact digest, signed.

Layout, ``<evidence root>/<environment>/<artifact_sha256>/`` (``build/evidence/...`` by default)::

    policy/evidence.json, junit.xml, policy.sarif, pci_coverage.md, summary.txt
                                   the policy gate's verdict and reports as it wrote them (build/policy/)
    policy/waivers-applied.json    the waivers that applied (check, resource, owner, justification, expiry)
    suites/<name>.xml              JUnit XML of each test suite (unit-infra, unit-code, e2e)
    e2e/summary.json               the summary of ``make localstack-e2e`` (commit, result, phases, counts)
    manifest.dsse.json             a DSSE envelope (``signing``) over an in-toto Statement v1

The manifest's Statement and its predicate are described in ``pipeline.evidence.predicate``.

Evidence accumulates: ``make verify`` records the policy and unit parts, ``make localstack-e2e`` the
policy and e2e parts, and every ``record`` re-signs the whole manifest. Parts recorded at another
commit, or signed by another key, are dropped (the output says so), never carried over unverified; a
bundle file that no longer matches the manifest stops the recording (it was edited).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.build import artifact
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file, write_if_changed
from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.e2e import run as e2e
from pipeline.evidence import signing
from pipeline.evidence.predicate import (
    E2E_SUITE,
    E2E_SUMMARY,
    PAYLOAD_TYPE,
    POLICY_DIR,
    POLICY_FILES,
    SUITE_NAME,
    WAIVERS_APPLIED,
    AppliedWaiver,
    Counts,
    E2EPart,
    PolicyPart,
    Predicate,
    Recording,
    SuitePart,
    encode,
    field_of,
    junit_counts,
    policy_junit,
    statement,
)
from pipeline.policy import waivers

MANIFEST = "manifest.dsse.json"


def bundle_dir(evidence_root: Path, environment: str, artifact_sha256: str) -> Path:
    """Where the evidence of one artifact of one environment lives."""
    return evidence_root / environment / artifact_sha256


# --- the commit ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitState:
    """The commit checked out, and what ``git status --porcelain`` lists (uncommitted or untracked files)."""

    commit: str
    modified: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.modified


def git_state(settings: Settings) -> GitState:
    """The repository's HEAD commit and uncommitted changes; :class:`PipelineError` outside a git checkout."""
    env = settings.child_env()
    head = run(["git", "rev-parse", "--verify", "HEAD"], env=env, cwd=settings.repo_root)
    if head.returncode != 0:
        raise PipelineError(
            f"{settings.repo_root} is not a git checkout with a commit: evidence is bound to a commit ({head.output})."
        )
    status = run(["git", "status", "--porcelain"], env=env, cwd=settings.repo_root, check="git status")
    modified = tuple(line[3:] for line in status.stdout.splitlines() if line.strip())
    return GitState(head.stdout.strip(), modified)


# --- the e2e summary -------------------------------------------------------------------------------------


def e2e_summary_document(summary: e2e.Summary, junit: Path, git: GitState) -> dict[str, Any]:
    """The e2e summary as JSON: artifact digest, commit, result, phases (seconds), counts, problems, JUnit sha256.

    ``git`` is the checkout the run started from: the commit, and whether it had uncommitted changes, bind
    the summary to the test code that ran. The JUnit's sha256 binds the report to this summary; ``junit``
    is ``null`` when no report was written.
    """
    counts = summary.counts
    return {
        "artifactSha256": summary.artifact_sha256,
        "commit": git.commit,
        "worktreeClean": git.clean,
        "result": "passed" if summary.ok else "failed",
        "counts": Counts(counts.tests, counts.failures, counts.errors, counts.skipped).to_json() if counts else None,
        "phases": [
            {"name": name, "seconds": round(seconds, 3), "state": state} for name, seconds, state in summary.phases
        ],
        "peakRssBytes": summary.peak_rss,
        "problems": list(summary.problems),
        "leftovers": list(summary.leftovers),
        "junit": {"path": str(junit), "sha256": sha256_file(junit)} if junit.is_file() else None,
    }


def write_e2e_summary(summary: e2e.Summary, junit: Path, path: Path, git: GitState) -> None:
    """Write :func:`e2e_summary_document` to ``path`` (the e2e run does, next to its JUnit report)."""
    write_if_changed(path, json.dumps(e2e_summary_document(summary, junit, git), indent=2, sort_keys=True) + "\n")


# --- recording -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRequest:
    """What one pipeline step adds to the bundle of the artifact in ``stack_dir``.

    ``policy_dir``: the gate's output (``build/policy``), with ``waivers_file`` (``policies/waivers.yaml``)
    to name the waivers that applied; ``suites``: (name, JUnit XML path) pairs (names ``[a-z][a-z0-9-]*``,
    ``e2e`` is reserved for the e2e summary's report); ``e2e_summary``: the e2e run's ``summary.json``.
    ``now`` is the recording time (UTC).
    """

    environment: str
    stack_dir: Path
    evidence_root: Path
    git: GitState
    now: dt.datetime
    policy_dir: Path | None = None
    waivers_file: Path | None = None
    suites: Sequence[tuple[str, Path]] = ()
    e2e_summary: Path | None = None


@dataclass(frozen=True)
class Recorded:
    """The bundle after recording: where, the signed predicate, and what happened to earlier evidence."""

    bundle_dir: Path
    predicate: Predicate
    key: signing.SigningKey
    notes: tuple[str, ...]

    def describe(self) -> str:
        p = self.predicate
        dirty = (
            "" if all(r.worktree_clean for r in _recordings(p)) else " (a part was recorded with uncommitted changes)"
        )
        lines = [
            f"evidence of artifact {p.artifact_sha256} (environment {p.environment}, commit {p.commit[:12]}{dirty}):",
            *p.describe(),
            *(f"  note: {note}" for note in self.notes),
            f"{self.bundle_dir / MANIFEST}: {self.key.describe()}",
        ]
        return "\n".join(lines) + "\n"


def _recordings(predicate: Predicate) -> list[Recording]:
    found = [predicate.policy.recording] if predicate.policy else []
    found += [suite.recording for suite in predicate.suites.values()]
    found += [predicate.e2e.recording] if predicate.e2e else []
    return found


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def _policy_part(request: RecordRequest, fresh: artifact.Artifact, recording: Recording, into: Path) -> PolicyPart:
    assert request.policy_dir is not None
    policy_dir = request.policy_dir
    evidence_file = policy_dir / artifact.EVIDENCE_FILE
    if not evidence_file.is_file():
        raise PipelineError(
            f"no policy verdict at {evidence_file}: the artifact has not passed the policy gate (`make policy`)."
        )
    try:
        passed = json.loads(evidence_file.read_text(encoding="utf-8"))
        passed_sha, passed_at = str(passed["artifact_sha256"]), str(passed["passed_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{evidence_file} is not policy evidence ({exc}): run `make policy` again.") from None
    if passed_sha != fresh.sha256:
        raise PipelineError(
            f"the policy verdict in {policy_dir} is for artifact {passed_sha[:12]}, not for the one in "
            f"{request.stack_dir} ({fresh.short}): run `make policy` on it."
        )
    missing = [name for name in POLICY_FILES if not (policy_dir / name).is_file()]
    if missing:
        raise PipelineError(f"the policy gate's reports are incomplete in {policy_dir}: {', '.join(missing)} missing.")
    findings, failures, problems, waived = policy_junit(policy_dir / "junit.xml")
    applied = _applied_waivers(waived, request.waivers_file, policy_dir / "junit.xml")
    for name in POLICY_FILES:
        _copy(policy_dir / name, into / POLICY_DIR / name)
    document = [w.to_json() for w in applied]
    write_if_changed(into / WAIVERS_APPLIED, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return PolicyPart(failures == problems == 0, passed_at, findings, failures, problems, applied, recording)


def _applied_waivers(waived: set[tuple[str, str]], waivers_file: Path | None, junit: Path) -> tuple[AppliedWaiver, ...]:
    if not waived:
        return ()
    if waivers_file is None:
        raise PipelineError(f"{junit} has waived findings: name the waivers file they came from.")
    known = {(w.check, w.resource): w for w in waivers.load(waivers_file)}
    unknown = sorted(f"{check} on {resource}" for check, resource in waived if (check, resource) not in known)
    if unknown:
        raise PipelineError(
            f"{junit} waives findings {waivers_file} no longer holds ({'; '.join(unknown)}): run `make policy` again."
        )
    chosen = (known[key] for key in sorted(waived))
    return tuple(AppliedWaiver(w.check, w.resource, w.owner, w.justification, w.expires) for w in chosen)


def _suite_part(name: str, junit: Path, recording: Recording, into: Path) -> SuitePart:
    if not SUITE_NAME.match(name):
        raise PipelineError(f"suite name {name!r}: use lower-case letters, digits and '-', starting with a letter.")
    part = SuitePart(name, junit_counts(junit), recording)
    _copy(junit, into / part.file)
    return part


def _e2e_part(
    summary_file: Path, fresh: artifact.Artifact, git: GitState, recording: Recording, into: Path
) -> tuple[E2EPart, SuitePart | None]:
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        summary_sha = field_of(summary, "artifactSha256", str)
        ran_at, ran_clean = field_of(summary, "commit", str), field_of(summary, "worktreeClean", bool)
        result = field_of(summary, "result", str)
        counts = Counts.from_json(summary["counts"]) if summary["counts"] is not None else None
        junit = summary["junit"]
        problems = tuple(str(p) for p in field_of(summary, "problems", list))
        problems += tuple(str(p) for p in field_of(summary, "leftovers", list))
    except FileNotFoundError:
        raise PipelineError(f"no e2e summary at {summary_file}: run `make localstack-e2e ENV=...`.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{summary_file} is not an e2e summary ({exc}).") from None
    if summary_sha != fresh.sha256:
        raise PipelineError(
            f"the e2e summary {summary_file} is for artifact {summary_sha[:12] or '(none)'}, not for this one "
            f"({fresh.short}): run `make localstack-e2e` on it."
        )
    if ran_at != git.commit:
        raise PipelineError(
            f"the e2e summary {summary_file} is of a run at commit {ran_at[:12]}, not at {git.commit[:12]}: "
            "run `make localstack-e2e` on this commit."
        )
    recording = dataclasses.replace(recording, worktree_clean=recording.worktree_clean and ran_clean)
    suite = None
    if junit is not None:
        report = Path(str(junit["path"]))
        if not report.is_file() or sha256_file(report) != junit["sha256"]:
            raise PipelineError(f"the e2e JUnit report {report} is not the one {summary_file} was written with.")
        suite = _suite_part(E2E_SUITE, report, recording, into)
    if counts is not None and (suite is None or suite.counts != counts):
        raise PipelineError(f"{summary_file} and its JUnit report disagree on the test counts.")
    _copy(summary_file, into / E2E_SUMMARY)
    return E2EPart(result == "passed", counts, problems, recording), suite


def _previous(into: Path, key: signing.SigningKey, request: RecordRequest, notes: list[str]) -> Predicate | None:
    """The bundle's verified predicate, if it can be carried over; else ``None`` (and the bundle emptied)."""
    manifest = into / MANIFEST
    if not manifest.is_file():
        _empty(into)
        return None
    what = str(manifest)
    try:
        opened = signing.open_envelope(manifest.read_bytes(), PAYLOAD_TYPE, signing.trust_signer(key), what)
    except signing.SignatureError as exc:
        if exc.reason not in ("untrusted", "local-key"):
            raise PipelineError(f"{exc} Delete {into} and run the steps that record evidence again.") from None
        notes.append(f"earlier evidence in {into} was signed by another key: dropped, not re-signed unverified")
        _empty(into)
        return None
    try:
        document = json.loads(opened.payload)
        predicate = Predicate.from_json(document["predicate"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{what} does not hold an evidence statement ({exc}): delete {into}.") from None
    if (predicate.environment, predicate.artifact_sha256) != (request.environment, into.name):
        raise PipelineError(f"{what} is the evidence of another environment or artifact: delete {into}.")
    if predicate.commit != request.git.commit:
        notes.append(f"earlier evidence of commit {predicate.commit[:12]} dropped (this is {request.git.commit[:12]})")
        _empty(into)
        return None
    for name, sha in sorted(predicate.files.items()):
        path = into / name
        if not path.is_file() or sha256_file(path) != sha:
            raise PipelineError(
                f"{path} was edited or removed since {what} was signed: delete {into} and record the evidence again."
            )
    return predicate


def _empty(into: Path) -> None:
    if into.exists():
        shutil.rmtree(into)


def record(request: RecordRequest, key: signing.SigningKey) -> Recorded:
    """Add a step's evidence to the bundle of the artifact in ``request.stack_dir`` and re-sign its manifest.

    The artifact is hashed afresh (``pipeline.artifact.digest``); the policy verdict and the e2e summary
    must name that digest. Raises :class:`PipelineError` (one sentence) for: a missing or foreign policy
    verdict or e2e summary, a JUnit report that is missing or not JUnit, an e2e report that is not the one
    its summary was written with, waived findings the waivers file no longer holds, a bundle file edited
    since it was signed.
    """
    fresh = artifact.digest(request.stack_dir)
    into = bundle_dir(request.evidence_root, request.environment, fresh.sha256)
    notes: list[str] = []
    previous = _previous(into, key, request, notes)
    into.mkdir(parents=True, exist_ok=True)
    recording = Recording(
        request.now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), request.git.clean
    )
    policy = previous.policy if previous else None
    suites = dict(previous.suites) if previous else {}
    e2e_part = previous.e2e if previous else None
    if request.policy_dir is not None:
        policy = _policy_part(request, fresh, recording, into)
    for name, junit in request.suites:
        if name == E2E_SUITE:
            raise PipelineError(f"the suite name {E2E_SUITE!r} is the e2e run's: give its summary instead.")
        suites[name] = _suite_part(name, junit, recording, into)
    if request.e2e_summary is not None:
        e2e_part, e2e_suite = _e2e_part(request.e2e_summary, fresh, request.git, recording, into)
        suites.pop(E2E_SUITE, None)
        if e2e_suite is not None:
            suites[E2E_SUITE] = e2e_suite
    predicate = Predicate(
        request.environment, request.git.commit, fresh.sha256, key.keyid, key.local, policy, suites, e2e_part
    )
    referenced = predicate.referenced_files()
    for path in sorted(p for p in into.rglob("*") if p.is_file()):
        name = path.relative_to(into).as_posix()
        if name != MANIFEST and name not in referenced:
            path.unlink()
            notes.append(f"removed {name}: no part of the evidence names it")
    files = {name: sha256_file(into / name) for name in sorted(referenced)}
    predicate = dataclasses.replace(predicate, files=files)
    envelope = signing.sign_envelope(encode(statement(fresh, predicate)), PAYLOAD_TYPE, key)
    write_if_changed(into / MANIFEST, envelope.decode())
    return Recorded(into, predicate, key, tuple(notes))
