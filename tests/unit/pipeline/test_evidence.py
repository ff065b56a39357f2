"""Evidence bundles (pipeline/evidence/bundle.py, predicate.py, verify.py): record, sign, verify, refuse.

Every bundle here is recorded from real inputs: a stack directory digested by ``pipeline.artifact``, the
policy gate's reports written by ``pipeline.reports`` and ``pipeline.artifact.record_evidence``, JUnit
XML in pytest's format, the e2e summary written from a ``pipeline.e2e.Summary``; keys are real ed25519.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.build import artifact
from pipeline.cli import main, parser
from pipeline.core.errors import PipelineError
from pipeline.e2e import run as e2e
from pipeline.evidence import bundle, predicate, signing, verify
from pipeline.evidence.verify import EvidenceRefused
from pipeline.policy import gate, pack, reports, waivers
from pipeline.policy.checkov import Finding, Scan

ENV = "dev"
COMMIT = "a" * 40
OTHER_COMMIT = "b" * 40
CLEAN_CHECKOUT = bundle.GitState(COMMIT)
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 30)
WAIVER_EXPIRES = dt.date(2027, 3, 31)
MAPPING = {"CKV_PAY_001": pack.Entry("CKV_PAY_001", ("3.5.1",), "high", "why", "use the platform key")}


def junit_xml(tests: int, failures: int = 0, errors: int = 0, skipped: int = 0) -> str:
    """A JUnit report in pytest's shape (one ``testsuite`` inside ``testsuites``)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        f'<testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="{skipped}" tests="{tests}" '
        'time="1.0" timestamp="2026-11-30T12:00:00+00:00" hostname="vm"><testcase classname="t" name="x" />'
        "</testsuite></testsuites>\n"
    )


@dataclasses.dataclass
class Project:
    """A scratch layout of everything a bundle is recorded from."""

    root: Path

    @property
    def stack(self) -> Path:
        return self.root / "cdktf.out" / "stacks" / "paygate"

    @property
    def policy(self) -> Path:
        return self.root / "build" / "policy"

    @property
    def waivers(self) -> Path:
        return self.root / "policies" / "waivers.yaml"

    @property
    def evidence(self) -> Path:
        return self.root / "build" / "evidence"

    @property
    def keys(self) -> Path:
        return self.root / "build" / "keys"

    @property
    def e2e_junit(self) -> Path:
        return self.root / "build" / "e2e" / "junit.xml"

    @property
    def e2e_summary(self) -> Path:
        return self.root / "build" / "e2e" / "summary.json"

    def unit(self, name: str) -> Path:
        return self.root / "build" / "unit" / f"{name}.xml"

    def digest(self) -> str:
        return artifact.digest(self.stack).sha256

    def bundle(self, environment: str = ENV) -> Path:
        return bundle.bundle_dir(self.evidence, environment, self.digest())


