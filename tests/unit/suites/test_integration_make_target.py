"""`make integration`: the suite's options as the Makefile passes them (dry run, nothing is deployed or called)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def dry_run(*variables: str) -> str:
    done = subprocess.run(
        ["make", "-C", str(REPO_ROOT), "-n", "integration", *variables], capture_output=True, text=True, check=True
    )
    return " ".join(done.stdout.replace("\\\n", " ").split())


def test_by_default_it_checks_the_localstack_deployment_and_writes_junit_to_build_integration() -> None:
    plan = dry_run()

    assert "-m pytest tests/integration" in plan
    for option in (
        "--junitxml=build/integration/junit.xml",
        "--outputs=build/localstack/outputs.json",
        "--artifact=cdktf.out/stacks/paygate",
        "--environment=dev",
        "--target=localstack",
        "${endpoint:+--endpoint=$endpoint}",
    ):
        assert option in plan, plan
    assert "build/localstack/state.json" in plan  # the running instance's endpoint, when none is given


def test_an_aws_environment_is_named_by_its_outputs_region_and_profile() -> None:
    plan = dry_run("ENV=staging", "OUTPUTS=/tmp/staging.json", "TARGET=aws", "REGION=eu-west-1", "PROFILE=ci")

    for option in ("--outputs=/tmp/staging.json", "--environment=staging", "--target=aws", "--region=eu-west-1"):
        assert option in plan, plan
    assert "--profile=ci" in plan
