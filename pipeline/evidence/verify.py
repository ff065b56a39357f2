"""Check an evidence bundle against a freshly synthesized artifact, and decide whether it may be promoted.

Nothing in the bundle is taken on trust: the artifact is hashed again from the stack directory (the
bundle's own digest is only compared with it), the manifest's signature must verify with a key the
environment trusts, every bundle file must have the sha256 the signed manifest gives it (and no other
file may lie there), and the counts the manifest states are re-read from the JUnit reports and the e2e
summary they came from. Synthesis is deterministic, so a bundle recorded on one machine or CI job is
re-checked on another.

Refusals are :class:`EvidenceRefused` with one sentence and a ``reason`` (:data:`REASONS`), so a caller
can map each kind to its own exit status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.build import artifact
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file
from pipeline.evidence import signing
from pipeline.evidence.bundle import MANIFEST, bundle_dir
from pipeline.evidence.predicate import (
    ARTIFACT_SUBJECT,
    E2E_SUITE,
    E2E_SUMMARY,
    PAYLOAD_TYPE,
    POLICY_DIR,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    WAIVERS_APPLIED,
    Counts,
    E2EPart,
    PolicyPart,
    Predicate,
    SuitePart,
    junit_counts,
    policy_junit,
)

# Why a bundle is refused; ``malformed`` .. ``invalid`` come from the envelope (signing.SignatureError).
REASONS = (
    "no-bundle",  # no manifest for this artifact digest
    "malformed",  # not an envelope / statement / predicate of the expected shape, or counts that disagree
    "edited",  # the manifest file, or a bundle file, is not what was signed; or an unsigned file lies there
    "untrusted",  # no signature by a key the environment trusts
    "local-key",  # a throwaway local key, which the environment does not accept
    "invalid",  # a trusted key's signature does not verify (payload or signature changed)
    "environment",  # the evidence of another environment
    "artifact",  # the freshly synthesized artifact is not the one the evidence is for
    "commit",  # recorded at another commit than the one checked out
    "worktree",  # a part was recorded with uncommitted changes
    "policy",  # no policy verdict, or it did not pass
    "waiver-expired",  # a waiver that applied has expired since
    "tests",  # a required suite is missing, ran no test, or has a failure or error
    "skipped",  # a suite skipped a test (a skip is not a pass)
    "e2e",  # no e2e result, or the e2e run failed
)
# Suites a promotable bundle must hold: `make verify` records the unit suites, `make localstack-e2e` the e2e.
REQUIRED_SUITES = ("unit-infra", "unit-code", E2E_SUITE)
CHANGES_SHOWN = 5


class EvidenceRefused(PipelineError):
    """The evidence does not allow what was asked; the message is one sentence, ``reason`` is in :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedEvidence:
    """A bundle whose signature, files and artifact digest were checked, with the verdicts it states.

    ``evidence_sha256`` is the sha256 of ``manifest.dsse.json`` as stored (what an audit record names);
    ``keyid`` the trusted key that signed it, ``local_key`` whether that is this machine's throwaway key.
    """

    bundle_dir: Path
    evidence_sha256: str
    keyid: str
    local_key: bool
    predicate: Predicate

    @property
    def environment(self) -> str:
        return self.predicate.environment

    @property
    def commit(self) -> str:
        return self.predicate.commit

    @property
    def artifact_sha256(self) -> str:
        return self.predicate.artifact_sha256

    @property
    def policy(self) -> PolicyPart | None:
        return self.predicate.policy

    @property
    def suites(self) -> Mapping[str, SuitePart]:
        return self.predicate.suites

    @property
    def e2e(self) -> E2EPart | None:
        return self.predicate.e2e

    def describe(self) -> str:
        signer = "a throwaway local key" if self.local_key else "a configured key"
        lines = [
            f"evidence of artifact {self.artifact_sha256} verified: environment {self.environment}, "
            f"commit {self.commit[:12]}, signed by {signer} {self.keyid[: signing.KEYID_SHOWN]}",
            *self.predicate.describe(),
            f"  manifest     sha256 {self.evidence_sha256} ({self.bundle_dir / MANIFEST})",
        ]
        return "\n".join(lines) + "\n"