def write_stack(stack: Path) -> None:
    (stack / "assets" / "fn").mkdir(parents=True)
    (stack / "assets" / "fn" / "code.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    document = {"resource": {"aws_lambda_function": {"fn": {"filename": "assets/fn/code.zip"}}}}
    (stack / "cdk.tf.json").write_text(json.dumps(document))
    (stack / "backend_override.tf.json").write_text("{}")  # not part of the artifact


def write_policy(project: Project, *, failed: bool = False, waived: bool = True) -> None:
    """The gate's reports and evidence.json for the project's artifact, as `make policy` writes them."""
    project.waivers.parent.mkdir(parents=True, exist_ok=True)
    project.waivers.write_text(
        textwrap.dedent(
            f"""\
            waivers:
              - check: CKV_PAY_001
                resource: aws_s3_bucket.logs
                owner: payments-platform
                justification: S3 access log delivery refuses SSE-KMS target buckets, so this one uses SSE-S3.
                expires: {WAIVER_EXPIRES.isoformat()}
            """
        )
        if waived
        else "waivers: []\n"
    )
    findings = [
        Finding(
            "CKV_PAY_001", "Ensure a key", "aws_s3_bucket.data", "failed" if failed else "passed", "terraform_json"
        ),
        Finding(
            "CKV_PAY_001", "Ensure a key", "aws_s3_bucket.logs", "failed" if waived else "passed", "terraform_json"
        ),
    ]
    scan = Scan(project.stack / "cdk.tf.json", "terraform_json", tuple(findings))
    verdict = gate.decide([scan], MAPPING, waivers.load(project.waivers), TODAY)
    reports.write(verdict, project.policy)
    artifact.record_evidence(project.policy, project.stack, [project.stack / "cdk.tf.json"], NOW)


def write_units(project: Project, **counts: int) -> None:
    for name in ("unit-infra", "unit-code"):
        project.unit(name).parent.mkdir(parents=True, exist_ok=True)
        project.unit(name).write_text(junit_xml(**{"tests": 10, **counts}))


def write_e2e(
    project: Project,
    *,
    tests: int = 40,
    failures: int = 0,
    skipped: int = 0,
    ran: bool = True,
    git: bundle.GitState = CLEAN_CHECKOUT,
) -> None:
    """The e2e run's JUnit and summary, written as `pipeline localstack-e2e` writes them."""
    project.e2e_junit.parent.mkdir(parents=True, exist_ok=True)
    project.e2e_junit.unlink(missing_ok=True)
    summary = e2e.Summary(artifact_sha256=project.digest(), phases=[("localstack up", 1.5, "ok")], peak_rss=2**20)
    if ran:
        project.e2e_junit.write_text(junit_xml(tests, failures=failures, skipped=skipped))
        summary.counts = e2e.junit_counts(project.e2e_junit)
    else:
        summary.problems.append("deploy (terraform): apply failed")
    bundle.write_e2e_summary(summary, project.e2e_junit, project.e2e_summary, git)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = Project(tmp_path)
    write_stack(made.stack)
    write_policy(made)
    write_units(made)
    write_e2e(made)
    return made


@pytest.fixture
def local_key(project: Project) -> signing.SigningKey:
    return signing.local_signing_key(project.keys)


def request(project: Project, *, commit: str = COMMIT, clean: bool = True, **parts: object) -> bundle.RecordRequest:
    git = bundle.GitState(commit, () if clean else ("stacks/x.py",))
    base = bundle.RecordRequest(ENV, project.stack, project.evidence, git, NOW)
    return dataclasses.replace(base, **parts)  # type: ignore[arg-type]


def record_all(project: Project, key: signing.SigningKey, **changes: object) -> bundle.Recorded:
    """What `make verify` then `make localstack-e2e` record."""
    bundle.record(
        request(
            project,
            policy_dir=project.policy,
            waivers_file=project.waivers,
            suites=[(name, project.unit(name)) for name in ("unit-infra", "unit-code")],
            **changes,
        ),
        key,
    )
    return bundle.record(
        request(
            project, policy_dir=project.policy, waivers_file=project.waivers, e2e_summary=project.e2e_summary, **changes
        ),
        key,
    )


def verify_local(project: Project, where: Path | None = None, environment: str = ENV) -> verify.VerifiedEvidence:
    return verify.verify_bundle(
        where or project.bundle(), project.stack, [], True, environment=environment, local_keys_dir=project.keys
    )


def promotable(
    project: Project, *, commit: str = COMMIT, today: dt.date = TODAY, **kwargs: object
) -> verify.VerifiedEvidence:
    return verify.require_promotable(
        project.evidence,
        ENV,
        project.stack,
        kwargs.pop("trusted_keys", []),  # type: ignore[arg-type]
        kwargs.pop("accept_local_keys", True),  # type: ignore[arg-type]
        commit=commit,
        today=today,
        local_keys_dir=project.keys,
        **kwargs,  # type: ignore[arg-type]
    )


def refusal(call: Callable[[], object]) -> EvidenceRefused:
    with pytest.raises(EvidenceRefused) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message and message.endswith("."), message  # one sentence
    return raised.value


# --- recording ---------------------------------------------------------------------------------------------


def test_make_verify_then_localstack_e2e_leave_a_promotable_bundle(
    project: Project, local_key: signing.SigningKey
) -> None:
    recorded = record_all(project, local_key)
    evidence = promotable(project)
    assert evidence.bundle_dir == project.bundle() == recorded.bundle_dir
    assert (evidence.environment, evidence.commit, evidence.artifact_sha256) == (ENV, COMMIT, project.digest())
    assert evidence.evidence_sha256 == hashlib.sha256((project.bundle() / bundle.MANIFEST).read_bytes()).hexdigest()
    assert (evidence.keyid, evidence.local_key) == (local_key.keyid, True)
    assert evidence.policy is not None and evidence.policy.passed
    assert (evidence.policy.findings, evidence.policy.failures, evidence.policy.problems) == (2, 0, 0)
    assert [(w.check, w.resource, w.expires) for w in evidence.policy.waivers] == [
        ("CKV_PAY_001", "aws_s3_bucket.logs", WAIVER_EXPIRES)
    ]
    assert {name: s.counts.tests for name, s in evidence.suites.items()} == {
        "unit-infra": 10,
        "unit-code": 10,
        "e2e": 40,
    }
    assert evidence.e2e is not None and evidence.e2e.passed
    assert sorted(evidence.predicate.files) == [
        "e2e/summary.json",
        "policy/evidence.json",
        "policy/junit.xml",
        "policy/pci_coverage.md",
        "policy/policy.sarif",
        "policy/summary.txt",
        "policy/waivers-applied.json",
        "suites/e2e.xml",
        "suites/unit-code.xml",
        "suites/unit-infra.xml",
    ]
    assert (
        "policy gate  passed: 2 findings, 0 failed, 0 problems, 1 waivers (first expiry 2027-03-31)"
        in evidence.describe()
    )
    assert recorded.describe().splitlines()[-1].endswith("only environments that accept local keys trust it")


def test_the_manifest_is_a_dsse_envelope_over_an_in_toto_statement_of_every_artifact_file(
    project: Project, local_key: signing.SigningKey
) -> None:
    record_all(project, local_key)
    envelope = json.loads((project.bundle() / bundle.MANIFEST).read_bytes())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in envelope["signatures"]] == [local_key.keyid]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == predicate.PREDICATE_TYPE
    fresh = artifact.digest(project.stack)
    assert statement["subject"] == [
        {"name": "artifact", "digest": {"sha256": fresh.sha256}},
        {"name": "assets/fn/code.zip", "digest": {"sha256": dict(fresh.files)["assets/fn/code.zip"]}},
        {"name": "cdk.tf.json", "digest": {"sha256": dict(fresh.files)["cdk.tf.json"]}},
    ]
    body = statement["predicate"]
    assert (body["environment"], body["commit"], body["artifactSha256"]) == (ENV, COMMIT, fresh.sha256)
    assert body["suites"]["e2e"] == {
        "tests": 40,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
        "file": "suites/e2e.xml",
        "recordedAt": "2026-11-30T12:00:00Z",
        "worktreeClean": True,
    }
    for name, sha in body["files"].items():
        assert hashlib.sha256((project.bundle() / name).read_bytes()).hexdigest() == sha


