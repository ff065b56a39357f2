"""The gate's reports: console summary, JUnit XML, SARIF 2.1.0 and the PCI coverage matrix (Markdown)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

from pipeline.policy.gate import Row, Verdict
from pipeline.policy.pack import BUILTIN_SEVERITY, SEVERITIES

STATUSES = ("failed", "waived", "passed")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", BUILTIN_SEVERITY: "warning"}
FILES = {"junit": "junit.xml", "sarif": "policy.sarif", "matrix": "pci_coverage.md"}


def _requirement_key(requirement: str) -> tuple[int, ...]:
    return tuple(int(part) for part in requirement.split("."))


def console(verdict: Verdict) -> str:
    """Counts per severity and status, then every failure (and waiver) with its fix, then the verdict."""
    counts = Counter((r.severity, r.status) for r in verdict.rows)
    lines = [f"{'severity':<10} " + " ".join(f"{s:>7}" for s in STATUSES)]
    for severity in (*SEVERITIES, BUILTIN_SEVERITY):
        lines.append(f"{severity:<10} " + " ".join(f"{counts[(severity, s)]:>7}" for s in STATUSES))
    for scan in verdict.scans:
        lines.append(f"{scan.input} ({scan.framework}): {len(scan.resources)} resources, {len(scan.findings)} results")
    shown: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in verdict.rows:
        if row.status in ("failed", "waived"):
            shown[(row.status, row.finding.check_id, row.finding.resource)].append(row)
    for (status, check, resource), same in sorted(shown.items()):
        row = same[0]
        inputs = ", ".join(r.finding.framework for r in same)
        requirement = ", ".join(row.requirements) or "-"
        lines.append(f"{status.upper():<6} {row.severity:<8} {check:<12} {resource} [{inputs}] PCI {requirement}")
        if row.waiver is not None:
            lines.append(f"       waived by {row.waiver.owner} until {row.waiver.expires}: {row.waiver.justification}")
        else:
            lines.append(f"       fix: {row.fix or row.finding.check_name}")
    lines += [f"PROBLEM {problem}" for problem in verdict.problems]
    failed = len(verdict.failures)
    state = "PASSED" if verdict.ok else "FAILED"
    lines.append(f"policy gate {state}: {failed} failed, {len(verdict.problems)} problems")
    return "\n".join(lines) + "\n"


def junit(verdict: Verdict) -> str:
    """One test suite per input, one test case per finding; waived findings are skipped with the justification."""
    root = ET.Element("testsuites", name="policy-gate")
    for scan in verdict.scans:
        rows = [r for r in verdict.rows if r.finding.framework == scan.framework]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{scan.framework}:{scan.input.name}",
            tests=str(len(rows)),
            failures=str(sum(r.status == "failed" for r in rows)),
            skipped=str(sum(r.status in ("waived", "skipped") for r in rows)),
        )
        for row in rows:
            case = ET.SubElement(
                suite, "testcase", classname=f"{scan.framework}.{row.finding.check_id}", name=row.finding.resource
            )
            if row.status == "failed":
                failure = ET.SubElement(case, "failure", message=row.finding.check_name, type=row.severity)
                failure.text = f"PCI DSS {', '.join(row.requirements) or '-'}; fix: {row.fix or row.finding.check_name}"
            elif row.status in ("waived", "skipped"):
                reason = f"waived: {row.waiver.justification}" if row.waiver else row.status
                ET.SubElement(case, "skipped", message=reason)
    problems = ET.SubElement(root, "testsuite", name="gate", tests=str(len(verdict.problems) or 1))
    for problem in verdict.problems:
        ET.SubElement(
            ET.SubElement(problems, "testcase", classname="gate", name=problem[:120]), "failure", message=problem
        )
    if not verdict.problems:
        ET.SubElement(problems, "testcase", classname="gate", name="no gate problems")
    problems.set("failures", str(len(verdict.problems)))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def sarif(verdict: Verdict) -> str:
    """SARIF 2.1.0: one rule per check, one result per failed or waived finding (waived ones suppressed)."""
    rules: dict[str, dict[str, object]] = {}
    results = []
    for row in verdict.rows:
        check = row.finding.check_id
        if check not in rules:
            rules[check] = {
                "id": check,
                "name": check,
                "shortDescription": {"text": row.finding.check_name or check},
                "help": {"text": row.fix or row.finding.check_name or check},
                "properties": {"severity": row.severity, "pci-dss-v4.0.1": list(row.requirements)},
            }
        if row.status not in ("failed", "waived"):
            continue
        result: dict[str, object] = {
            "ruleId": check,
            "level": SARIF_LEVEL[row.severity],
            "message": {"text": f"{row.finding.check_name} ({row.finding.resource})"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": _uri(row, verdict)}},
                    "logicalLocations": [{"fullyQualifiedName": row.finding.resource, "kind": "resource"}],
                }
            ],
            "properties": {"framework": row.finding.framework},
        }
        if row.waiver is not None:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": row.waiver.justification}
            ]
        results.append(result)
    driver = {"name": "paygate-policy-gate", "informationUri": "https://www.checkov.io", "rules": list(rules.values())}
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
    return json.dumps(doc, indent=2) + "\n"


def _uri(row: Row, verdict: Verdict) -> str:
    for scan in verdict.scans:
        if scan.framework == row.finding.framework:
            return scan.input.as_posix()
    return ""  # pragma: no cover - every row comes from one of the scans


def matrix(verdict: Verdict) -> str:
    """PCI coverage: requirement x check x resource -> status per input kind; requirements with no result listed."""
    frameworks = [scan.framework for scan in verdict.scans]
    cells: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for row in verdict.rows:
        for requirement in row.requirements:
            cells[(requirement, row.finding.check_id, row.finding.resource)][row.finding.framework] = row.status
    lines = [
        "# PCI DSS v4.0.1 coverage of the policy gate",
        "",
        f"Verdict: **{'PASSED' if verdict.ok else 'FAILED'}**. Cells: pass / FAIL / waived / unknown "
        "(`-`: no result, e.g. the value is unresolved in that input kind).",
        "",
        "| requirement | check | resource | " + " | ".join(frameworks) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in frameworks) + " |",
    ]
    label = {"passed": "pass", "failed": "FAIL", "waived": "waived", "skipped": "skipped"}
    for requirement, check, resource in sorted(cells, key=lambda k: (_requirement_key(k[0]), k[1], k[2])):
        statuses = cells[(requirement, check, resource)]
        values = " | ".join(label.get(statuses.get(fw, ""), "-") for fw in frameworks)
        lines.append(f"| {requirement} | {check} | `{resource}` | {values} |")
    mapped = {req for entry in verdict.mapping.values() for req in entry.requirements}
    covered = {key[0] for key in cells}
    missing = sorted(mapped - covered, key=_requirement_key)
    lines += ["", f"Requirements mapped but without a result on these inputs: {', '.join(missing) or 'none'}."]
    return "\n".join(lines) + "\n"


def write(verdict: Verdict, out_dir: Path) -> dict[str, Path]:
    """Write every report under ``out_dir``; returns name -> path (the console text goes there too)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "summary": out_dir / "summary.txt",
        **{name: out_dir / file for name, file in FILES.items()},
    }
    written["summary"].write_text(console(verdict), encoding="utf-8")
    written["junit"].write_text(junit(verdict), encoding="utf-8")
    written["sarif"].write_text(sarif(verdict), encoding="utf-8")
    written["matrix"].write_text(matrix(verdict), encoding="utf-8")
    return written