def _load_statement(payload: bytes, what: str) -> tuple[dict[str, Any], Predicate]:
    try:
        document = json.loads(payload)
        if document["_type"] != STATEMENT_TYPE or document["predicateType"] != PREDICATE_TYPE:
            raise ValueError(f"statement type {document['_type']!r}, predicate type {document['predicateType']!r}")
        if not isinstance(document["subject"], list):
            raise TypeError("subject is not a list")
        subject = {str(entry["name"]): str(entry["digest"]["sha256"]) for entry in document["subject"]}
        if len(subject) != len(document["subject"]):
            raise ValueError("a subject is named twice")
        return subject, Predicate.from_json(document["predicate"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceRefused("malformed", f"{what} does not hold a paygate evidence statement ({exc}).") from None


def _changes(signed: Mapping[str, str], fresh: Mapping[str, str]) -> str:
    changed = sorted(name for name in signed.keys() | fresh.keys() if signed.get(name) != fresh.get(name))
    shown = ", ".join(changed[:CHANGES_SHOWN]) + (
        f" and {len(changed) - CHANGES_SHOWN} more" if len(changed) > CHANGES_SHOWN else ""
    )
    return shown or "none"


def _check_files(bundle: Path, predicate: Predicate, what: str) -> None:
    if set(predicate.files) != predicate.referenced_files():
        raise EvidenceRefused("malformed", f"{what} lists other files than its parts name.")
    for name, sha in sorted(predicate.files.items()):
        path = bundle / name
        if not path.is_file():
            raise EvidenceRefused("edited", f"{path} was removed from the evidence after it was signed.")
        if sha256_file(path) != sha:
            raise EvidenceRefused("edited", f"{path} was edited after the evidence was signed (its sha256 changed).")
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle).as_posix()
        if name != MANIFEST and name not in predicate.files:
            raise EvidenceRefused(
                "edited", f"{path} lies in the evidence bundle but its signed manifest does not name it."
            )


def _check_counts(bundle: Path, predicate: Predicate, fresh_sha256: str, what: str) -> None:
    """The counts the manifest states must be the ones its files hold (they are re-read, not believed)."""
    try:
        problems = []
        for name, suite in predicate.suites.items():
            if junit_counts(bundle / suite.file) != suite.counts:
                problems.append(f"suite {name}'s counts differ from its JUnit report")
        if predicate.policy is not None:
            policy = predicate.policy
            findings, failures, gate_problems, _ = policy_junit(bundle / POLICY_DIR / "junit.xml")
            if (findings, failures, gate_problems) != (policy.findings, policy.failures, policy.problems):
                problems.append("the policy counts differ from the gate's JUnit report")
            passed = json.loads((bundle / POLICY_DIR / artifact.EVIDENCE_FILE).read_text(encoding="utf-8"))
            if passed["artifact_sha256"] != fresh_sha256:
                problems.append("the policy verdict names another artifact")
            waivers = json.loads((bundle / WAIVERS_APPLIED).read_text(encoding="utf-8"))
            if waivers != [w.to_json() for w in policy.waivers]:
                problems.append("the waivers differ from waivers-applied.json")
        if predicate.e2e is not None:
            summary = json.loads((bundle / E2E_SUMMARY).read_text(encoding="utf-8"))
            counts = summary["counts"]
            if (summary["result"] == "passed") != predicate.e2e.passed or summary["artifactSha256"] != fresh_sha256:
                problems.append("the e2e result differs from the e2e summary")
            if (Counts.from_json(counts) if counts is not None else None) != predicate.e2e.counts:
                problems.append("the e2e counts differ from the e2e summary")
    except (PipelineError, ValueError, KeyError, TypeError) as exc:
        raise EvidenceRefused("malformed", f"{what}: a bundle file cannot be read ({exc}).") from None
    if problems:
        raise EvidenceRefused("malformed", f"{what} states what its files do not hold: {'; '.join(problems)}.")


def verify_bundle(
    bundle: Path,
    artifact_dir: Path,
    trusted_keys: Sequence[Path],
    accept_local_keys: bool,
    *,
    environment: str,
    local_keys_dir: Path,
) -> VerifiedEvidence:
    """Verify the bundle in ``bundle`` against the artifact synthesized in ``artifact_dir``.

    Parameters
    ----------
    bundle
        the bundle directory (``build/evidence/<env>/<artifact_sha256>`` or one copied from CI).
    artifact_dir
        the freshly synthesized stack directory; its digest is recomputed, never read from the bundle.
    trusted_keys
        absolute paths of the PEM ed25519 public keys the environment trusts (``[evidence] trusted_keys``).
    accept_local_keys
        whether the environment trusts this machine's throwaway key (``[evidence] accept_local_keys``).
    environment
        the environment the evidence must be for.
    local_keys_dir
        where the throwaway key lives (``build/keys``).

    Raises
    ------
    EvidenceRefused
        ``no-bundle``, ``malformed``, ``edited``, ``untrusted``, ``local-key``, ``invalid``,
        ``environment`` or ``artifact`` (see :data:`REASONS`); verdicts are not judged here
        (:func:`check_promotable` does).
    PipelineError
        the artifact directory holds no ``cdk.tf.json``, or a trusted key file is unreadable.
    """
    fresh = artifact.digest(artifact_dir)
    manifest = bundle / MANIFEST
    what = str(manifest)
    if not manifest.is_file():
        raise EvidenceRefused(
            "no-bundle",
            f"no evidence for artifact {fresh.short} of environment {environment}: {manifest} does not exist; "
            f"run `make verify ENV={environment}` and `make localstack-e2e ENV={environment}` on this commit.",
        )
    data = manifest.read_bytes()
    trust = signing.trust(environment, trusted_keys, accept_local_keys, local_keys_dir)
    try:
        opened = signing.open_envelope(data, PAYLOAD_TYPE, trust, what)
    except signing.SignatureError as exc:
        raise EvidenceRefused(exc.reason, str(exc)) from None
    subject, predicate = _load_statement(opened.payload, what)
    if predicate.signer_keyid != opened.keyid:
        raise EvidenceRefused("malformed", f"{what} names key {predicate.signer_keyid[:16]} but another key signed it.")
    if predicate.environment != environment:
        raise EvidenceRefused(
            "environment", f"{what} is the evidence of environment {predicate.environment}, not of {environment}."
        )
    signed_sha = subject.pop(ARTIFACT_SUBJECT, "")
    if signed_sha != predicate.artifact_sha256 or signed_sha != fresh.sha256 or subject != dict(fresh.files):
        raise EvidenceRefused(
            "artifact",
            f"the artifact in {artifact_dir} (sha256 {fresh.short}) is not the one this evidence is for "
            f"({signed_sha[:12]}; files that differ: {_changes(subject, dict(fresh.files))}).",
        )
    _check_files(bundle, predicate, what)
    _check_counts(bundle, predicate, fresh.sha256, what)
    return VerifiedEvidence(bundle, hashlib.sha256(data).hexdigest(), opened.keyid, opened.local_key, predicate)


def check_promotable(
    evidence: VerifiedEvidence,
    *,
    commit: str,
    today: dt.date,
    required_suites: Sequence[str] = REQUIRED_SUITES,
    allow_uncommitted: bool = False,
) -> None:
    """Refuse verified evidence that does not allow a promotion of ``commit`` on ``today``.

    ``allow_uncommitted``: parts recorded with uncommitted changes pass (only for an emulated environment,
    where `make test` proves the promote path from a developer's work tree; an AWS environment never).

    In this order: recorded at another commit; a part recorded with uncommitted changes; no policy
    verdict or one that did not pass; a waiver that applied and has expired (``today`` after its
    ``expires``); no e2e result, or an e2e run that failed (other than by skipping); a required suite
    missing, without tests, or with a failure or error; any skipped test. Raises
    :class:`EvidenceRefused` with one sentence.
    """
    env = evidence.environment
    if evidence.commit != commit:
        raise EvidenceRefused(
            "commit",
            f"the evidence of artifact {evidence.artifact_sha256[:12]} was recorded at commit {evidence.commit[:12]}, "
            f"not at {commit[:12]}, which is checked out: record it again on this commit.",
        )
    p = evidence.predicate
    dirty = [name for name, rec in _parts(p) if not rec]
    if dirty and not allow_uncommitted:
        raise EvidenceRefused(
            "worktree",
            f"evidence part(s) {', '.join(dirty)} were recorded with uncommitted changes in the work tree: "
            "commit them and record the evidence again.",
        )
    policy = evidence.policy
    if policy is None:
        raise EvidenceRefused("policy", f"the evidence holds no policy verdict: run `make verify ENV={env}`.")
    if not policy.passed or policy.failures or policy.problems:
        raise EvidenceRefused(
            "policy",
            f"the policy gate did not pass on this artifact ({policy.failures} failed, {policy.problems} problems).",
        )
    for waiver in sorted(policy.waivers, key=lambda w: (w.expires, w.check, w.resource)):
        if today > waiver.expires:
            raise EvidenceRefused(
                "waiver-expired",
                f"the waiver of {waiver.check} on {waiver.resource} expired on {waiver.expires} "
                f"(owner {waiver.owner}): renew or fix it in policies/waivers.yaml, then record the evidence again.",
            )
    e2e = evidence.e2e
    if e2e is None:
        raise EvidenceRefused("e2e", f"the evidence holds no e2e result: run `make localstack-e2e ENV={env}`.")
    only_skipped = e2e.counts is not None and e2e.counts.ok is False and not _failed(e2e.counts) and not e2e.problems
    if not e2e.passed and not only_skipped:
        why = e2e.problems[0] if e2e.problems else (e2e.counts.describe() if e2e.counts else "no tests ran")
        raise EvidenceRefused("e2e", f"the e2e run on this artifact failed ({why}).")
    missing = [name for name in required_suites if name not in evidence.suites]
    if missing:
        raise EvidenceRefused(
            "tests",
            f"the evidence holds no JUnit report of suite(s) {', '.join(missing)}: run `make verify ENV={env}` "
            f"and `make localstack-e2e ENV={env}` on this commit.",
        )
    for name, suite in sorted(evidence.suites.items()):
        if _failed(suite.counts):
            raise EvidenceRefused("tests", f"suite {name} did not pass on this artifact ({suite.counts.describe()}).")
    for name, suite in sorted(evidence.suites.items()):
        if suite.counts.skipped:
            raise EvidenceRefused(
                "skipped",
                f"suite {name} skipped {suite.counts.skipped} test(s): a skipped test is not a pass; "
                "make it run and record the evidence again.",
            )
    if not e2e.passed:  # every way an e2e run fails is refused above; kept so that none can slip through
        raise EvidenceRefused("e2e", "the e2e run on this artifact failed.")


def _failed(counts: Counts) -> bool:
    return counts.tests == 0 or bool(counts.failures or counts.errors)


def _parts(predicate: Predicate) -> list[tuple[str, bool]]:
    parts = [("policy verdict", predicate.policy.recording.worktree_clean)] if predicate.policy else []
    parts += [(f"suite {name}", suite.recording.worktree_clean) for name, suite in sorted(predicate.suites.items())]
    parts += [("e2e summary", predicate.e2e.recording.worktree_clean)] if predicate.e2e else []
    return parts


def require_promotable(
    evidence_root: Path,
    environment: str,
    artifact_dir: Path,
    trusted_keys: Sequence[Path],
    accept_local_keys: bool,
    *,
    commit: str,
    today: dt.date,
    local_keys_dir: Path,
    bundle: Path | None = None,
    required_suites: Sequence[str] = REQUIRED_SUITES,
    allow_uncommitted: bool = False,
) -> VerifiedEvidence:
    """The verified evidence of the artifact in ``artifact_dir`` if it allows promoting it to ``environment``.

    What the promote command calls before anything touches the environment. ``bundle`` defaults to
    ``<evidence_root>/<environment>/<fresh artifact sha256>``; ``commit`` is the checked-out commit;
    ``today`` the date waivers are judged on. Other parameters as in :func:`verify_bundle`. Raises
    :class:`EvidenceRefused` (one sentence, ``reason`` in :data:`REASONS`) for: no bundle for this
    digest, a signature that is invalid or by a key the environment does not trust (a throwaway key
    where local keys are not accepted), a bundle file edited, another artifact, another commit,
    uncommitted changes, policy not passed, an expired waiver, a missing or failed suite, any skipped
    test, e2e missing or failed.
    """
    if bundle is None:
        bundle = bundle_dir(evidence_root, environment, artifact.digest(artifact_dir).sha256)
    evidence = verify_bundle(
        bundle, artifact_dir, trusted_keys, accept_local_keys, environment=environment, local_keys_dir=local_keys_dir
    )
    check_promotable(
        evidence, commit=commit, today=today, required_suites=required_suites, allow_uncommitted=allow_uncommitted
    )
    return evidence