def test_evidence_accumulates_and_each_recording_re_signs_the_whole_manifest(
    project: Project, local_key: signing.SigningKey
) -> None:
    units = [(name, project.unit(name)) for name in ("unit-infra", "unit-code")]
    first = bundle.record(
        request(project, policy_dir=project.policy, waivers_file=project.waivers, suites=units), local_key
    )
    assert first.predicate.e2e is None and set(first.predicate.suites) == {"unit-infra", "unit-code"}
    manifest_before = (project.bundle() / bundle.MANIFEST).read_bytes()
    second = bundle.record(request(project, e2e_summary=project.e2e_summary), local_key)
    assert set(second.predicate.suites) == {"unit-infra", "unit-code", "e2e"}
    assert second.predicate.policy == first.predicate.policy
    assert (project.bundle() / bundle.MANIFEST).read_bytes() != manifest_before
    assert verify_local(project).predicate == second.predicate


def test_evidence_of_another_commit_is_dropped_not_carried_over(
    project: Project, local_key: signing.SigningKey
) -> None:
    record_all(project, local_key)
    write_e2e(project, git=bundle.GitState(OTHER_COMMIT))
    again = bundle.record(request(project, commit=OTHER_COMMIT, e2e_summary=project.e2e_summary), local_key)
    assert again.notes == (f"earlier evidence of commit {COMMIT[:12]} dropped (this is {OTHER_COMMIT[:12]})",)
    assert set(again.predicate.suites) == {"e2e"} and again.predicate.policy is None
    refused = refusal(lambda: promotable(project, commit=OTHER_COMMIT))
    assert refused.reason == "policy"


def test_evidence_signed_by_another_key_is_dropped_not_re_signed_unverified(
    project: Project, local_key: signing.SigningKey, tmp_path: Path
) -> None:
    record_all(project, local_key)
    ci = signing.CryptoSigner.generate_ed25519()
    ci_key = signing.SigningKey(ci, tmp_path / "ci.pem", local=False)
    again = bundle.record(request(project, e2e_summary=project.e2e_summary), ci_key)
    assert again.notes[0].endswith("was signed by another key: dropped, not re-signed unverified")
    assert set(again.predicate.suites) == {"e2e"}


