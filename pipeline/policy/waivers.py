"""Waivers the gate applies itself: check id + resource address, owner, justification, expiry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from pipeline.core.errors import PipelineError
from pipeline.policy.checkov import Finding

FIELDS = ("check", "resource", "owner", "justification", "expires")
MIN_JUSTIFICATION_WORDS = 6  # "a real sentence", not "n/a" or "accepted"


@dataclass(frozen=True)
class Waiver:
    """Permission for one failed check on one resource, until ``expires`` (inclusive)."""

    check: str
    resource: str
    owner: str
    justification: str
    expires: dt.date

    def matches(self, finding: Finding) -> bool:
        return finding.result == "failed" and (finding.check_id, finding.resource) == (self.check, self.resource)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def _waiver(index: int, entry: Any) -> Waiver:
    where = f"waiver #{index + 1}"
    if not isinstance(entry, dict):
        raise PipelineError(f"{where} is not a mapping")
    missing = [name for name in FIELDS if not entry.get(name)]
    if missing:
        raise PipelineError(f"{where} lacks {', '.join(missing)}")
    expires = entry["expires"]
    if not isinstance(expires, dt.date):
        try:
            expires = dt.date.fromisoformat(str(expires))
        except ValueError:
            raise PipelineError(f"{where}: expires {expires!r} is not a YYYY-MM-DD date") from None
    justification = " ".join(str(entry["justification"]).split())
    if len(justification.split()) < MIN_JUSTIFICATION_WORDS:
        raise PipelineError(f"{where} ({entry['check']}): the justification must be a real sentence")
    return Waiver(str(entry["check"]), str(entry["resource"]), str(entry["owner"]), justification, expires)


def load(path: Path) -> tuple[Waiver, ...]:
    """Read and validate the waivers file (a missing file means no waivers)."""
    if not path.is_file():
        return ()
    try:
        doc = yaml.safe_load(path.read_bytes()) or {}  # YAML 1.1 reads UTF-8 (or a BOM-marked UTF-16)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date-looking scalar that is no date (2027-13-01)
        raise PipelineError(f"{path} is not valid YAML: {exc}") from None
    entries = doc.get("waivers") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise PipelineError(f"{path} must hold a list under `waivers:`")
    waivers = tuple(_waiver(i, entry) for i, entry in enumerate(entries))
    keys = [(w.check, w.resource) for w in waivers]
    duplicates = sorted({f"{c} on {r}" for c, r in keys if keys.count((c, r)) > 1})
    if duplicates:
        raise PipelineError(f"{path}: duplicate waivers: {'; '.join(duplicates)}")
    return waivers


@dataclass(frozen=True)
class Applied:
    """Findings with their status after waivers, and what is wrong with the waivers themselves."""

    statuses: tuple[tuple[Finding, str], ...]  # status: passed | failed | waived | skipped
    waiver_of: dict[tuple[str, str], Waiver]
    expired: tuple[Waiver, ...]
    stale: tuple[Waiver, ...]

    def problems(self) -> list[str]:
        problems = [f"waiver {w.check} on {w.resource} expired on {w.expires} (owner {w.owner})" for w in self.expired]
        problems += [f"stale waiver {w.check} on {w.resource}: it matches no failed finding" for w in self.stale]
        return problems


def apply(findings: Iterable[Finding], waivers: Sequence[Waiver], today: dt.date) -> Applied:
    """Mark failed findings covered by a live waiver as waived; report expired and stale waivers."""
    findings = list(findings)
    live = {(w.check, w.resource): w for w in waivers if not w.expired(today)}
    statuses = []
    for finding in findings:
        status = finding.result
        if status == "failed" and (finding.check_id, finding.resource) in live:
            status = "waived"
        statuses.append((finding, status))
    expired = tuple(w for w in waivers if w.expired(today))
    stale = tuple(w for w in waivers if not w.expired(today) and not any(w.matches(f) for f in findings))
    return Applied(tuple(statuses), live, expired, stale)
