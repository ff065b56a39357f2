"""The audit trail of promote runs (pipeline/promote/audit.py): append, and detect edit, removal, reorder.

Every test runs on both stores: a local directory and an S3 prefix (moto's S3 in process, with its
conditional writes), the way the promote command keeps the trail in the environment's state bucket.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.cli import main
from pipeline.core.errors import PipelineError
from pipeline.core.settings import from_environ
from pipeline.evidence import signing
from pipeline.promote import audit

REPO_ROOT = Path(__file__).resolve().parents[3]
ENV = "production"
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
COMMIT = "c" * 40


def event(result: str = "applied", **changes: str | None) -> audit.PromotionEvent:
    fields: dict[str, str | None] = {
        "actor": "github:alice (acme/paygate run 42)",
        "environment": ENV,
        "commit": COMMIT,
        "result": result,
        "reason": f"the promotion {result}",
        "artifact_sha256": "a" * 64,
        "evidence_sha256": "e" * 64,
        "plan_sha256": "f" * 64,
        "approver": "github:bob",
        **changes,
    }
    return audit.PromotionEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    """moto's S3, in process, for the whole module (each test gets a bucket of its own)."""
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> audit.Store:
    if request.param == "local":
        return audit.LocalStore(tmp_path / "audit" / ENV)
    client = request.getfixturevalue("s3")
    bucket = f"state-{len(client.list_buckets()['Buckets'])}"
    client.create_bucket(Bucket=bucket)
    return audit.S3Store(client, bucket, audit.s3_prefix(ENV))


@pytest.fixture
def key(tmp_path: Path) -> signing.SigningKey:
    return signing.local_signing_key(tmp_path / "keys")


def check(store: audit.Store, tmp_path: Path, *, accept_local_keys: bool = True) -> audit.TrailReport:
    return audit.verify_trail(store, [], accept_local_keys, environment=ENV, local_keys_dir=tmp_path / "keys")


def append_three(store: audit.Store, key: signing.SigningKey) -> list[audit.Appended]:
    results = ("refused", "planned", "applied")
    return [audit.append(store, event(r), key, T0 + dt.timedelta(minutes=i)) for i, r in enumerate(results)]


def put(store: audit.Store, name: str, data: bytes) -> None:
    """Overwrite an object the way someone with write access to the bucket or directory could."""
    if isinstance(store, audit.LocalStore):
        (store.directory / name).write_bytes(data)
    else:
        assert isinstance(store, audit.S3Store)
        store.client.put_object(Bucket=store.bucket, Key=store.prefix + name, Body=data)


def delete(store: audit.Store, name: str) -> None:
    if isinstance(store, audit.LocalStore):
        (store.directory / name).unlink()
    else:
        assert isinstance(store, audit.S3Store)
        store.client.delete_object(Bucket=store.bucket, Key=store.prefix + name)


def resigned(data: bytes, key: signing.SigningKey, **changes: object) -> bytes:
    """A record edited and signed again with a trusted key (what a chain must still catch)."""
    payload = json.loads(base64.b64decode(json.loads(data)["payload"]))
    payload.update(changes)
    return signing.sign_envelope(audit._encode(payload), audit.RECORD_PAYLOAD_TYPE, key)


def test_appended_records_chain_and_verify(store: audit.Store, key: signing.SigningKey, tmp_path: Path) -> None:
    appended = append_three(store, key)
    assert [a.record.sequence for a in appended] == [1, 2, 3]
    assert [a.name for a in appended] == ["0000000001.dsse.json", "0000000002.dsse.json", "0000000003.dsse.json"]
    assert appended[0].record.previous_sha256 == audit.GENESIS
    assert [a.record.previous_sha256 for a in appended[1:]] == [a.sha256 for a in appended[:2]]
    for a in appended:
        assert audit._sha256(store.read(a.name) or b"") == a.sha256
    report = check(store, tmp_path)
    assert report.ok, report.problems
    assert [r.event.result for r in report.records] == ["refused", "planned", "applied"]
    assert report.head_sequence == 3
    assert report.records[2].recorded_at == "2026-11-30T09:02:00Z"
    assert report.describe().splitlines()[-1] == "audit trail VERIFIED"
    assert appended[2].describe() == (
        f"audit record 3 (applied) appended to {store.location.rstrip('/')}/0000000003.dsse.json: "
        f"sha256 {appended[2].sha256}"
    )