def test_recording_stops_when_a_signed_bundle_file_was_edited(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    edited = project.bundle() / "suites" / "unit-code.xml"
    edited.write_text(edited.read_text().replace('skipped="0"', 'skipped="1"'))
    with pytest.raises(PipelineError, match=r"was edited or removed since .* was signed: delete"):
        bundle.record(request(project, e2e_summary=project.e2e_summary), local_key)


def test_recording_removes_files_no_part_names(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    (project.bundle() / "suites" / "planted.xml").write_text(junit_xml(1))
    again = bundle.record(request(project, e2e_summary=project.e2e_summary), local_key)
    assert again.notes == ("removed suites/planted.xml: no part of the evidence names it",)
    assert not (project.bundle() / "suites" / "planted.xml").exists()


def test_a_failed_e2e_run_is_recorded_as_failed(project: Project, local_key: signing.SigningKey) -> None:
    write_e2e(project, ran=False)
    recorded = record_all(project, local_key)
    assert recorded.predicate.e2e is not None and not recorded.predicate.e2e.passed
    assert "e2e" not in recorded.predicate.suites
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "e2e",
        "the e2e run on this artifact failed (deploy (terraform): apply failed).",
    )


def test_an_e2e_summary_of_another_commit_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    write_e2e(project, git=bundle.GitState(OTHER_COMMIT))
    with pytest.raises(PipelineError) as raised:
        bundle.record(request(project, e2e_summary=project.e2e_summary), local_key)
    assert str(raised.value) == (
        f"the e2e summary {project.e2e_summary} is of a run at commit {OTHER_COMMIT[:12]}, not at {COMMIT[:12]}: "
        "run `make localstack-e2e` on this commit."
    )


def test_an_e2e_run_from_a_work_tree_with_uncommitted_changes_is_not_promotable(
    project: Project, local_key: signing.SigningKey
) -> None:
    write_e2e(project, git=bundle.GitState(COMMIT, ("tests/localstack/test_api.py",)))
    recorded = record_all(project, local_key)  # recorded from a clean tree, but the run was not
    assert recorded.predicate.e2e is not None and not recorded.predicate.e2e.recording.worktree_clean
    assert refusal(lambda: promotable(project)).reason == "worktree"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-policy-verdict", "no policy verdict at .*evidence.json: the artifact has not passed the policy gate"),
        ("policy-of-another-artifact", "the policy verdict in .* is for artifact [0-9a-f]{12}, not for the one in"),
        ("e2e-of-another-artifact", "the e2e summary .* is for artifact [0-9a-f]{12}, not for this one"),
        ("e2e-junit-replaced", "the e2e JUnit report .* is not the one .*summary.json was written with"),
        ("waiver-gone", "waives findings .*waivers.yaml no longer holds \\(CKV_PAY_001 on aws_s3_bucket.logs\\)"),
        ("not-junit", "unit-code.xml is not a JUnit XML report"),
        ("missing-junit", "pytest wrote no JUnit report"),
        ("e2e-suite-name", "the suite name 'e2e' is the e2e run's: give its summary instead"),
        ("bad-suite-name", "suite name 'Unit Code': use lower-case letters"),
    ],
)
def test_recording_refuses_evidence_that_is_not_this_artifacts(
    project: Project, local_key: signing.SigningKey, damage: str, message: str
) -> None:
    suites = [("unit-code", project.unit("unit-code"))]
    if damage == "no-policy-verdict":
        (project.policy / "evidence.json").unlink()
    elif damage == "policy-of-another-artifact":
        document = json.loads((project.policy / "evidence.json").read_text())
        (project.policy / "evidence.json").write_text(json.dumps({**document, "artifact_sha256": "f" * 64}))
    elif damage == "e2e-of-another-artifact":
        document = json.loads(project.e2e_summary.read_text())
        project.e2e_summary.write_text(json.dumps({**document, "artifactSha256": "f" * 64}))
    elif damage == "e2e-junit-replaced":
        project.e2e_junit.write_text(junit_xml(41))
    elif damage == "waiver-gone":
        project.waivers.write_text("waivers: []\n")
    elif damage == "not-junit":
        project.unit("unit-code").write_text("<testsuites><testsuite tests='many'/>")
    elif damage == "missing-junit":
        project.unit("unit-code").unlink()
    elif damage == "e2e-suite-name":
        suites = [("e2e", project.e2e_junit)]
    elif damage == "bad-suite-name":
        suites = [("Unit Code", project.unit("unit-code"))]
    with pytest.raises(PipelineError, match=message):
        bundle.record(
            request(
                project,
                policy_dir=project.policy,
                waivers_file=project.waivers,
                suites=suites,
                e2e_summary=project.e2e_summary,
            ),
            local_key,
        )


# --- verifying: any change is detected -------------------------------------------------------------------


