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
    localstack = {"localstack-venv", "localstack-lock", "localstack-up", "localstack-down", "localstack-status"}
    assert set(TARGETS) | {"localstack-e2e", "tf-config", "tf-lock"} | localstack <= listed


def test_verify_runs_doctor_first_then_the_checks_and_the_synth_validate_plan_policy_chain() -> None:
    # -n prints the recipes without running them; -W marks the sources newer so synth is planned too.
    # The unit suite runs beside the synth chain (make -j2), so only its presence is asserted.
    plan = make("-n", "-W", "main.py", "verify").stdout
    chain = [
        "pipeline doctor",
        "ruff check",
        "bin/mypy",
        "pipeline package",
        "python main.py",
        "pipeline validate",
        "pipeline plan",
        "pipeline policy-gate --input cdktf.out/stacks/paygate/cdk.tf.json --input build/plan/plan.json"
        " --out build/policy --require-every-check",
    ]
    positions = [plan.find(step) for step in chain]
    assert -1 not in positions, plan
    assert positions == sorted(positions), plan
    for step in (
        "-- tests/unit/stacks tests/unit/policies",
        "-- tests/unit/lambdas tests/unit/contracts",
        "-- tests/unit/pipeline tests/unit/suites",
        "coverage report --fail-under=90",
    ):
        assert step in plan, plan
    assert plan.find("coverage combine") < plan.find("coverage report --fail-under=90")


def test_unit_covers_every_test_folder() -> None:
    """A new folder under tests/unit must be added to one of the two unit processes."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    folders = sorted(p.name for p in (REPO_ROOT / "tests" / "unit").iterdir() if p.is_dir() and p.name != "__pycache__")
    for folder in folders:
        assert f"tests/unit/{folder}" in makefile, folder


def test_ci_runs_make_test() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec make test" in ci
    assert (REPO_ROOT / ".ci" / "run").stat().st_mode & 0o111


def test_make_test_runs_the_e2e_after_the_policy_gate_beside_the_unit_suites_then_promotes() -> None:
    # -n prints the recipes without running them (sub-makes run under -n too); -W plans the synth chain.
    plan = make("-n", "-W", "main.py", "test").stdout
    lines = plan.splitlines()

    def first(needle: str) -> int:
        found = [i for i, line in enumerate(lines) if needle in line]
        assert found, f"{needle!r} not in the plan:\n{plan}"
        return found[0]

    gate, e2e = first("pipeline policy-gate --input"), first("pipeline localstack-e2e --stack-dir")
    suites = [first(f"--name {name} ") for name in ("unit-infra", "unit-code-lambdas", "unit-code-pipeline")]
    coverage, signed, promote = (
        first("coverage report --fail-under=90"),
        first("--suite unit-infra="),
        first("promote-bootstrap"),
    )
    assert gate < e2e < coverage < signed < promote, plan
    assert max(suites) < coverage, plan
    assert "--destroy" in lines[e2e], lines[e2e]  # make test proves terraform destroy once per run
    # The CPU-only suites yield to the e2e; the pipeline suite (real LocalStack instances with deadlines) does not.
    assert [lines[i].startswith("nice -n 10 ") for i in suites] == [True, True, False], [lines[i] for i in suites]
    # One graph: the e2e step depends on the policy gate, so it deploys exactly the artifact that passed.
    assert "e2e-after-policy: policy " in (REPO_ROOT / "Makefile").read_text()


def test_the_unit_suites_run_at_normal_priority_outside_make_test() -> None:
    plan = make("-n", "unit").stdout
    assert "unit-suite" in plan and "nice -n" not in plan, plan


def recipe_of(target: str) -> str:
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line)
    return "\n".join(body)


def test_localstack_e2e_gates_on_the_policy_then_runs_the_whole_pipeline() -> None:
    recipe = recipe_of("localstack-e2e")
    assert recipe.index("$(MAKE) policy") < recipe.index("$(call E2E_RUN"), recipe
    assert "--phase" in recipe
    # Not `make -n localstack-e2e`: a recipe line holding $(MAKE) runs even under -n (it would run the pipeline).
    run = make("-n", "e2e-after-policy").stdout
    assert "pipeline localstack-e2e --stack-dir cdktf.out/stacks/paygate --junit build/e2e/junit.xml" in run, run
    assert "evidence sign" in run.split("pipeline localstack-e2e", 1)[1], run


def test_policy_gate_needs_an_input_and_passes_each_one() -> None:
    result = make("policy-gate")
    assert result.returncode != 0
    assert "usage: make policy-gate INPUT=<path to cdk.tf.json or plan.json>" in result.stderr
    planned = make("-n", "policy-gate", "INPUT=a.json b.json").stdout
    assert "pipeline policy-gate --input a.json --input b.json --out build/policy" in planned


def test_synth_reads_the_environment_file_of_env_and_reruns_when_it_changes() -> None:
    # The synth inputs count by content: build/synth.env (a prerequisite of cdk.tf.json) holds their sha256.
    def hashed(env: str) -> list[str]:
        database = make("-np", f"ENV={env}", "synth").stdout
        rule = next(line for line in database.splitlines() if line.startswith("cdktf.out/stacks/paygate/cdk.tf.json:"))
        assert "build/synth.env" in rule.split(":", 1)[1].split()
        recipe = make("-n", f"ENV={env}", "synth").stdout
        line = next(line for line in recipe.splitlines() if "sha256sum" in line)
        return [w for w in line.replace(";", " ").split() if w.startswith("environments/")]

    assert "environments/production.toml" in hashed("production")
    assert "environments/dev.toml" in hashed("dev") and "environments/production.toml" not in hashed("dev")
    # An undeclared ENV has no file to hash (it says "missing"): main.py refuses it, naming the declared ones.
    assert [w for w in hashed("nope") if w != "environments/nope.toml"] == []
    planned = make("-n", "synth", "ENV=production").stdout
    assert "PAYGATE_ENVIRONMENT=production PAYGATE_ARTIFACTS_DIR=build/dist .venv/bin/python main.py" in planned


def test_the_synth_stamp_follows_the_environment_file_by_content(tmp_path: Path) -> None:
    """An edit that keeps the file's mtime (a checkout, a copy with -p) still changes the stamp."""
    env_file = tmp_path / "qa.toml"
    stamp = tmp_path / "synth.env"

    def stamp_after(text: str) -> str:
        env_file.write_text(text)
        done = make(f"SYNTH_ENV={stamp}", f"ENV_FILE={env_file}", "ENV=qa", str(stamp))
        assert done.returncode == 0, done.stderr
        return stamp.read_text()

    first = stamp_after('region = "us-east-1"\n')
    assert first.startswith("ENV=qa\n") and str(env_file) in first
    assert stamp_after('region = "us-east-1"\n') == first
    assert stamp_after('region = "eu-west-1"\n') != first
    env_file.unlink()
    done = make(f"SYNTH_ENV={stamp}", f"ENV_FILE={env_file}", "ENV=qa", str(stamp))
    assert f"{env_file} missing" in stamp.read_text(), done.stderr
