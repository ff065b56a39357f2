"""The signed statement of an evidence bundle: an in-toto Statement v1 whose predicate states the verdicts.

Statement (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md): ``_type``
``https://in-toto.io/Statement/v1``; ``subject`` every artifact file (path relative to the stack
directory, ``{"sha256": ...}``) plus one entry named ``artifact`` carrying the whole artifact's digest
(``pipeline.artifact.digest``: the sha256 of the artifact's ``sha256sum``-style listing); ``predicateType``
:data:`PREDICATE_TYPE`; ``predicate`` (:class:`Predicate`, camelCase keys as in-toto predicates use):

- ``environment``, ``commit``, ``artifactSha256``, ``signer`` (``keyid``, ``localKey``);
- ``policy``: ``passed``, ``passedAt``, ``findings``, ``failures``, ``problems`` (gate problems), ``waivers``
  (check, resource, owner, justification, expires) — or ``null`` when not recorded;
- ``suites``: name -> ``tests``, ``failures``, ``errors``, ``skipped`` as parsed from its JUnit XML, ``file``;
- ``e2e``: ``passed``, ``counts`` (or ``null`` when no test ran), ``problems``, ``file`` — or ``null``;
- each part with ``recordedAt`` (UTC ISO 8601) and ``worktreeClean`` (no uncommitted change then);
- ``files``: bundle path -> sha256 of every bundle file besides the manifest.

The payload is this JSON with sorted keys and no insignificant whitespace (:func:`encode`), carried in a
DSSE envelope of payload type :data:`PAYLOAD_TYPE` (``pipeline.evidence.signing``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.build import artifact
from pipeline.core.errors import PipelineError
from pipeline.e2e import run as e2e

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"  # DSSE payloadType of an in-toto Statement
# A paygate-owned type URI (the .example domain is reserved, RFC 2606); the predicate's shape is this module's doc.
PREDICATE_TYPE = "https://paygate.example/attestation/evidence/v1"
ARTIFACT_SUBJECT = "artifact"
POLICY_DIR = "policy"
POLICY_FILES = (artifact.EVIDENCE_FILE, "junit.xml", "policy.sarif", "pci_coverage.md", "summary.txt")
WAIVERS_APPLIED = f"{POLICY_DIR}/waivers-applied.json"
SUITES_DIR = "suites"
E2E_SUITE = "e2e"
E2E_SUMMARY = "e2e/summary.json"
GATE_SUITE = "gate"  # the policy JUnit's suite of gate problems (pipeline.reports.junit)
SUITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
WAIVED_PREFIX = "waived: "  # how the policy JUnit marks a waived finding (pipeline.reports.junit)


def field_of(document: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = document[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def count_of(document: Mapping[str, Any], key: str) -> int:
    value = field_of(document, key, int)
    if value < 0:
        raise ValueError(f"{key} is negative")
    return int(value)


@dataclass(frozen=True)
class AppliedWaiver:
    """A waiver that turned a failed finding into a waived one (``policies/waivers.yaml``)."""

    check: str
    resource: str
    owner: str
    justification: str
    expires: dt.date

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "resource": self.resource,
            "owner": self.owner,
            "justification": self.justification,
            "expires": self.expires.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> AppliedWaiver:
        return cls(
            field_of(value, "check", str),
            field_of(value, "resource", str),
            field_of(value, "owner", str),
            field_of(value, "justification", str),
            dt.date.fromisoformat(field_of(value, "expires", str)),
        )


@dataclass(frozen=True)
class Recording:
    """When a part was recorded (UTC ISO 8601) and whether the work tree had uncommitted changes then."""

    recorded_at: str
    worktree_clean: bool

    def to_json(self) -> dict[str, Any]:
        return {"recordedAt": self.recorded_at, "worktreeClean": self.worktree_clean}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Recording:
        return cls(field_of(value, "recordedAt", str), field_of(value, "worktreeClean", bool))


@dataclass(frozen=True)
class PolicyPart:
    """The policy gate's verdict on the artifact: findings, failures, gate problems, waivers that applied."""

    passed: bool
    passed_at: str
    findings: int
    failures: int
    problems: int
    waivers: tuple[AppliedWaiver, ...]
    recording: Recording

    def files(self) -> tuple[str, ...]:
        return (*(f"{POLICY_DIR}/{name}" for name in POLICY_FILES), WAIVERS_APPLIED)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "passedAt": self.passed_at,
            "findings": self.findings,
            "failures": self.failures,
            "problems": self.problems,
            "waivers": [w.to_json() for w in self.waivers],
            **self.recording.to_json(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PolicyPart:
        return cls(
            field_of(value, "passed", bool),
            field_of(value, "passedAt", str),
            count_of(value, "findings"),
            count_of(value, "failures"),
            count_of(value, "problems"),
            tuple(AppliedWaiver.from_json(w) for w in field_of(value, "waivers", list)),
            Recording.from_json(value),
        )


@dataclass(frozen=True)
class Counts:
    """Totals of a JUnit XML report."""

    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def ok(self) -> bool:
        """At least one test, and none failed, errored or was skipped (a skip is not a pass)."""
        return self.tests > 0 and self.failures == self.errors == self.skipped == 0

    def describe(self) -> str:
        return f"{self.tests} tests, {self.failures} failed, {self.errors} errors, {self.skipped} skipped"

    def to_json(self) -> dict[str, Any]:
        return {"tests": self.tests, "failures": self.failures, "errors": self.errors, "skipped": self.skipped}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Counts:
        return cls(*(count_of(value, key) for key in ("tests", "failures", "errors", "skipped")))


def junit_counts(path: Path) -> Counts:
    """Totals of a JUnit XML file (every ``testsuite``'s ``tests``, ``failures``, ``errors``, ``skipped``).

    Raises :class:`PipelineError` for a missing file or one that is not JUnit XML.
    """
    try:
        counted = e2e.junit_counts(path)
    except (ET.ParseError, ValueError) as exc:
        raise PipelineError(f"{path} is not a JUnit XML report ({exc}).") from None
    return Counts(counted.tests, counted.failures, counted.errors, counted.skipped)


@dataclass(frozen=True)
class SuitePart:
    """One test suite's JUnit counts and its file in the bundle."""

    name: str
    counts: Counts
    recording: Recording

    @property
    def file(self) -> str:
        return f"{SUITES_DIR}/{self.name}.xml"

    def to_json(self) -> dict[str, Any]:
        return {**self.counts.to_json(), "file": self.file, **self.recording.to_json()}

    @classmethod
    def from_json(cls, name: str, value: Mapping[str, Any]) -> SuitePart:
        if not SUITE_NAME.match(name):
            raise ValueError(f"suite name {name!r}")
        part = cls(name, Counts.from_json(value), Recording.from_json(value))
        if field_of(value, "file", str) != part.file:
            raise ValueError(f"suite {name} names the file {value['file']!r}")
        return part


@dataclass(frozen=True)
class E2EPart:
    """The result of ``make localstack-e2e`` on this artifact (its JUnit is the suite ``e2e``)."""

    passed: bool
    counts: Counts | None
    problems: tuple[str, ...]
    recording: Recording

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": self.counts.to_json() if self.counts else None,
            "problems": list(self.problems),
            "file": E2E_SUMMARY,
            **self.recording.to_json(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> E2EPart:
        counts = value["counts"]
        return cls(
            field_of(value, "passed", bool),
            Counts.from_json(counts) if counts is not None else None,
            tuple(str(p) for p in field_of(value, "problems", list)),
            Recording.from_json(value),
        )


@dataclass(frozen=True)
class Predicate:
    """The in-toto predicate of a bundle (shape in the module doc)."""

    environment: str
    commit: str
    artifact_sha256: str
    signer_keyid: str
    signer_local: bool
    policy: PolicyPart | None = None
    suites: Mapping[str, SuitePart] = field(default_factory=dict)
    e2e: E2EPart | None = None
    files: Mapping[str, str] = field(default_factory=dict)

    def referenced_files(self) -> set[str]:
        """The bundle files the parts name (what ``files`` must list, no more, no less)."""
        names = set(self.policy.files()) if self.policy else set()
        names.update(part.file for part in self.suites.values())
        if self.e2e is not None:
            names.add(E2E_SUMMARY)
        return names

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "commit": self.commit,
            "artifactSha256": self.artifact_sha256,
            "signer": {"keyid": self.signer_keyid, "localKey": self.signer_local},
            "policy": self.policy.to_json() if self.policy else None,
            "suites": {name: part.to_json() for name, part in sorted(self.suites.items())},
            "e2e": self.e2e.to_json() if self.e2e else None,
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Predicate:
        """Parse a predicate; raises ``ValueError``/``KeyError``/``TypeError`` for anything off its shape."""
        signer = field_of(value, "signer", dict)
        policy = value["policy"]
        e2e_part = value["e2e"]
        files = field_of(value, "files", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("files must map names to sha256 strings")
        return cls(
            environment=field_of(value, "environment", str),
            commit=field_of(value, "commit", str),
            artifact_sha256=field_of(value, "artifactSha256", str),
            signer_keyid=field_of(signer, "keyid", str),
            signer_local=field_of(signer, "localKey", bool),
            policy=PolicyPart.from_json(policy) if policy is not None else None,
            suites={name: SuitePart.from_json(name, part) for name, part in field_of(value, "suites", dict).items()},
            e2e=E2EPart.from_json(e2e_part) if e2e_part is not None else None,
            files=dict(files),
        )

    def describe(self) -> list[str]:
        """One line per part, for the output of sign and verify."""
        lines = []
        if self.policy is not None:
            p = self.policy
            expiry = min((w.expires for w in p.waivers), default=None)
            waived = f", {len(p.waivers)} waivers" + (f" (first expiry {expiry})" if expiry else "")
            state = "passed" if p.passed else "FAILED"
            lines.append(
                f"  policy gate  {state}: {p.findings} findings, {p.failures} failed, {p.problems} problems{waived}"
            )
        else:
            lines.append("  policy gate  (not recorded)")
        for name, suite in sorted(self.suites.items()):
            lines.append(f"  {name:<12} {suite.counts.describe()}")
        if self.e2e is not None:
            counts = self.e2e.counts.describe() if self.e2e.counts else "no tests ran"
            lines.append(f"  e2e summary  {'passed' if self.e2e.passed else 'FAILED'} ({counts})")
        else:
            lines.append("  e2e summary  (not recorded)")
        return lines


def statement(artifact_: artifact.Artifact, predicate: Predicate) -> dict[str, Any]:
    """The in-toto Statement v1 of a bundle (subject: the artifact and its files)."""
    subject = [{"name": ARTIFACT_SUBJECT, "digest": {"sha256": artifact_.sha256}}]
    subject += [{"name": name, "digest": {"sha256": sha}} for name, sha in artifact_.files]
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate.to_json(),
    }


def encode(document: Mapping[str, Any]) -> bytes:
    """The payload bytes of a statement: JSON, sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def policy_junit(path: Path) -> tuple[int, int, int, set[tuple[str, str]]]:
    """Findings, failed findings, gate problems, and the (check, resource) pairs waived, from the gate's JUnit."""
    try:
        root = ET.parse(path).getroot()
        findings = failures = problems = 0
        waived: set[tuple[str, str]] = set()
        for suite in root.iter("testsuite"):
            if suite.get("name") == GATE_SUITE:
                problems += int(suite.get("failures", 0))
                continue
            findings += int(suite.get("tests", 0))
            failures += int(suite.get("failures", 0))
            for case in suite.iter("testcase"):
                skipped = case.find("skipped")
                if skipped is not None and skipped.get("message", "").startswith(WAIVED_PREFIX):
                    check = case.get("classname", "").partition(".")[2]
                    waived.add((check, case.get("name", "")))
    except (ET.ParseError, ValueError) as exc:
        raise PipelineError(f"{path} is not the policy gate's JUnit report ({exc}).") from None
    return findings, failures, problems, waived