BUNDLE_FILES = [
    "e2e/summary.json",
    "policy/evidence.json",
    "policy/junit.xml",
    "policy/pci_coverage.md",
    "policy/policy.sarif",
    "policy/summary.txt",
    "policy/waivers-applied.json",
    "suites/e2e.xml",
    "suites/unit-code.xml",
    "suites/unit-infra.xml",
]


@pytest.mark.parametrize("name", BUNDLE_FILES)
def test_one_byte_changed_in_any_bundle_file_is_detected(
    project: Project, local_key: signing.SigningKey, name: str
) -> None:
    record_all(project, local_key)
    path = project.bundle() / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    refused = refusal(lambda: verify_local(project))
    assert (refused.reason, str(refused)) == (
        "edited",
        f"{path} was edited after the evidence was signed (its sha256 changed).",
    )


@pytest.mark.parametrize("name", ["policy/evidence.json", "suites/e2e.xml"])
def test_a_removed_bundle_file_is_detected(project: Project, local_key: signing.SigningKey, name: str) -> None:
    record_all(project, local_key)
    (project.bundle() / name).unlink()
    refused = refusal(lambda: verify_local(project))
    assert (refused.reason, str(refused)) == (
        "edited",
        f"{project.bundle() / name} was removed from the evidence after it was signed.",
    )


