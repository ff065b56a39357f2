"""pipeline.promote without a cloud: the plan review, every refusal, the approval binding and the audit record.

terraform, STS and S3 are not called: the preflight's account and backend checks are replaced by fakes
(``targets``), the state backend's bootstrap runs against moto. The full path with real terraform against
LocalStack is `make promote-localstack` (part of `make test`).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from pipeline.build import artifact
from pipeline.build.artifact import Artifact
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file
from pipeline.core.runner import CommandFailed, Completed
from pipeline.core.settings import Settings
from pipeline.deploy import apply as deploy_apply
from pipeline.promote import review as plan_review
from pipeline.promote import run as promote
from pipeline.promote import target as targets
from pipeline.promote.refusals import Reason, Refusal
from pipeline.promote.target import Target

SettingsFactory = Callable[..., Settings]
PRODUCTION = Target("production", "aws", "eu-west-1", "222222222222", "state-bucket", "eu-west-1")
EMULATED = Target(
    "localstack", "localstack", "us-east-1", "000000000000", "state", "us-east-1", "http://127.0.0.1:4566"
)
TODAY = dt.date(2026, 11, 30)


def change(address: str, actions: list[str], mode: str = "managed") -> dict[str, Any]:
    return {"address": address, "mode": mode, "type": address.split(".")[0], "change": {"actions": actions}}


PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        change("aws_dynamodb_table.payments", ["delete", "create"]),
        change("aws_sqs_queue.dlq", ["delete"]),
        change("aws_lambda_function.api", ["update"]),
        change("aws_iam_role.api", ["create"]),
        change("aws_s3_bucket.files", ["create", "delete"]),
        change("aws_kms_key.data", ["no-op"]),
        change("aws_cloudwatch_log_group.api", ["update"]),
        change("data.aws_iam_policy_document.x", ["read"], mode="data"),
    ],
}


# --- review -------------------------------------------------------------------------------------------------


def test_the_review_counts_actions_and_names_each_stateful_replace_or_destroy() -> None:
    found = plan_review.review(PLAN)
    assert dict(found.counts) == {"create": 1, "update": 2, "replace": 2, "delete": 1, "read": 0, "no-op": 1}
    assert [c.address for c in found.stateful] == [
        "aws_dynamodb_table.payments",
        "aws_sqs_queue.dlq",
        "aws_s3_bucket.files",
    ]
    assert found.changes_anything
    text = plan_review.render(found, {"aws_sqs_queue.dlq"})
    assert text.startswith("plan: 1 to create, 2 to update, 2 to replace, 1 to destroy (1 unchanged)\n")
    assert "replace of table aws_dynamodb_table.payments (its data is lost): needs ALLOW_REPLACE" in text
    assert "delete of queue aws_sqs_queue.dlq (its data is lost): allowed by ALLOW_REPLACE" in text
    assert "aws_lambda_function.api" not in text  # an update of a stateless resource is only counted


def test_an_update_of_a_stateful_resource_and_a_stateless_replace_need_no_allowance() -> None:
    found = plan_review.review({"resource_changes": [change("aws_lambda_function.api", ["delete", "create"])]})
    assert found.stateful == ()
    assert found.unapproved(()) == ()
    unchanged = plan_review.review({"resource_changes": [change("aws_kms_key.data", ["no-op"])]})
    assert not unchanged.changes_anything


def test_allow_replace_must_name_every_stateful_address() -> None:
    found = plan_review.review(PLAN)
    assert [c.address for c in found.unapproved({"aws_dynamodb_table.payments", "aws_s3_bucket.files"})] == [
        "aws_sqs_queue.dlq"
    ]
    assert found.unapproved({c.address for c in found.stateful}) == ()


def test_a_document_that_is_no_plan_or_an_unknown_action_is_an_error() -> None:
    with pytest.raises(PipelineError, match="not a terraform plan JSON"):
        plan_review.review({"values": {}})
    with pytest.raises(PipelineError, match="action terraform does not document"):
        plan_review.review({"resource_changes": [change("aws_sqs_queue.q", ["forget"])]})


# --- refusals: statuses and preflight ------------------------------------------------------------------------


def test_every_reason_has_its_own_exit_status_above_the_generic_error() -> None:
    statuses = [r.value for r in Reason]
    assert len(set(statuses)) == len(statuses)
    assert min(statuses) > 1
    assert Refusal(Reason.DRIFT, "x").status == 24


def test_a_dirty_tree_is_refused_for_aws_and_noted_for_an_emulated_environment() -> None:
    notes: list[str] = []
    with pytest.raises(Refusal, match="uncommitted changes") as refused:
        promote.require_clean_tree(PRODUCTION, True, notes.append)
    assert refused.value.reason is Reason.DIRTY_TREE
    promote.require_clean_tree(EMULATED, True, notes.append)
    promote.require_clean_tree(PRODUCTION, False, notes.append)
    assert notes == ["note: the work tree has uncommitted changes; allowed for emulated environment localstack"]


def write_waivers(path: Path, expires: str) -> Path:
    path.write_text(
        "waivers:\n  - check: CKV_AWS_1\n    resource: aws_s3_bucket.b\n    owner: team\n"
        "    justification: the bucket is public for a documented reason here\n"
        f"    expires: {expires}\n",
        encoding="utf-8",
    )
    return path


def test_an_expired_waiver_is_refused_and_one_expiring_today_is_not(tmp_path: Path) -> None:
    with pytest.raises(Refusal, match=r"CKV_AWS_1 on aws_s3_bucket.b \(expired 2026-11-29\)") as refused:
        promote.require_current_waivers(write_waivers(tmp_path / "w.yaml", "2026-11-29"), TODAY)
    assert refused.value.reason is Reason.WAIVER_EXPIRED
    promote.require_current_waivers(write_waivers(tmp_path / "w.yaml", "2026-11-30"), TODAY)


class FakeSts:
    def __init__(self, answer: Mapping[str, str] | Exception) -> None:
        self.answer = answer

    def get_caller_identity(self) -> Mapping[str, str]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_missing_credentials_and_another_account_are_refused_before_anything_is_planned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(value: Mapping[str, str] | Exception) -> None:
        monkeypatch.setattr(targets, "client", lambda *_a, **_k: FakeSts(value))

    made = boto3.session.Session(region_name="eu-west-1")
    answer(botocore.exceptions.NoCredentialsError())
    with pytest.raises(Refusal, match="no AWS credentials for environment production") as refused:
        targets.check_account(PRODUCTION, made)
    assert refused.value.reason is Reason.NO_CREDENTIALS
    answer({"Account": "111111111111", "Arn": "arn:aws:iam::111111111111:user/x"})
    with pytest.raises(Refusal, match="belong to account 111111111111, but environment production is account 2222"):
        targets.check_account(PRODUCTION, made)
    answer({"Account": "222222222222", "Arn": "arn:aws:sts::222222222222:assumed-role/deploy/ci"})
    assert targets.check_account(PRODUCTION, made) == "arn:aws:sts::222222222222:assumed-role/deploy/ci"


def test_an_emulated_environment_without_credentials_uses_its_account_id_as_access_key() -> None:
    made = targets.session(EMULATED, {})
    assert made.get_credentials().access_key == "000000000000"  # type: ignore[union-attr]
    assert targets.credentials_env(EMULATED, made)["AWS_ACCESS_KEY_ID"] == "000000000000"
    chosen = targets.session(EMULATED, {"AWS_ACCESS_KEY_ID": "x"})
    assert chosen.get_credentials() is None or chosen.get_credentials().access_key != "000000000000"  # type: ignore[union-attr]


@mock_aws
def test_an_unreachable_backend_is_refused_and_bootstrap_creates_a_locked_down_state_bucket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = boto3.session.Session(region_name="eu-west-1")
    with pytest.raises(Refusal, match=r"s3://state-bucket \(eu-west-1\) of environment production is unr"):
        targets.check_backend(PRODUCTION, made)
    assert targets.bootstrap_backend(PRODUCTION, made) is True
    assert targets.bootstrap_backend(PRODUCTION, made) is False  # already there
    targets.check_backend(PRODUCTION, made)
    s3 = made.client("s3")
    assert s3.get_bucket_versioning(Bucket="state-bucket")["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket="state-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(s3.get_public_access_block(Bucket="state-bucket")["PublicAccessBlockConfiguration"].values())
    policy = json.loads(s3.get_bucket_policy(Bucket="state-bucket")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_emulated_backend_and_provider_point_at_localstack_and_keep_the_callers_credentials() -> None:
    config = promote.backend_config(EMULATED)
    assert 'endpoints = { s3 = "http://127.0.0.1:4566", sts = "http://127.0.0.1:4566" }' in config
    assert "use_path_style = true" in config
    provider = promote.provider_override(EMULATED)["provider"]["aws"][0]
    assert "access_key" not in provider and "secret_key" not in provider
    assert provider["endpoints"][0]["sts"] == "http://127.0.0.1:4566"
    assert "skip_requesting_account_id" not in provider  # allowed_account_ids needs the real account answer


# --- the approval binding --------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> tuple[promote.Request, promote.Context]:
    """A reviewed saved plan in build/promote/<env> for commit c0ffee and artifact aa..a."""
    work_root = tmp_path / "promote"
    work_root.mkdir()
    (work_root / promote.PLAN_FILE).write_bytes(b"a saved terraform plan")
    (work_root / promote.PLAN_JSON).write_text(json.dumps(PLAN), encoding="utf-8")
    reviewed = {
        "plan_sha256": sha256_file(work_root / promote.PLAN_FILE),
        "commit": "c0ffee",
        "artifact_sha256": "a" * 64,
        "planner": "alice@example.com",
    }
    (work_root / promote.REVIEW_FILE).write_text(json.dumps(reviewed), encoding="utf-8")
    request = make_request(tmp_path, work_root, approve=reviewed["plan_sha256"], actor="bob@example.com")
    ctx = promote.Context("c0ffee", Artifact("a" * 64, ()), "e" * 64, boto3.session.Session(), "arn")
    return request, ctx


def make_request(tmp_path: Path, work_root: Path, **changes: Any) -> promote.Request:
    fields: dict[str, Any] = {
        "target": PRODUCTION,
        "stack_dir": tmp_path / "stack",
        "lock_file": tmp_path / "lock.hcl",
        "cli_config": tmp_path / "tfrc",
        "terraform": tmp_path / "terraform",
        "work_root": work_root,
        "checks_dir": tmp_path / "checks",
        "mapping": tmp_path / "mapping.yaml",
        "waivers_file": tmp_path / "waivers.yaml",
        "today": TODAY,
        "actor": "alice@example.com",
        "allow_replace": frozenset({"aws_dynamodb_table.payments", "aws_sqs_queue.dlq", "aws_s3_bucket.files"}),
    }
    fields.update(changes)
    return promote.Request(**fields)


def with_(request: promote.Request, **changes: Any) -> promote.Request:
    fields = {name: getattr(request, name) for name in promote.Request.__dataclass_fields__}
    fields.update(changes)
    return promote.Request(**fields)


def test_an_approval_of_the_reviewed_plan_by_another_person_with_every_replace_allowed_passes(
    saved: tuple[promote.Request, promote.Context],
) -> None:
    request, ctx = saved
    reviewed, found = promote.check_approval(request, ctx, frozenset())
    assert reviewed["planner"] == "alice@example.com"
    assert found.counts["replace"] == 2


def test_a_plan_file_changed_after_approval_is_refused(saved: tuple[promote.Request, promote.Context]) -> None:
    request, ctx = saved
    request.plan_file.write_bytes(b"a saved terraform plan, edited")
    with pytest.raises(Refusal, match="changed since review or the approval is for another plan") as refused:
        promote.check_approval(request, ctx, frozenset())
    assert refused.value.reason is Reason.APPROVAL_MISMATCH


def test_an_approval_for_another_plan_is_refused(saved: tuple[promote.Request, promote.Context]) -> None:
    request, ctx = saved
    with pytest.raises(Refusal, match="the approval names plan 0000000000") as refused:
        promote.check_approval(with_(request, approve="0" * 64), ctx, frozenset())
    assert refused.value.reason is Reason.APPROVAL_MISMATCH


def test_a_plan_swapped_under_its_review_is_refused(saved: tuple[promote.Request, promote.Context]) -> None:
    request, ctx = saved
    request.plan_file.write_bytes(b"another plan")
    swapped = with_(request, approve=sha256_file(request.plan_file))
    with pytest.raises(Refusal, match="is not the plan that was reviewed") as refused:
        promote.check_approval(swapped, ctx, frozenset())
    assert refused.value.reason is Reason.APPROVAL_MISMATCH


def test_no_saved_plan_is_refused(tmp_path: Path) -> None:
    request = make_request(tmp_path, tmp_path / "empty", approve="0" * 64)
    ctx = promote.Context("c0ffee", Artifact("a" * 64, ()), "e" * 64, boto3.session.Session(), "arn")
    with pytest.raises(Refusal, match="no saved plan in") as refused:
        promote.check_approval(request, ctx, frozenset())
    assert refused.value.reason is Reason.APPROVAL_MISMATCH


@pytest.mark.parametrize(("commit", "sha"), [("beef00", "a" * 64), ("c0ffee", "b" * 64)])
def test_a_plan_for_another_commit_or_artifact_is_stale(
    saved: tuple[promote.Request, promote.Context], commit: str, sha: str
) -> None:
    request, _ = saved
    ctx = promote.Context(commit, Artifact(sha, ()), "e" * 64, boto3.session.Session(), "arn")
    with pytest.raises(Refusal, match="plan again") as refused:
        promote.check_approval(request, ctx, frozenset())
    assert refused.value.reason is Reason.PLAN_STALE


def test_a_plan_applied_before_is_refused(saved: tuple[promote.Request, promote.Context]) -> None:
    request, ctx = saved
    with pytest.raises(Refusal, match="was applied already") as refused:
        promote.check_approval(request, ctx, frozenset({sha256_file(request.plan_file)}))
    assert refused.value.reason is Reason.PLAN_STALE


def test_the_planner_cannot_approve_an_aws_change_but_may_on_the_emulator(
    saved: tuple[promote.Request, promote.Context],
) -> None:
    request, ctx = saved
    with pytest.raises(Refusal, match=r"alice@example\.com made this plan and cannot approve it") as refused:
        promote.check_approval(with_(request, actor="alice@example.com"), ctx, frozenset())
    assert refused.value.reason is Reason.SELF_APPROVAL
    promote.check_approval(with_(request, actor="alice@example.com", target=EMULATED), ctx, frozenset())


def test_a_stateful_replace_not_named_in_allow_replace_is_refused(
    saved: tuple[promote.Request, promote.Context],
) -> None:
    request, ctx = saved
    partial = with_(request, allow_replace=frozenset({"aws_sqs_queue.dlq"}))
    with pytest.raises(Refusal, match=r"aws_dynamodb_table.payments \(replace\), aws_s3_bucket.files \(replace\)"):
        promote.check_approval(partial, ctx, frozenset())


# --- the whole run: refusals are recorded, nothing is applied -------------------------------------------------


@pytest.fixture
def repo(scratch_repo: Path) -> Path:
    """The settings' repository, committed, holding a synthesized stack (one configuration file)."""
    root = scratch_repo
    stack = root / "stack"
    stack.mkdir(parents=True)
    (stack / artifact.STACK_FILE).write_text('{"resource": {}}\n', encoding="utf-8")
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "stack"]):
        subprocess.run(command, cwd=root, check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return root


Recorded = list[Mapping[str, Any]]


def run_promote(
    request: promote.Request, settings: Settings, *, evidence: promote.Evidence | None = None
) -> tuple[Recorded, list[str]]:
    records: Recorded = []
    lines: list[str] = []

    def no_evidence(target: Target, checked: Artifact) -> str:
        raise Refusal(Reason.NO_EVIDENCE, f"no verified evidence for artifact {checked.short}")

    def never(*_: object) -> None:
        raise AssertionError("must not be reached")

    promote.promote(
        request,
        settings,
        evidence=evidence or no_evidence,
        integration=never,
        audit=lambda _t, _s, record: records.append(record),
        applied_plans=lambda *_: frozenset(),
        progress=lines.append,
    )
    return records, lines


def test_a_dirty_tree_refuses_production_and_the_refusal_is_recorded(
    repo: Path, tmp_path: Path, make_settings: SettingsFactory
) -> None:
    (repo / "stack" / "notes.txt").write_text("uncommitted", encoding="utf-8")
    settings = make_settings()
    request = make_request(tmp_path, tmp_path / "promote", stack_dir=repo / "stack")
    with pytest.raises(Refusal) as refused:
        run_promote(request, settings)
    assert refused.value.reason is Reason.DIRTY_TREE


def test_no_evidence_refuses_before_credentials_are_asked_and_the_audit_trail_gets_the_refusal(
    repo: Path, tmp_path: Path, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(targets, "check_account", lambda *_: asked.append("sts") or "arn")
    settings = make_settings()
    request = make_request(tmp_path, tmp_path / "promote", stack_dir=repo / "stack")
    records: Recorded = []

    def no_evidence(target: Target, checked: Artifact) -> str:
        raise Refusal(Reason.NO_EVIDENCE, f"no verified evidence for artifact {checked.short}")

    with pytest.raises(Refusal, match="no verified evidence") as refused:
        promote.promote(
            request,
            settings,
            evidence=no_evidence,
            integration=lambda *_: None,
            audit=lambda _t, made, record: records.append({**record, "session": made}),
            applied_plans=lambda *_: frozenset(),
            progress=lambda _: None,
        )
    assert refused.value.reason is Reason.NO_EVIDENCE
    assert asked == []
    assert not (tmp_path / "promote" / promote.PLAN_FILE).exists()
    [record] = records
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert record["result"] == "refused"
    assert record["reason"].startswith("NO_EVIDENCE: no verified evidence for artifact ")
    assert record["commit"] == head
    assert record["artifact_sha256"] == artifact.digest(repo / "stack").sha256
    assert record["environment"] == "production" and record["who"] == "alice@example.com"
    assert record["session"] is None  # refused before any AWS session: kept locally only


@pytest.mark.parametrize(
    ("account", "backend", "reason"),
    [
        (Refusal(Reason.NO_CREDENTIALS, "no AWS credentials"), None, Reason.NO_CREDENTIALS),
        (Refusal(Reason.WRONG_ACCOUNT, "another account"), None, Reason.WRONG_ACCOUNT),
        ("arn", Refusal(Reason.BACKEND_UNREACHABLE, "unreachable"), Reason.BACKEND_UNREACHABLE),
    ],
)
def test_credentials_and_backend_refusals_stop_before_terraform_runs(
    repo: Path,
    tmp_path: Path,
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
    account: str | Refusal,
    backend: Refusal | None,
    reason: Reason,
) -> None:
    def answer(value: object) -> Callable[..., object]:
        def fake(*_: object) -> object:
            if isinstance(value, Exception):
                raise value
            return value

        return fake

    monkeypatch.setattr(targets, "check_account", answer(account))
    monkeypatch.setattr(targets, "check_backend", answer(backend))
    monkeypatch.setattr(promote, "prepare_stack", lambda *_: pytest.fail("terraform must not run"))
    settings = make_settings()
    request = make_request(tmp_path, tmp_path / "promote", stack_dir=repo / "stack")
    with pytest.raises(Refusal) as refused:
        run_promote(request, settings, evidence=lambda _t, _c: "e" * 64)
    assert refused.value.reason is reason


def test_drift_after_apply_is_refused_naming_each_resource_terraform_would_still_change(
    tmp_path: Path, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = (
        "  # aws_sqs_queue.payments will be updated in-place\n  ~ resource ... {\n"
        "      # (3 unchanged attributes hidden)\n"
        "  # aws_kms_key.data must be replaced\n"
    )
    answers = iter(
        [Completed([], 2, planned, ""), Completed([], 0, "No changes.", ""), Completed([], 1, "", "Error: x")]
    )
    monkeypatch.setattr(deploy_apply, "run", lambda *_a, **_k: next(answers))  # the deploy step's drift plan
    request = make_request(tmp_path, tmp_path / "promote")
    changes = r"2 resource\(s\): aws_sqs_queue.payments will be updated in-place; aws_kms_key.data must be replaced"
    with pytest.raises(Refusal, match=changes) as r:
        promote.check_drift(request, tmp_path, {})
    assert r.value.reason is Reason.DRIFT
    promote.check_drift(request, tmp_path, {})  # exit 0: no changes
    with pytest.raises(PipelineError, match=r"the drift check .* failed: Error: x"):
        promote.check_drift(request, tmp_path, {})


def test_a_plan_refused_by_the_gate_leaves_nothing_that_could_be_approved(
    saved: tuple[promote.Request, promote.Context], make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    request, ctx = saved
    (request.work_root / promote.PLAN_DIGEST_FILE).write_text("0" * 64 + "\n", encoding="utf-8")

    def fake_run(command: list[str], **_: object) -> Completed:
        if command[1] == "plan":
            request.plan_file.write_bytes(b"a new plan")
        return Completed(command, 0, json.dumps(PLAN), "")

    def refuse(*_: object) -> None:
        raise Refusal(Reason.PLAN_POLICY_FAILED, "the policy gate failed on the plan")

    monkeypatch.setattr(promote, "prepare_stack", lambda *_: request.work_root)
    monkeypatch.setattr(promote, "terraform_init", lambda *_: None)
    monkeypatch.setattr(promote, "_tf_env", lambda *_: {})
    monkeypatch.setattr(promote, "run", fake_run)
    monkeypatch.setattr(promote, "gate_plan", refuse)
    outcome = promote.Outcome("production", "alice@example.com")
    with pytest.raises(Refusal, match="policy gate failed"):
        promote.plan(request, make_settings(), ctx, outcome, lambda _: None)
    assert not request.plan_file.exists()
    assert not request.review_file.exists()
    assert not (request.work_root / promote.PLAN_DIGEST_FILE).exists()


def test_an_undeclared_environment_is_refused_naming_the_declared_ones(
    scratch_repo: Path, make_settings: SettingsFactory
) -> None:
    from pipeline.promote import command

    (scratch_repo / "environments").mkdir()
    (scratch_repo / "environments" / "staging.toml").write_text("", encoding="utf-8")
    with pytest.raises(Refusal, match=r"environment 'prod' cannot be promoted: .*declared: staging") as refused:
        command.environment(make_settings(), "prod")
    assert refused.value.reason is Reason.UNDECLARED_ENVIRONMENT


def test_a_stale_saved_plan_and_a_failed_apply_are_told_apart(
    saved: tuple[promote.Request, promote.Context], make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    request, ctx = saved
    monkeypatch.setattr(promote, "prepare_stack", lambda *_: request.work_root)
    monkeypatch.setattr(promote, "terraform_init", lambda *_: None)
    monkeypatch.setattr(promote, "_tf_env", lambda *_: {})
    for output, reason in (
        ("Error: Saved plan is stale", Reason.PLAN_STALE),
        ("Error: creating SQS Queue: AccessDenied", Reason.APPLY_FAILED),
    ):

        def fail(command: list[str], *, said: str = output, **_: object) -> Completed:
            raise CommandFailed("terraform apply of the saved plan", Completed(command, 1, said, ""))

        monkeypatch.setattr(promote, "stream", fail)
        outcome = promote.Outcome("production", "bob@example.com", plan_sha256=sha256_file(request.plan_file))
        with pytest.raises(Refusal) as refused:
            promote.apply(request, make_settings(), ctx, outcome, lambda _: None, lambda *_: None)
        assert refused.value.reason is reason
        assert request.plan_file.is_file()  # not applied: the saved plan stays for a new decision


def test_a_failing_post_deploy_suite_refuses_and_names_its_counts(
    tmp_path: Path, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.promote import integration

    junit = tmp_path / "junit.xml"

    def suite(command: list[str], **_: object) -> Completed:
        assert "--target=localstack" in command and "--account-id=000000000000" in command
        junit.write_text('<testsuite tests="47" failures="1" errors="0" skipped="1"/>', encoding="utf-8")
        raise CommandFailed("the post-deploy suite", Completed(command, 1, "", ""))

    monkeypatch.setattr(integration, "stream", suite)
    with pytest.raises(Refusal, match="47 run, 1 failed, 0 errors, 1 skipped") as refused:
        integration.run_suite(make_settings(), EMULATED, tmp_path / "o.json", tmp_path, junit, lambda _: None)
    assert refused.value.reason is Reason.INTEGRATION_FAILED
    aws = integration.command(PRODUCTION, tmp_path / "o.json", tmp_path, junit)
    assert "--target=aws" in aws and "--region=eu-west-1" in aws and not any("endpoint" in a for a in aws)


@mock_aws
def test_applied_plans_come_from_a_verified_trail_and_a_tampered_trail_refuses_the_apply(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from pipeline.evidence import signing
    from pipeline.promote import audit, command

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = make_settings()
    key = signing.local_signing_key(settings.repo_root / command.KEYS_DIR)
    made = boto3.session.Session(region_name="eu-west-1")
    s3 = made.client("s3")
    s3.create_bucket(Bucket="state-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = audit.S3Store(s3, "state-bucket", audit.s3_prefix("production"))
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    for n, (result, plan) in enumerate((("planned", "1" * 64), ("applied", "1" * 64), ("refused", "2" * 64))):
        event = audit.PromotionEvent("bob", "production", "c0ffee", result, f"the run {result}", plan_sha256=plan)
        audit.append(store, event, key, now + dt.timedelta(minutes=n))
    trust = SimpleNamespace(evidence=SimpleNamespace(trusted_keys=(), accept_local_keys=True))
    read = command.applied_plans(settings, command.Environment(trust, PRODUCTION))  # type: ignore[arg-type]
    assert read(PRODUCTION, made) == frozenset({"1" * 64})
    first = audit.record_name(1)
    body = s3.get_object(Bucket="state-bucket", Key=store.prefix + first)["Body"].read()
    s3.put_object(Bucket="state-bucket", Key=store.prefix + first, Body=body.replace(b'"', b"'", 1))
    with pytest.raises(Refusal, match="does not verify") as refused:
        read(PRODUCTION, made)
    assert refused.value.reason is Reason.AUDIT_TRAIL_BROKEN
