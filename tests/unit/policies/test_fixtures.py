"""Every check against its fixtures (pass_* must pass, fail_* must fail), on both input kinds.

The cases are discovered from ``fixtures/<CHECK_ID>/``: one parametrized test, no list of checks here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.policy import checkov as policy

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [pytest.param(folder, id=folder.name) for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir())]


def expected(folder: Path, kind: str = "json") -> dict[str, set[str]]:
    """The expected outcomes; on the plan, ``plan: {passed, failed}`` replaces them where a plan sees other
    resources (a data source read during plan is substituted into the resources that use it; values that
    only apply resolves make a check UNKNOWN there)."""
    doc = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    assert doc["check"] == folder.name
    result = {"passed": set(doc["passed"]), "failed": set(doc["failed"])}
    if kind == "plan":
        result |= {outcome: set(addresses) for outcome, addresses in doc.get("plan", {}).items()}
    assert result["passed"] and result["failed"], "each check needs a passing and a failing fixture"
    assert all(a.rsplit(".", 1)[1].startswith("pass_") for a in result["passed"])
    assert all(a.rsplit(".", 1)[1].startswith("fail_") for a in result["failed"])
    return result


def outcomes(findings: list[policy.Finding]) -> dict[str, set[str]]:
    return {
        "passed": {f.resource for f in findings if f.result == "passed"},
        "failed": {f.resource for f in findings if f.result == "failed"},
    }


@pytest.mark.parametrize("folder", CASES)
def test_check_on_synthesized_json(folder: Path, json_fixture_scans: dict[Path, policy.Scan]) -> None:
    scan = json_fixture_scans[folder / "main.tf.json"]
    assert not scan.parse_errors and not scan.load_errors
    assert outcomes([f for f in scan.findings if f.check_id == folder.name]) == expected(folder)


@pytest.mark.parametrize("folder", CASES)
def test_check_on_plan(folder: Path, plan_fixture_scan: policy.Scan) -> None:
    prefix = f"module.{folder.name}."
    mine = [
        policy.Finding(f.check_id, f.check_name, f.resource.removeprefix(prefix), f.result, f.framework)
        for f in plan_fixture_scan.findings
        if f.check_id == folder.name and f.resource.startswith(prefix)
    ]
    assert outcomes(mine) == expected(folder, "plan")