def test_a_file_planted_in_the_bundle_is_detected(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    planted = project.bundle() / "suites" / "more.xml"
    planted.write_text(junit_xml(5))
    refused = refusal(lambda: verify_local(project))
    assert (refused.reason, str(refused)) == (
        "edited",
        f"{planted} lies in the evidence bundle but its signed manifest does not name it.",
    )


def _manifest(project: Project) -> Path:
    return project.bundle() / bundle.MANIFEST


def _rewrite_manifest(project: Project, **changes: object) -> None:
    document = json.loads(_manifest(project).read_bytes())
    document.update(changes)
    _manifest(project).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def test_one_byte_changed_in_the_signed_payload_is_detected(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    document = json.loads(_manifest(project).read_bytes())
    payload = bytearray(base64.b64decode(document["payload"]))
    position = payload.index(b'"failures":0') + len(b'"failures":')
    payload[position] = ord("1")
    _rewrite_manifest(project, payload=base64.b64encode(bytes(payload)).decode())
    refused = refusal(lambda: verify_local(project))
    assert refused.reason == "invalid"
    assert str(refused) == (
        f"the signature of {_manifest(project)} by key {local_key.keyid[:16]} does not verify: "
        "its payload or signature was changed after signing."
    )


def test_one_byte_changed_in_the_signature_is_detected(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    document = json.loads(_manifest(project).read_bytes())
    signature = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
    signature[-1] ^= 0x80
    document["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    _rewrite_manifest(project, signatures=document["signatures"])
    assert refusal(lambda: verify_local(project)).reason == "invalid"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_byte_changed_anywhere_in_the_manifest_file_is_refused(
    project: Project, local_key: signing.SigningKey, position: int, flip: int
) -> None:
    if not _manifest(project).exists():
        record_all(project, local_key)
    original = _manifest(project).read_bytes()
    data = bytearray(original)
    data[position % len(data)] ^= flip
    _manifest(project).write_bytes(bytes(data))
    try:
        assert refusal(lambda: verify_local(project)).reason in {"malformed", "edited", "invalid", "untrusted"}
    finally:
        _manifest(project).write_bytes(original)


def test_a_manifest_of_another_payload_type_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    _rewrite_manifest(project, payloadType="application/json")
    refused = refusal(lambda: verify_local(project))
    assert refused.reason == "malformed"


def _resign(project: Project, key: signing.SigningKey, change: Callable[[dict[str, object]], None]) -> None:
    """What someone holding a trusted key could sign: a statement edited by ``change``."""
    document = json.loads(_manifest(project).read_bytes())
    statement = json.loads(base64.b64decode(document["payload"]))
    change(statement)
    _manifest(project).write_bytes(signing.sign_envelope(predicate.encode(statement), predicate.PAYLOAD_TYPE, key))


def test_counts_the_files_do_not_hold_are_refused_even_when_signed(
    project: Project, local_key: signing.SigningKey
) -> None:
    record_all(project, local_key)

    def fewer_failures(statement: dict[str, object]) -> None:
        body = statement["predicate"]
        assert isinstance(body, dict)
        body["suites"]["unit-code"]["tests"] = 99

    _resign(project, local_key, fewer_failures)
    refused = refusal(lambda: verify_local(project))
    assert (refused.reason, str(refused)) == (
        "malformed",
        f"{_manifest(project)} states what its files do not hold: "
        "suite unit-code's counts differ from its JUnit report.",
    )


def test_a_statement_of_another_shape_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    _resign(project, local_key, lambda statement: statement.update(predicateType="https://slsa.dev/provenance/v1"))
    refused = refusal(lambda: verify_local(project))
    assert refused.reason == "malformed"
    assert str(refused).startswith(f"{_manifest(project)} does not hold a paygate evidence statement (")


# --- verifying: keys ------------------------------------------------------------------------------------------


def _ci_key(directory: Path, name: str) -> tuple[signing.SigningKey, Path]:
    """A CI key (PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it) and its public PEM."""
    private = ed25519.Ed25519PrivateKey.generate()
    key_file, public_file = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public_file.write_bytes(private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return signing.load_signing_key(key_file), public_file


def test_a_ci_key_the_environment_trusts_is_accepted_without_local_keys(project: Project, tmp_path: Path) -> None:
    key, public = _ci_key(tmp_path, "ci")
    record_all(project, key)
    evidence = promotable(project, trusted_keys=[public], accept_local_keys=False)
    assert (evidence.keyid, evidence.local_key) == (key.keyid, False)


def test_a_key_the_environment_does_not_trust_is_refused(project: Project, tmp_path: Path) -> None:
    key, _ = _ci_key(tmp_path, "ci")
    _, other = _ci_key(tmp_path, "other")
    record_all(project, key)
    refused = refusal(lambda: promotable(project, trusted_keys=[other], accept_local_keys=False))
    assert refused.reason == "untrusted"


def test_a_throwaway_key_is_refused_by_an_environment_that_does_not_accept_local_keys(
    project: Project, local_key: signing.SigningKey, tmp_path: Path
) -> None:
    _, ci_public = _ci_key(tmp_path, "ci")
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project, trusted_keys=[ci_public], accept_local_keys=False))
    assert refused.reason == "local-key"
    assert "is signed with a throwaway local key" in str(refused)


# --- verifying: the artifact is hashed afresh -----------------------------------------------------------------


def test_a_changed_artifact_file_has_no_evidence(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    signed_bundle = project.bundle()
    (project.stack / "assets" / "fn" / "code.zip").write_bytes(b"PK\x05\x06" + b"\1" * 18)
    refused = refusal(lambda: promotable(project))
    assert refused.reason == "no-bundle"
    assert str(refused) == (
        f"no evidence for artifact {project.digest()[:12]} of environment dev: {project.bundle() / bundle.MANIFEST} "
        "does not exist; run `make verify ENV=dev` and `make localstack-e2e ENV=dev` on this commit."
    )
    # Pointed at the old bundle, the re-hashed artifact is not the one it is for, and it says which file differs.
    refused = refusal(lambda: promotable(project, bundle=signed_bundle))
    assert refused.reason == "artifact"
    assert str(refused) == (
        f"the artifact in {project.stack} (sha256 {project.digest()[:12]}) is not the one this evidence is for "
        f"({signed_bundle.name[:12]}; files that differ: assets/fn/code.zip)."
    )


def test_the_bundles_own_digest_is_never_trusted(project: Project, local_key: signing.SigningKey) -> None:
    """A bundle copied under the new artifact's digest still names the old one: refused."""
    record_all(project, local_key)
    old = project.bundle()
    (project.stack / "cdk.tf.json").write_text(json.dumps({"resource": {}, "x": "assets/fn/code.zip"}))
    old.rename(project.bundle())
    assert refusal(lambda: promotable(project)).reason == "artifact"


def test_files_outside_the_artifact_do_not_change_its_evidence(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    (project.stack / ".terraform").mkdir()
    (project.stack / "provider_override.tf.json").write_text('{"provider": {}}')
    assert promotable(project).artifact_sha256 == project.digest()


def test_evidence_of_another_environment_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    refused = refusal(lambda: verify_local(project, project.bundle(), environment="staging"))
    assert (refused.reason, str(refused)) == (
        "environment",
        f"{_manifest(project)} is the evidence of environment dev, not of staging.",
    )


# --- promotability: every refusal -----------------------------------------------------------------------------


def test_evidence_of_another_commit_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project, commit=OTHER_COMMIT))
    assert (refused.reason, str(refused)) == (
        "commit",
        f"the evidence of artifact {project.digest()[:12]} was recorded at commit {COMMIT[:12]}, not at "
        f"{OTHER_COMMIT[:12]}, which is checked out: record it again on this commit.",
    )


def test_evidence_recorded_with_uncommitted_changes_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key, clean=False)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "worktree",
        "evidence part(s) policy verdict, suite e2e, suite unit-code, suite unit-infra, e2e summary were recorded "
        "with uncommitted changes in the work tree: commit them and record the evidence again.",
    )


def test_a_policy_verdict_with_failures_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    write_policy(project, failed=True)
    artifact.record_evidence(project.policy, project.stack, [project.stack / "cdk.tf.json"], NOW)
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "policy",
        "the policy gate did not pass on this artifact (1 failed, 0 problems).",
    )


