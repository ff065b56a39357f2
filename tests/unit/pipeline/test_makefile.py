"""The Makefile: the documented verbs exist, compose in order, and the placeholder says it is one."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
TARGETS = [
    "venv",
    "doctor",
    "lint",
    "types",
    "unit",
    "package",
    "synth",
    "validate",
    "plan",
    "policy",
    "policy-gate",
    "verify",
    "test",
    "clean",
]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False)


def test_help_lists_every_target() -> None:
    listed = {line.split()[0] for line in make("help").stdout.splitlines() if line.strip()}
    assert set(TARGETS) | {"localstack-e2e", "tf-config", "tf-lock"} <= listed


def test_verify_runs_doctor_first_then_lint_types_unit_synth_validate_plan_policy() -> None:
    # -n prints the recipes without running them; -W marks the sources newer so synth is planned too.
    plan = make("-n", "-W", "main.py", "verify").stdout
    steps = [
        "pipeline doctor",
        "ruff check",
        "bin/mypy",
        "pytest",
        "pipeline package",
        "python main.py",
        "pipeline validate",
        "pipeline plan",
        "pipeline policy-gate --input cdktf.out/stacks/paygate/cdk.tf.json --input build/plan/plan.json"
        " --out build/policy --require-every-check",
    ]
    positions = [plan.find(step) for step in steps]
    assert -1 not in positions, plan
    assert positions == sorted(positions), plan


def test_ci_runs_make_test() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec make test" in ci
    assert (REPO_ROOT / ".ci" / "run").stat().st_mode & 0o111
    assert "test: verify" in (REPO_ROOT / "Makefile").read_text()


def test_localstack_e2e_is_an_honest_placeholder() -> None:
    result = make("localstack-e2e")
    assert result.returncode != 0
    assert "localstack-e2e is not built yet" in result.stderr


def test_policy_gate_needs_an_input_and_passes_each_one() -> None:
    result = make("policy-gate")
    assert result.returncode != 0
    assert "usage: make policy-gate INPUT=<path to cdk.tf.json or plan.json>" in result.stderr
    planned = make("-n", "policy-gate", "INPUT=a.json b.json").stdout
    assert "pipeline policy-gate --input a.json --input b.json --out build/policy" in planned
