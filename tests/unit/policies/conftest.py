"""Fixtures for the pack's self-tests: one Checkov run per input kind over every fixture; the session's stack.

The Checkov runs are background fixtures (tests/unit/background.py): they start with the session's first test.

Fixture folders are discovered (``fixtures/<CHECK_ID>/main.tf.json`` + ``expected.yaml``). The plan of
all fixtures is made once: every folder becomes a module of one root, planned offline with the same
stub as ``make plan``, cached under ``build/policy-fixtures/<content hash>/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.settings import Settings
from pipeline.core.toolchain import find_terraform
from pipeline.policy import checkov as policy
from pipeline.policy import pack
from pipeline.terraform.offline_plan import PlanRequest, plan_json
from tests.unit.background import background_fixture
from tests.unit.policies.support import CHECKS_DIR, MAPPING, pack_checks, settings_now

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
WAIVERS = REPO_ROOT / "policies" / "waivers.yaml"
LOCK_FILE = REPO_ROOT / "terraform" / ".terraform.lock.hcl"
TF_CONFIG = REPO_ROOT / "build" / "terraform.tfrc"
CACHE = REPO_ROOT / "build" / "policy-fixtures"


def fixture_dirs() -> list[Path]:
    """Every fixture folder (discovered: adding a folder adds a test case)."""
    return sorted(p for p in FIXTURES.iterdir() if p.is_dir())


@pytest.fixture(scope="session")
def gate_settings() -> Settings:
    return settings_now()


@pytest.fixture(scope="session")
def mapping() -> dict[str, pack.Entry]:
    return pack.load(MAPPING)


def _content_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(FIXTURES)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@background_fixture()
def json_fixture_scans() -> dict[Path, policy.Scan]:
    """The pack over every fixture folder in one terraform_json run."""
    return policy.run_checkov(FIXTURES, policy.TERRAFORM_JSON, CHECKS_DIR, settings_now(), only=pack_checks())


@background_fixture()
def plan_fixture_scan() -> policy.Scan:
    """The pack over the plan of every fixture (one module per folder), planned at most once per content."""
    gate_settings = settings_now()
    sources = sorted(FIXTURES.glob("*/main.tf.json"))
    cache = CACHE / _content_hash(sources)
    plan_file = cache / "plan.json"
    if not plan_file.is_file():
        stage = cache / "src"
        shutil.rmtree(stage, ignore_errors=True)
        for source in sources:
            (stage / source.parent.name).mkdir(parents=True)
            shutil.copyfile(source, stage / source.parent.name / source.name)
        root: dict[str, Any] = {
            "terraform": {"required_providers": {"aws": {"source": "aws", "version": "5.100.0"}}},
            "provider": {"aws": [{"region": "us-east-1"}]},
            "module": {s.parent.name: {"source": f"./{s.parent.name}"} for s in sources},
        }
        (stage / "cdk.tf.json").write_text(json.dumps(root, indent=1), encoding="utf-8")
        request = PlanRequest(
            stack_dir=stage,
            work_dir=cache / "work",
            lock_file=LOCK_FILE,
            cli_config=TF_CONFIG,
            terraform=find_terraform(gate_settings).path,
        )
        assert TF_CONFIG.is_file(), f"{TF_CONFIG} is missing: run `make tf-config`"
        plan_json(request, plan_file, gate_settings)
    scans = policy.run_checkov(plan_file, policy.TERRAFORM_PLAN, CHECKS_DIR, gate_settings, only=pack_checks())
    return scans[plan_file]


@pytest.fixture(scope="session")
def real_stack(stack: Any) -> dict[str, Any]:
    """The platform's ``cdk.tf.json``: the session's default stack (tests mutate deep copies only)."""
    doc: dict[str, Any] = stack.doc
    return doc