def test_evidence_without_a_policy_verdict_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    bundle.record(request(project, e2e_summary=project.e2e_summary), local_key)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "policy",
        "the evidence holds no policy verdict: run `make verify ENV=dev`.",
    )


def test_a_waiver_that_expired_since_the_gate_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    record_all(project, local_key)
    assert promotable(project, today=WAIVER_EXPIRES).commit == COMMIT  # the expiry day itself is still valid
    refused = refusal(lambda: promotable(project, today=WAIVER_EXPIRES + dt.timedelta(days=1)))
    assert (refused.reason, str(refused)) == (
        "waiver-expired",
        "the waiver of CKV_PAY_001 on aws_s3_bucket.logs expired on 2027-03-31 (owner payments-platform): renew or "
        "fix it in policies/waivers.yaml, then record the evidence again.",
    )


def test_missing_unit_suites_are_refused(project: Project, local_key: signing.SigningKey) -> None:
    bundle.record(
        request(project, policy_dir=project.policy, waivers_file=project.waivers, e2e_summary=project.e2e_summary),
        local_key,
    )
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "tests",
        "the evidence holds no JUnit report of suite(s) unit-infra, unit-code: run `make verify ENV=dev` and "
        "`make localstack-e2e ENV=dev` on this commit.",
    )


@pytest.mark.parametrize(
    ("counts", "described"),
    [
        ({"failures": 1}, "10 tests, 1 failed, 0 errors, 0 skipped"),
        ({"errors": 2}, "10 tests, 0 failed, 2 errors, 0 skipped"),
        ({"tests": 0}, "0 tests, 0 failed, 0 errors, 0 skipped"),
    ],
)
def test_a_suite_that_did_not_pass_is_refused(
    project: Project, local_key: signing.SigningKey, counts: dict[str, int], described: str
) -> None:
    write_units(project, **counts)
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == ("tests", f"suite unit-code did not pass on this artifact ({described}).")


def test_a_skipped_unit_test_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    write_units(project, skipped=1)
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "skipped",
        "suite unit-code skipped 1 test(s): a skipped test is not a pass; make it run and record the evidence again.",
    )


def test_a_skipped_e2e_test_is_refused_as_a_skip(project: Project, local_key: signing.SigningKey) -> None:
    write_e2e(project, skipped=2)
    record_all(project, local_key)
    refused = refusal(lambda: promotable(project))
    assert refused.reason == "skipped"
    assert str(refused).startswith("suite e2e skipped 2 test(s)")


def test_evidence_without_an_e2e_result_is_refused(project: Project, local_key: signing.SigningKey) -> None:
    units = [(name, project.unit(name)) for name in ("unit-infra", "unit-code")]
    bundle.record(request(project, policy_dir=project.policy, waivers_file=project.waivers, suites=units), local_key)
    refused = refusal(lambda: promotable(project))
    assert (refused.reason, str(refused)) == (
        "e2e",
        "the evidence holds no e2e result: run `make localstack-e2e ENV=dev`.",
    )


def test_every_refusal_reason_is_declared() -> None:
    assert len(set(verify.REASONS)) == len(verify.REASONS) == 15


# --- the CLI: python -m pipeline evidence sign|verify ----------------------------------------------------------


def git(root: Path, *args: str, environ: dict[str, str]) -> str:
    done = subprocess.run(["git", *args], cwd=root, env=environ, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Project, dict[str, str]]:
    """The project in a git checkout with one commit (build outputs ignored), and the environment `make` passes."""
    made = Project(tmp_path / "repo")
    write_stack(made.stack)
    write_policy(made)
    write_units(made)
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PAYGATE_REPO_ROOT": str(made.root),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    (made.root / ".gitignore").write_text("build/\ncdktf.out/\n")
    git(made.root, "init", "-q", environ=environ)
    git(made.root, "add", ".", environ=environ)
    git(made.root, "commit", "-qm", "init", environ=environ)
    write_e2e(made, git=bundle.GitState(git(made.root, "rev-parse", "HEAD", environ=environ)))  # build/ is ignored
    return made, environ