def test_a_record_holds_every_field_pci_dss_10_2_2_asks_for(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    audit.append(store, event("applied"), key, T0)
    data = store.read("0000000001.dsse.json") or b""
    envelope = json.loads(data)
    assert envelope["payloadType"] == "application/vnd.paygate.audit-record+json"
    assert json.loads(base64.b64decode(envelope["payload"])) == {
        "sequence": 1,
        "previous_sha256": "0" * 64,
        "recorded_at": "2026-11-30T09:00:00Z",
        "actor": "github:alice (acme/paygate run 42)",
        "environment": "production",
        "commit": COMMIT,
        "artifact_sha256": "a" * 64,
        "evidence_sha256": "e" * 64,
        "plan_sha256": "f" * 64,
        "approver": "github:bob",
        "result": "applied",
        "reason": "the promotion applied",
    }


def test_an_empty_trail_verifies_and_says_what_a_chain_cannot_tell(store: audit.Store, tmp_path: Path) -> None:
    report = check(store, tmp_path)
    assert report.ok and report.records == ()
    assert "a chain cannot tell a new trail from a deleted one" in report.describe()


def test_an_edited_record_is_detected(store: audit.Store, key: signing.SigningKey, tmp_path: Path) -> None:
    append_three(store, key)
    data = json.loads(store.read("0000000002.dsse.json") or b"")
    payload = json.loads(base64.b64decode(data["payload"]))
    payload["result"] = "applied"
    data["payload"] = base64.b64encode(audit._encode(payload)).decode()
    put(store, "0000000002.dsse.json", (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    report = check(store, tmp_path)
    assert report.problems == (
        f"the signature of record 2 (0000000002.dsse.json) by key {key.keyid[:16]} does not verify: "
        "its payload or signature was changed after signing.",
        "record 3 does not chain to record 2 (its previous_sha256 is not that record's sha256): a record was "
        "replaced, or records were reordered.",
    )
    assert report.describe().splitlines()[-1] == "audit trail NOT VERIFIED"


def test_one_byte_of_a_stored_record_changed_is_detected(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    data = bytearray(store.read("0000000001.dsse.json") or b"")
    data[10] ^= 0x20
    put(store, "0000000001.dsse.json", bytes(data))
    report = check(store, tmp_path)
    assert not report.ok
    assert report.problems[0].startswith("record 1 (0000000001.dsse.json)")
    assert "record 2 does not chain to record 1" in report.problems[-1]


def test_an_edited_record_signed_again_with_a_trusted_key_breaks_the_chain(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    put(store, "0000000002.dsse.json", resigned(store.read("0000000002.dsse.json") or b"", key, approver="mallory"))
    assert check(store, tmp_path).problems == (
        "record 3 does not chain to record 2 (its previous_sha256 is not that record's sha256): a record was "
        "replaced, or records were reordered.",
    )


def test_the_newest_record_edited_and_signed_again_is_caught_by_the_head(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    put(store, "0000000003.dsse.json", resigned(store.read("0000000003.dsse.json") or b"", key, result="refused"))
    assert check(store, tmp_path).problems == ("record 3 is not the record the head signed: it was replaced.",)


def test_a_removed_record_is_detected(store: audit.Store, key: signing.SigningKey, tmp_path: Path) -> None:
    append_three(store, key)
    delete(store, "0000000002.dsse.json")
    assert check(store, tmp_path).problems == ("record(s) 2 are missing from the trail: removed.",)


def test_removed_newest_records_are_detected_by_the_signed_head(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    delete(store, "0000000003.dsse.json")
    delete(store, "0000000002.dsse.json")
    assert check(store, tmp_path).problems == (
        "the head names record 3 but the trail ends at record 1: record(s) 2-3 were removed.",
    )


def test_removed_newest_records_and_head_are_reported(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    delete(store, "0000000003.dsse.json")
    delete(store, audit.HEAD_NAME)
    assert check(store, tmp_path).problems == (
        f"the signed head of {store.location} is missing: the newest records may have been removed "
        "(the chain cannot show how many).",
    )


def test_a_head_rolled_back_to_an_older_signed_head_is_reported_while_records_remain(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    audit.append(store, event("planned"), key, T0)
    old_head = store.read(audit.HEAD_NAME) or b""
    audit.append(store, event("applied"), key, T0 + dt.timedelta(minutes=1))
    put(store, audit.HEAD_NAME, old_head)
    assert check(store, tmp_path).problems == (
        "record(s) 2 lie after the signed head (record 1): appended without the head, or the head was rolled back.",
    )


def test_swapped_records_are_detected(store: audit.Store, key: signing.SigningKey, tmp_path: Path) -> None:
    append_three(store, key)
    first, second = store.read("0000000001.dsse.json") or b"", store.read("0000000002.dsse.json") or b""
    put(store, "0000000001.dsse.json", second)
    put(store, "0000000002.dsse.json", first)
    assert check(store, tmp_path).problems == (
        "record 1 (0000000001.dsse.json) is signed as record 2: records were moved or reordered.",
        "record 2 (0000000002.dsse.json) is signed as record 1: records were moved or reordered.",
        "record 3 does not chain to record 2 (its previous_sha256 is not that record's sha256): a record was "
        "replaced, or records were reordered.",
    )


def test_records_reordered_and_renumbered_with_a_trusted_key_are_detected(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    first, second = store.read("0000000001.dsse.json") or b"", store.read("0000000002.dsse.json") or b""
    put(store, "0000000001.dsse.json", resigned(second, key, sequence=1, previous_sha256=audit.GENESIS))
    put(store, "0000000002.dsse.json", resigned(first, key, sequence=2))
    problems = check(store, tmp_path).problems
    assert "record 2 is dated before record 1: records were reordered." in problems
    assert "record 2 does not chain to record 1" in problems[0]


def test_a_record_signed_by_an_untrusted_key_is_detected(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    append_three(store, key)
    forger = signing.SigningKey(signing.CryptoSigner.generate_ed25519(), tmp_path / "forger.pem", local=False)
    audit.append(store, event("applied"), forger, T0 + dt.timedelta(hours=1))
    problems = check(store, tmp_path).problems
    assert problems[0] == (
        f"record 4 (0000000004.dsse.json) is signed by {forger.keyid[:16]}, which environment production does not "
        f"trust (trusted: {key.keyid[:16]})."
    )
    assert problems[1].startswith("the head (head.dsse.json) is signed by")


def test_a_throwaway_key_is_refused_where_local_keys_are_not_accepted(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    audit.append(store, event(), key, T0)
    problems = check(store, tmp_path, accept_local_keys=False).problems
    assert problems[0].startswith("record 1 (0000000001.dsse.json) is signed with a throwaway local key")


def test_an_object_that_is_no_record_is_reported(store: audit.Store, key: signing.SigningKey, tmp_path: Path) -> None:
    audit.append(store, event(), key, T0)
    put(store, "notes.txt", b"hello")
    assert check(store, tmp_path).problems == (
        f"{store.location}notes.txt is not a record of the trail (records are only ever created)",
    )


def test_a_record_of_another_environment_is_reported(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    audit.append(store, event(environment="staging"), key, T0)
    problems = check(store, tmp_path).problems
    assert problems[0] == "record 1 (0000000001.dsse.json) is a record of environment staging, not production."


def test_appending_after_a_verified_trail_continues_the_chain(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    appended = append_three(store, key)
    assert check(store, tmp_path).ok
    fourth = audit.append(store, event("failed", reason="terraform apply failed"), key, T0 + dt.timedelta(hours=2))
    assert (fourth.record.sequence, fourth.record.previous_sha256) == (4, appended[-1].sha256)
    report = check(store, tmp_path)
    assert report.ok and report.head_sequence == 4


def test_records_are_never_overwritten(store: audit.Store, key: signing.SigningKey) -> None:
    audit.append(store, event(), key, T0)
    original = store.read("0000000001.dsse.json")
    assert store.create("0000000001.dsse.json", b"other") is False
    assert store.read("0000000001.dsse.json") == original


def test_a_concurrent_append_that_took_the_sequence_number_makes_this_one_take_the_next(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    audit.append(store, event("planned"), key, T0)

    class Racing:
        """The store as another promote run sees it: it appends between this run's listing and its write."""

        def __init__(self, inner: audit.Store) -> None:
            self.inner = inner
            self.raced = False

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def create(self, name: str, data: bytes) -> bool:
            if not self.raced:
                self.raced = True
                audit.append(self.inner, event("refused", reason="the other run"), key, T0 + dt.timedelta(seconds=30))
            return self.inner.create(name, data)

    mine = audit.append(Racing(store), event("applied"), key, T0 + dt.timedelta(minutes=1))  # type: ignore[arg-type]
    assert mine.record.sequence == 3
    report = check(store, tmp_path)
    assert report.ok, report.problems
    assert [r.event.reason for r in report.records] == [
        "the promotion planned",
        "the other run",
        "the promotion applied",
    ]


def test_a_write_whose_answer_was_lost_is_not_appended_twice(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    class LostAnswer:
        """The write reaches the store but its answer is lost; the SDK's retry then meets If-None-Match."""

        def __init__(self, inner: audit.Store) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        def create(self, name: str, data: bytes) -> bool:
            self.inner.create(name, data)
            return self.inner.create(name, data)

    appended = audit.append(LostAnswer(store), event("applied"), key, T0)  # type: ignore[arg-type]
    assert appended.record.sequence == 1
    report = check(store, tmp_path)
    assert report.ok and len(report.records) == 1


def test_the_local_copy_gets_the_same_records_and_a_diverged_copy_is_reported(
    store: audit.Store, key: signing.SigningKey, tmp_path: Path
) -> None:
    copy = audit.LocalStore(tmp_path / "copy")
    first = audit.append(store, event("planned"), key, T0, mirrors=[copy])
    assert first.mirror_problems == ()
    assert copy.read(first.name) == store.read(first.name)
    assert audit.verify_trail(copy, [], True, environment=ENV, local_keys_dir=tmp_path / "keys").ok
    diverged = audit.LocalStore(tmp_path / "diverged")
    diverged.create("0000000002.dsse.json", b"another run's record")
    second = audit.append(store, event("applied"), key, T0 + dt.timedelta(minutes=1), mirrors=[diverged])
    assert second.mirror_problems == (f"{diverged.location} already holds another record 2: the copy has diverged",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"result": "done"}, "result 'done' is not one of refused, planned, applied, failed"),
        ({"plan_sha256": "abc"}, "plan_sha256 'abc' is not a hex sha256"),
        ({"actor": " "}, "actor, environment and reason must not be empty"),
    ],
)
def test_an_event_off_its_shape_is_refused(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event(**changes)


def test_an_unreachable_bucket_is_one_sentence(s3: Any) -> None:
    store = audit.S3Store(s3, "no-such-bucket", audit.s3_prefix(ENV))
    with pytest.raises(
        PipelineError,
        match=r"^cannot list the audit trail at s3://no-such-bucket/production/"
        r"promotions/: NoSuchBucket",
    ):
        store.names()


# --- who -------------------------------------------------------------------------------------------------------


@pytest.fixture
def git_settings(tmp_path: Path) -> dict[str, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "PAYGATE_REPO_ROOT": str(repo),
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, env=environ, check=True)
    return environ


def test_the_actor_is_the_override_then_the_ci_actor_then_the_git_identity(git_settings: dict[str, str]) -> None:
    settings = from_environ(git_settings, Path.cwd())
    repo = settings.repo_root
    assert audit.identify_actor({"PAYGATE_ACTOR": "ops-bot"}, settings) == "ops-bot"
    ci = {"GITHUB_ACTOR": "alice", "GITHUB_REPOSITORY": "acme/paygate", "GITHUB_RUN_ID": "42"}
    assert audit.identify_actor(ci, settings) == "github:alice (acme/paygate run 42)"
    assert audit.identify_actor({"GITHUB_ACTOR": "alice"}, settings) == "github:alice"
    with pytest.raises(PipelineError, match=r"^who is promoting is unknown: set git's user.name and user.email"):
        audit.identify_actor({}, settings)
    subprocess.run(["git", "config", "user.email", "dev@example.com"], cwd=repo, env=git_settings, check=True)
    assert audit.identify_actor({}, settings) == "dev@example.com"
    subprocess.run(["git", "config", "user.name", "Dev One"], cwd=repo, env=git_settings, check=True)
    assert audit.identify_actor({}, settings) == "Dev One <dev@example.com>"


# --- the CLI: python -m pipeline audit verify --------------------------------------------------------------


def cli(environ: dict[str, str], *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_audit_verify_checks_a_local_copy(tmp_path: Path) -> None:
    keys = tmp_path / "build" / "keys"
    key = signing.local_signing_key(keys)
    copy = audit.LocalStore(tmp_path / "build" / "audit" / ENV)
    append_three(copy, key)
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "PAYGATE_REPO_ROOT": str(tmp_path)}
    argv = ("audit", "verify", "--env", ENV, "--local", "build/audit/production", "--keys", "build/keys")
    code, out, err = cli(environ, *argv, "--accept-local-keys")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"audit trail of production at {copy.location}: 3 verified records"
    delete(copy, "0000000002.dsse.json")
    code, out, err = cli(environ, *argv, "--accept-local-keys")
    assert code == 1
    assert "PROBLEM record(s) 2 are missing from the trail: removed." in out.splitlines()
    assert err == f"error: the audit trail at {copy.location} has 1 problem(s), listed above.\n"


def test_audit_verify_reads_the_state_bucket_prefix_of_the_environment(tmp_path: Path, s3: Any) -> None:
    keys = tmp_path / "build" / "keys"
    key = signing.local_signing_key(keys)
    (tmp_path / "environments").mkdir()
    shutil.copyfile(REPO_ROOT / "environments" / "production.toml", tmp_path / "environments" / "production.toml")
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PAYGATE_REPO_ROOT": str(tmp_path),
        "PAYGATE_STATE_BUCKET": "acme-state",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    s3.create_bucket(Bucket="acme-state")
    append_three(audit.S3Store(s3, "acme-state", "production/promotions/"), key)
    code, out, err = cli(environ, "audit", "verify", "--env", ENV, "--keys", "build/keys", "--accept-local-keys")
    assert (code, err) == (0, "")
    assert (
        out.splitlines()[0] == "audit trail of production at s3://acme-state/production/promotions/: 3 verified records"
    )
