"""The gate's reports: console summary, JUnit XML, SARIF 2.1.0, PCI coverage matrix."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.policy import gate, pack, reports, waivers
from pipeline.policy.checkov import Finding, Scan

TODAY = dt.date(2026, 11, 27)
MAPPING = {
    "CKV_PAY_001": pack.Entry("CKV_PAY_001", ("3.5.1", "3.6.1"), "high", "why", "use the platform key"),
    "CKV_PAY_011": pack.Entry("CKV_PAY_011", ("10.5.1",), "medium", "why", "keep a year"),
    "CKV_PAY_012": pack.Entry("CKV_PAY_012", ("8.2.1",), "critical", "why", "authenticate"),
}
WAIVER = waivers.Waiver("CKV_PAY_011", "aws_log.b", "team", "a documented exception with a reason", dt.date(2027, 1, 1))


def f(check: str, resource: str, result: str, framework: str) -> Finding:
    return Finding(check, f"Ensure {check}", resource, result, framework)


@pytest.fixture
def verdict() -> gate.Verdict:
    synth = Scan(
        Path("cdk.tf.json"),
        "terraform_json",
        (
            f("CKV_PAY_001", "aws_s3.a", "failed", "terraform_json"),
            f("CKV_PAY_011", "aws_log.b", "failed", "terraform_json"),
            f("CKV_AWS_9", "aws_s3.a", "failed", "terraform_json"),
        ),
    )
    planned = Scan(Path("plan.json"), "terraform_plan", (f("CKV_PAY_001", "aws_s3.a", "passed", "terraform_plan"),))
    return gate.decide([synth, planned], MAPPING, [WAIVER], TODAY)


def test_console_counts_per_severity_and_explains_each_failure(verdict: gate.Verdict) -> None:
    text = reports.console(verdict)
    lines = text.splitlines()
    assert lines[0].split() == ["severity", "failed", "waived", "passed"]
    assert lines[2].split() == ["high", "1", "0", "1"]
    assert lines[3].split() == ["medium", "0", "1", "0"]
    assert lines[5].split() == ["builtin", "1", "0", "0"]
    assert "FAILED high     CKV_PAY_001  aws_s3.a [terraform_json] PCI 3.5.1, 3.6.1" in text
    assert "       fix: use the platform key" in text
    assert "WAIVED medium   CKV_PAY_011  aws_log.b [terraform_json] PCI 10.5.1" in text
    assert "waived by team until 2027-01-01: a documented exception with a reason" in text
    assert "       fix: Ensure CKV_AWS_9" in text
    assert lines[-1] == "policy gate FAILED: 2 failed, 0 problems"


def test_junit_has_a_suite_per_input_and_marks_waivers_skipped(verdict: gate.Verdict) -> None:
    root = ET.fromstring(reports.junit(verdict).split("?>", 1)[1])
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"terraform_json:cdk.tf.json", "terraform_plan:plan.json", "gate"}
    synth = suites["terraform_json:cdk.tf.json"]
    assert (synth.get("tests"), synth.get("failures"), synth.get("skipped")) == ("3", "2", "1")
    skipped = synth.find("testcase[@classname='terraform_json.CKV_PAY_011']/skipped")
    assert skipped is not None and skipped.get("message", "").startswith("waived: a documented")
    assert suites["gate"].get("failures") == "0"


def test_junit_lists_gate_problems_as_failures() -> None:
    scan = Scan(Path("empty.json"), "terraform_json", ())
    root = ET.fromstring(reports.junit(gate.decide([scan], MAPPING, [], TODAY)).split("?>", 1)[1])
    (problems,) = [s for s in root.iter("testsuite") if s.get("name") == "gate"]
    assert problems.get("failures") == "1"
    assert "scanned 0 resources" in problems.find("testcase/failure").get("message", "")  # type: ignore[union-attr]


def test_sarif_is_2_1_0_with_rules_and_suppressed_waivers(verdict: gate.Verdict) -> None:
    doc = json.loads(reports.sarif(verdict))
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    (run,) = doc["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["CKV_PAY_001"]["properties"] == {"severity": "high", "pci-dss-v4.0.1": ["3.5.1", "3.6.1"]}
    assert rules["CKV_PAY_001"]["help"]["text"] == "use the platform key"
    results = {(r["ruleId"], r["level"]): r for r in run["results"]}
    assert set(results) == {("CKV_PAY_001", "error"), ("CKV_PAY_011", "warning"), ("CKV_AWS_9", "warning")}
    waived = results[("CKV_PAY_011", "warning")]
    assert waived["suppressions"][0]["justification"] == "a documented exception with a reason"
    location = results[("CKV_PAY_001", "error")]["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "cdk.tf.json"
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "aws_s3.a"


def test_matrix_is_requirement_by_check_by_resource(verdict: gate.Verdict) -> None:
    text = reports.matrix(verdict)
    assert "| requirement | check | resource | terraform_json | terraform_plan |" in text
    assert "| 3.5.1 | CKV_PAY_001 | `aws_s3.a` | FAIL | pass |" in text
    assert "| 10.5.1 | CKV_PAY_011 | `aws_log.b` | waived | - |" in text
    assert text.index("| 3.6.1 |") < text.index("| 10.5.1 |")  # numeric, not text order
    assert "without a result on these inputs: 8.2.1." in text


def test_write_puts_every_report_under_the_out_dir(verdict: gate.Verdict, tmp_path: Path) -> None:
    written = reports.write(verdict, tmp_path / "policy")
    assert {p.name for p in written.values()} == {"summary.txt", "junit.xml", "policy.sarif", "pci_coverage.md"}
    assert all(p.is_file() and p.parent == tmp_path / "policy" for p in written.values())