def cli(environ: dict[str, str], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


STACK_ARGS = ("--env", "dev", "--stack-dir", "cdktf.out/stacks/paygate")
VERIFY_SIGN = (*STACK_ARGS, "--policy", "build/policy", "--suite", "unit-infra=build/unit/unit-infra.xml")
VERIFY_SIGN += ("--suite", "unit-code=build/unit/unit-code.xml")
E2E_SIGN = (*STACK_ARGS, "--policy", "build/policy", "--e2e-summary", "build/e2e/summary.json")


def test_the_cli_signs_what_make_verify_and_make_localstack_e2e_proved_and_verifies_it(
    repo: tuple[Project, dict[str, str]],
) -> None:
    project, environ = repo
    commit = git(project.root, "rev-parse", "HEAD", environ=environ)
    code, out, err = cli(environ, "evidence", "sign", *VERIFY_SIGN)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"evidence of artifact {project.digest()} (environment dev, commit {commit[:12]}):"
    assert "only environments that accept local keys trust it" in out.splitlines()[-1]
    code, out, err = cli(environ, "evidence", "sign", *E2E_SIGN)
    assert (code, err) == (0, "")
    assert "  e2e summary  passed (40 tests, 0 failed, 0 errors, 0 skipped)" in out.splitlines()
    code, out, err = cli(environ, "evidence", "verify", *STACK_ARGS, "--accept-local-keys")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"the evidence allows promoting artifact {project.digest()} to dev"
    code, out, err = cli(
        environ, "evidence", "verify", *STACK_ARGS, "--bundle", str(project.bundle()), "--accept-local-keys"
    )
    assert code == 0, err


def test_the_cli_refuses_the_throwaway_key_for_an_environment_that_does_not_accept_it(
    repo: tuple[Project, dict[str, str]],
) -> None:
    project, environ = repo
    declared = (Path(__file__).resolve().parents[3] / "environments" / "dev.toml").read_text(encoding="utf-8")
    refusing = declared.replace("accept_local_keys = true", "accept_local_keys = false")
    assert refusing != declared
    (project.root / "environments").mkdir()
    (project.root / "environments" / "dev.toml").write_text(refusing, encoding="utf-8")
    assert cli(environ, "evidence", "sign", *VERIFY_SIGN)[0] == 0
    code, out, err = cli(environ, "evidence", "verify", *STACK_ARGS)  # trust from environments/dev.toml
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {project.bundle() / bundle.MANIFEST} is signed with a throwaway local key (")


def test_the_cli_signs_with_the_configured_key_and_verifies_with_its_public_half(
    repo: tuple[Project, dict[str, str]], tmp_path: Path
) -> None:
    project, environ = repo
    key, public = _ci_key(tmp_path, "ci")
    environ = {**environ, "PAYGATE_SIGNING_KEY": str(key.source)}
    for argv in (VERIFY_SIGN, E2E_SIGN):
        code, out, err = cli(environ, "evidence", "sign", *argv)
        assert (code, err) == (0, "")
        assert out.splitlines()[-1].endswith(f"signed with the configured key {key.keyid[:16]} ({key.source})")
    assert not project.keys.exists()
    code, out, err = cli(environ, "evidence", "verify", *STACK_ARGS, "--trusted-key", str(public))
    assert (code, err) == (0, "")
    assert "signed by a configured key" in out


def test_the_cli_records_uncommitted_changes_and_verify_refuses_them(repo: tuple[Project, dict[str, str]]) -> None:
    project, environ = repo
    (project.root / "notes.txt").write_text("not committed\n")
    assert cli(environ, "evidence", "sign", *VERIFY_SIGN)[0] == 0
    assert cli(environ, "evidence", "sign", *E2E_SIGN)[0] == 0
    code, _, err = cli(environ, "evidence", "verify", *STACK_ARGS, "--accept-local-keys")
    assert code == 1
    assert err.startswith("error: evidence part(s) policy verdict, suite e2e, suite unit-code, suite unit-infra, e2e")


def test_the_cli_refuses_outside_a_git_checkout(project: Project) -> None:
    environ = {"PATH": os.environ["PATH"], "HOME": str(project.root / "home"), "PAYGATE_REPO_ROOT": str(project.root)}
    environ |= {"GIT_CEILING_DIRECTORIES": str(project.root.parent)}
    code, _, err = cli(environ, "evidence", "sign", *VERIFY_SIGN)
    assert code == 1
    assert "is not a git checkout with a commit: evidence is bound to a commit" in err


def test_the_cli_wants_suites_as_name_equals_path(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["evidence", "sign", *STACK_ARGS, "--suite", "unit-code"])
    assert "--suite wants NAME=JUNIT_XML, not 'unit-code'" in capsys.readouterr().err
