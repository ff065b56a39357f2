"""The policy gate's verdict: scans + PCI mapping + waivers -> rows and the reasons to fail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.policy.checkov import Finding, Scan
from pipeline.policy.pack import BUILTIN_SEVERITY, Entry
from pipeline.policy.waivers import Waiver, apply


@dataclass(frozen=True)
class Row:
    """One finding as every report shows it."""

    finding: Finding
    status: str  # passed | failed | waived | skipped
    severity: str
    requirements: tuple[str, ...]
    fix: str
    waiver: Waiver | None = None


@dataclass(frozen=True)
class Verdict:
    """Everything the reports need; ``ok`` is the gate's answer."""

    scans: tuple[Scan, ...]
    rows: tuple[Row, ...]
    problems: tuple[str, ...]
    mapping: Mapping[str, Entry]

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.status == "failed")

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failures

    def failed_checks(self) -> set[str]:
        return {r.finding.check_id for r in self.failures}


def decide(
    scans: Sequence[Scan],
    mapping: Mapping[str, Entry],
    waivers: Sequence[Waiver],
    today: dt.date,
    *,
    require_every_check: bool = False,
    declared: frozenset[str] = frozenset(),
) -> Verdict:
    """Apply the waivers to every scan's findings and collect every reason the gate must fail.

    ``require_every_check`` (for the platform stack, where every check applies): a mapped check with no
    result on any input did not load or no longer matches anything, which is a failure too. ``declared``:
    the ids the check files declare (each must be mapped).
    """
    findings = [f for s in scans for f in s.findings]
    applied = apply(findings, waivers, today)
    rows = []
    for finding, status in applied.statuses:
        entry = mapping.get(finding.check_id)
        severity = entry.severity if entry else BUILTIN_SEVERITY
        waiver = applied.waiver_of.get((finding.check_id, finding.resource)) if status == "waived" else None
        rows.append(
            Row(finding, status, severity, entry.requirements if entry else (), entry.fix if entry else "", waiver)
        )
    problems = [p for s in scans for p in s.problems()]
    problems += applied.problems()
    unmapped = sorted(
        {f.check_id for f in findings if f.in_pack and f.check_id not in mapping} | (declared - set(mapping))
    )
    problems += [f"{check} is in the pack but not in the PCI mapping" for check in unmapped]
    if require_every_check:
        silent = sorted(set(mapping) - {f.check_id for f in findings})
        problems += [f"{check} produced no result on any input (not loaded, or it matches nothing)" for check in silent]
    return Verdict(tuple(scans), tuple(rows), tuple(problems), mapping)
