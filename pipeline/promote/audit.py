"""The audit trail of promote runs: append-only, hash-chained, signed, kept with the environment's state.

Every promote run (refused, planned, applied or failed) appends one :class:`AuditRecord`: who (git
identity or CI actor), when (UTC ISO 8601), environment, commit, artifact digest, evidence digest (sha256
of the ``manifest.dsse.json`` it verified), plan digest, approver, result and reason, its sequence number
(1, 2, ...) and the sha256 of the previous record as stored (64 zeros for the first). That is what PCI
DSS v4.0.1 10.2.2 asks of an audit log entry (user, event, date and time, success or failure, origin,
affected component). Each record is its own DSSE envelope, signed like the evidence
(``pipeline.evidence.signing``), stored as ``<sequence, 10 digits>.dsse.json`` in a :class:`Store`: a
local directory (:class:`LocalStore`) or the prefix ``<env>/promotions/`` of the environment's state
bucket (:class:`S3Store`; PCI DSS 10.3.3: kept off the machine that ran the promotion). Records are only
ever created, never overwritten (S3 conditional write ``If-None-Match: *``; an exclusive link locally),
so two concurrent runs cannot both write record N: the loser re-reads and appends N+1.

A signed **head record** (``head.dsse.json``: environment, last sequence, that record's sha256) is
replaced on every append (compare-and-swap: S3 ``If-Match`` on its ETag), because a chain alone cannot
show that its newest records were cut off.

What :func:`verify_trail` detects (PCI DSS 10.3.2 protection from modification, 10.3.4 change detection):

- an **edited** record: its signature no longer verifies; re-signed by a trusted key, it no longer
  matches the next record's ``previous_sha256`` (or, for the newest, the head's ``record_sha256``);
- a **removed** record: a gap in the sequence numbers (a renumbered rest would need re-signing), and
  the newest records removed: the head names a record that is not there; the head removed too: the
  trail has records but no head, which is reported;
- a **reordered** record: a record stored under another sequence number than the one it signs, a
  ``previous_sha256`` that is not its predecessor's, or a time earlier than its predecessor's;
- an **appended** or replaced record not signed by a key the environment trusts.

What no chain can detect, and what covers it: someone holding a trusted signing key can rewrite a
consistent trail (key custody: the CI key lives in the CI's secret store or a KMS, never in the
repository); replacing the head by an *older* signed head while removing the records after it, or
deleting the whole prefix (an empty trail looks new), needs S3 Versioning or Object Lock on the state
bucket and least-privilege write access to it (PCI DSS 10.3.2, 10.3.3), and is visible against any
copy (the local copy, the head each run prints into the CI log). Retention (PCI DSS 10.5.1: 12
months, three immediately available) is the bucket's lifecycle configuration, not this module's.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.core.errors import PipelineError
from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.evidence import signing

RESULTS = ("refused", "planned", "applied", "failed")
RECORD_PAYLOAD_TYPE = "application/vnd.paygate.audit-record+json"
HEAD_PAYLOAD_TYPE = "application/vnd.paygate.audit-head+json"
HEAD_NAME = "head.dsse.json"
RECORD_NAME = re.compile(r"^(\d{10})\.dsse\.json$")
GENESIS = "0" * 64  # previous_sha256 of record 1
SHA256 = re.compile(r"^[0-9a-f]{64}$")
APPEND_ATTEMPTS = 5
S3_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
S3_MISSING_CODES = frozenset({"NoSuchKey", "404"})


def s3_prefix(environment: str) -> str:
    """The state bucket prefix of an environment's audit trail: ``<env>/promotions/``."""
    return f"{environment}/promotions/"


def record_name(sequence: int) -> str:
    return f"{sequence:010d}.dsse.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _utc(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- records -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromotionEvent:
    """What the promote command reports about one run; digests are hex sha256 or ``None`` when not reached.

    ``result`` is one of :data:`RESULTS`; ``reason`` one sentence (the refusal, the failure, or what was
    planned or applied). ``actor`` is who ran it (:func:`identify_actor`), ``approver`` who approved the
    plan (``None`` until a plan is approved).
    """

    actor: str
    environment: str
    commit: str
    result: str
    reason: str
    artifact_sha256: str | None = None
    evidence_sha256: str | None = None
    plan_sha256: str | None = None
    approver: str | None = None

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"result {self.result!r} is not one of {', '.join(RESULTS)}")
        for name in ("artifact_sha256", "evidence_sha256", "plan_sha256"):
            value = getattr(self, name)
            if value is not None and not SHA256.match(value):
                raise ValueError(f"{name} {value!r} is not a hex sha256")
        if not self.actor.strip() or not self.environment or not self.reason.strip():
            raise ValueError("actor, environment and reason must not be empty")


@dataclass(frozen=True)
class AuditRecord:
    """One stored record: the event, its place in the chain, and when it was recorded (UTC ISO 8601)."""

    sequence: int
    previous_sha256: str
    recorded_at: str
    event: PromotionEvent

    def to_json(self) -> dict[str, Any]:
        e = self.event
        return {
            "sequence": self.sequence,
            "previous_sha256": self.previous_sha256,
            "recorded_at": self.recorded_at,
            "actor": e.actor,
            "environment": e.environment,
            "commit": e.commit,
            "artifact_sha256": e.artifact_sha256,
            "evidence_sha256": e.evidence_sha256,
            "plan_sha256": e.plan_sha256,
            "approver": e.approver,
            "result": e.result,
            "reason": e.reason,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> AuditRecord:
        """Parse a record; raises ``ValueError``/``KeyError``/``TypeError`` for anything off its shape."""
        sequence = value["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ValueError(f"sequence {sequence!r}")
        previous = str(value["previous_sha256"])
        if not SHA256.match(previous):
            raise ValueError(f"previous_sha256 {previous!r}")
        recorded_at = str(value["recorded_at"])
        dt.datetime.fromisoformat(recorded_at)
        event = PromotionEvent(
            actor=str(value["actor"]),
            environment=str(value["environment"]),
            commit=str(value["commit"]),
            result=str(value["result"]),
            reason=str(value["reason"]),
            artifact_sha256=value["artifact_sha256"],
            evidence_sha256=value["evidence_sha256"],
            plan_sha256=value["plan_sha256"],
            approver=value["approver"],
        )
        return cls(sequence, previous, recorded_at, event)


@dataclass(frozen=True)
class Head:
    """The signed head: the environment's newest record (sequence and its sha256 as stored)."""

    environment: str
    sequence: int
    record_sha256: str
    recorded_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "sequence": self.sequence,
            "record_sha256": self.record_sha256,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Head:
        sequence = value["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ValueError(f"sequence {sequence!r}")
        return cls(str(value["environment"]), sequence, str(value["record_sha256"]), str(value["recorded_at"]))


# --- stores --------------------------------------------------------------------------------------------


class Store(Protocol):
    """Where an environment's records live. Records are created once; only the head is ever replaced."""

    @property
    def location(self) -> str:
        """Where the trail is, for messages (a directory, or ``s3://bucket/prefix``)."""
        ...

    def names(self) -> list[str]:
        """The names of every object in the trail (records, head, anything else that lies there)."""
        ...

    def read(self, name: str) -> bytes | None:
        """An object's bytes, ``None`` if it does not exist."""
        ...

    def create(self, name: str, data: bytes) -> bool:
        """Store ``data`` under ``name`` unless it exists (then ``False``, nothing written)."""
        ...

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        """An object's bytes and a version token for :meth:`replace`; ``None`` if it does not exist."""
        ...

    def replace(self, name: str, data: bytes, expected_version: str | None) -> bool:
        """Write ``data`` if the object still has ``expected_version`` (``None``: still absent); else ``False``."""
        ...


class LocalStore:
    """A trail in a local directory (a copy kept with the build, or a trail of its own in tests)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def location(self) -> str:
        return str(self.directory)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if p.is_file() and not p.name.startswith("."))

    def read(self, name: str) -> bytes | None:
        path = self.directory / name
        return path.read_bytes() if path.is_file() else None

    def _staged(self, name: str, data: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{name}.{os.getpid()}.tmp"
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def create(self, name: str, data: bytes) -> bool:
        tmp = self._staged(name, data)
        try:
            os.link(tmp, self.directory / name)  # atomic, and fails if the name exists: never overwrites
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        data = self.read(name)
        return None if data is None else (data, _sha256(data))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def replace(self, name: str, data: bytes, expected_version: str | None) -> bool:
        with self._locked():
            current = self.read_versioned(name)
            if (current[1] if current else None) != expected_version:
                return False
            self._staged(name, data).replace(self.directory / name)
        return True


class S3Client(Protocol):
    """The part of a boto3 S3 client the store uses."""

    def put_object(self, **kwargs: Any) -> Any: ...

    def get_object(self, **kwargs: Any) -> Any: ...

    def get_paginator(self, operation_name: str) -> Any: ...

    @property
    def meta(self) -> Any: ...


def _drop_expect_header(request: Any, **_: Any) -> None:
    request.headers.pop("Expect", None)


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    """A trail under ``prefix`` (``<env>/promotions/``) of an S3 bucket, the environment's state bucket.

    ``client`` is a boto3 S3 client (with an ``endpoint_url`` for LocalStack). Creation uses S3
    conditional writes (``If-None-Match: *``; AWS since 2024-08, LocalStack and moto too) and the head's
    replacement ``If-Match`` on its ETag. S3 errors other than those conditions raise
    :class:`PipelineError` naming the bucket and the error code.
    """

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        # botocore sends "Expect: 100-continue" with object bodies, and LocalStack's host-mode gateway
        # (hypercorn/h11) closes the connection on it (tests/aws_clients.py drops it too). A record is a
        # few KiB, so the header saves nothing on AWS either.
        client.meta.events.register("before-send.s3.PutObject", _drop_expect_header)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise PipelineError(f"cannot {action} the audit trail at {self.location}: {_code(exc)} ({exc}).") from None
        except BotoCoreError as exc:
            raise PipelineError(f"cannot {action} the audit trail at {self.location}: {exc}.") from None

    def names(self) -> list[str]:
        found = []
        with self._errors("list"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                found += [str(obj["Key"])[len(self.prefix) :] for obj in page.get("Contents", [])]
        return sorted(name for name in found if name and "/" not in name)

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        with self._errors("read"):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
            except ClientError as exc:
                if _code(exc) in S3_MISSING_CODES:
                    return None
                raise
            return bytes(answer["Body"].read()), str(answer["ETag"])

    def read(self, name: str) -> bytes | None:
        found = self.read_versioned(name)
        return None if found is None else found[0]

    def _put(self, name: str, data: bytes, **condition: str) -> bool:
        with self._errors("write"):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType="application/json", **condition
                )
            except ClientError as exc:
                if _code(exc) in S3_CONFLICT_CODES:
                    return False
                raise
        return True

    def create(self, name: str, data: bytes) -> bool:
        return self._put(name, data, IfNoneMatch="*")

    def replace(self, name: str, data: bytes, expected_version: str | None) -> bool:
        if expected_version is None:
            return self._put(name, data, IfNoneMatch="*")
        return self._put(name, data, IfMatch=expected_version)


# --- append --------------------------------------------------------------------------------------------


def _sequence(name: str) -> int | None:
    match = RECORD_NAME.match(name)
    return int(match.group(1)) if match else None


def _last(store: Store) -> tuple[int, str]:
    """The newest stored record's sequence number and sha256 (0 and :data:`GENESIS` for an empty trail)."""
    sequences = [seq for seq in map(_sequence, store.names()) if seq is not None]
    if not sequences:
        return 0, GENESIS
    newest = max(sequences)
    data = store.read(record_name(newest))
    if data is None:
        raise PipelineError(f"record {newest} of {store.location} vanished while appending; run it again.")
    return newest, _sha256(data)


@dataclass(frozen=True)
class Appended:
    """A record that was appended: the record, its object name, its sha256 as stored, mirror problems."""

    record: AuditRecord
    name: str
    sha256: str
    location: str
    mirror_problems: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        e = self.record.event
        return (
            f"audit record {self.record.sequence} ({e.result}) appended to {self.location}{self.name}: "
            f"sha256 {self.sha256}"
        )


def _signed_head(head: Head, key: signing.SigningKey) -> bytes:
    return signing.sign_envelope(_encode(head.to_json()), HEAD_PAYLOAD_TYPE, key)


def _advance_head(store: Store, head: Head, key: signing.SigningKey) -> bool:
    """Point the head at ``head.sequence`` unless it already names that record or a later one."""
    for _ in range(APPEND_ATTEMPTS):
        current = store.read_versioned(HEAD_NAME)
        if current is not None and _unverified_sequence(current[0]) >= head.sequence:
            return True
        if store.replace(HEAD_NAME, _signed_head(head, key), current[1] if current else None):
            return True
    return False


def _unverified_sequence(data: bytes) -> int:
    """The sequence a stored head names, read without checking its signature (0 if unreadable).

    Only used so that an append never moves the head back; :func:`verify_trail` checks the head itself.
    """
    try:
        envelope = json.loads(data)
        payload = json.loads(base64.b64decode(envelope["payload"]))
        return int(payload["sequence"])
    except (ValueError, KeyError, TypeError):
        return 0


def append(
    store: Store,
    event: PromotionEvent,
    key: signing.SigningKey,
    now: dt.datetime,
    *,
    mirrors: Sequence[Store] = (),
) -> Appended:
    """Append ``event`` to the trail in ``store`` (sequence and chain from what is stored), signed by ``key``.

    The record is created (never overwritten: a concurrent run that took the same sequence number makes
    this one re-read and take the next), then the signed head is advanced. ``mirrors`` (e.g. the local
    copy) get the same bytes under the same name, and their head advanced; a mirror that already holds
    another record under that name is reported in ``mirror_problems``, not raised (a copy may have
    diverged: the primary ``store`` is the trail). ``now`` is the recording time.

    Raises :class:`PipelineError` when the store cannot be read or written, or when the record could not
    be placed after :data:`APPEND_ATTEMPTS` tries.
    """
    for _ in range(APPEND_ATTEMPTS):
        last, previous = _last(store)
        record = AuditRecord(last + 1, previous, _utc(now), event)
        data = signing.sign_envelope(_encode(record.to_json()), RECORD_PAYLOAD_TYPE, key)
        name = record_name(record.sequence)
        # A create whose answer was lost and retried finds its own record: ed25519 signatures are
        # deterministic, so the same record is the same bytes, and it is not appended twice.
        if store.create(name, data) or store.read(name) == data:
            break
    else:
        raise PipelineError(
            f"could not append to the audit trail at {store.location}: other runs kept taking the next sequence number."
        )
    sha = _sha256(data)
    head = Head(event.environment, record.sequence, sha, record.recorded_at)
    problems = []
    if not _advance_head(store, head, key):
        problems.append(f"the head of {store.location} could not be advanced (other runs kept replacing it)")
    for mirror in mirrors:
        if not mirror.create(name, data) and mirror.read(name) != data:
            problems.append(f"{mirror.location} already holds another record {record.sequence}: the copy has diverged")
            continue
        if not _advance_head(mirror, head, key):
            problems.append(f"the head of {mirror.location} could not be advanced")
    return Appended(record, name, sha, store.location.rstrip("/") + "/", tuple(problems))


# --- verify --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailReport:
    """What :func:`verify_trail` found: the verified records in order, the head, and every problem."""

    location: str
    environment: str
    records: tuple[AuditRecord, ...]
    head_sequence: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [f"audit trail of {self.environment} at {self.location}: {len(self.records)} verified records"]
        for r in self.records:
            e = r.event
            plan = f" plan {e.plan_sha256[:12]}" if e.plan_sha256 else ""
            lines.append(
                f"  {r.sequence:>5} {r.recorded_at} {e.result:<8} {e.actor} commit {e.commit[:12]}{plan}: {e.reason}"
            )
        if not self.records and self.head_sequence is None and not self.problems:
            lines.append("  (empty: a chain cannot tell a new trail from a deleted one; see the bucket's versioning)")
        elif self.head_sequence is not None:
            lines.append(f"  head: record {self.head_sequence}")
        lines += [f"PROBLEM {problem}" for problem in self.problems]
        lines.append("audit trail " + ("VERIFIED" if self.ok else "NOT VERIFIED"))
        return "\n".join(lines) + "\n"


def _ranges(numbers: Sequence[int]) -> str:
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def verify_trail(
    store: Store,
    trusted_keys: Sequence[Path],
    accept_local_keys: bool,
    *,
    environment: str,
    local_keys_dir: Path,
) -> TrailReport:
    """Check every record and the head of ``store`` (what is detected, and what is not: the module doc).

    ``trusted_keys``, ``accept_local_keys`` and ``local_keys_dir`` as for the evidence
    (``pipeline.evidence.verify.verify_bundle``). Returns a :class:`TrailReport` whose ``problems`` name
    each edited, removed, reordered or untrusted record in one sentence; raises :class:`PipelineError` only
    when the store cannot be read or a trusted key file is unusable.
    """
    trust = signing.trust(environment, trusted_keys, accept_local_keys, local_keys_dir)
    problems: list[str] = []
    stored: dict[int, bytes] = {}
    for name in store.names():
        sequence = _sequence(name)
        if sequence is None:
            if name != HEAD_NAME:
                problems.append(f"{store.location}{name} is not a record of the trail (records are only ever created)")
            continue
        data = store.read(name)
        if data is not None:
            stored[sequence] = data
    verified: dict[int, AuditRecord] = {}
    for sequence, data in sorted(stored.items()):
        what = f"record {sequence} ({record_name(sequence)})"
        try:
            opened = signing.open_envelope(data, RECORD_PAYLOAD_TYPE, trust, what)
            record = AuditRecord.from_json(json.loads(opened.payload))
        except signing.SignatureError as exc:
            problems.append(str(exc))
            continue
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{what} is not an audit record ({exc}).")
            continue
        if record.sequence != sequence:
            problems.append(f"{what} is signed as record {record.sequence}: records were moved or reordered.")
            continue
        if record.event.environment != environment:
            problems.append(f"{what} is a record of environment {record.event.environment}, not {environment}.")
            continue
        verified[sequence] = record
    newest = max(stored, default=0)
    missing = [n for n in range(1, newest + 1) if n not in stored]
    if missing:
        problems.append(f"record(s) {_ranges(missing)} are missing from the trail: removed.")
    for sequence, record in sorted(verified.items()):
        expected = GENESIS if sequence == 1 else (_sha256(stored[sequence - 1]) if sequence - 1 in stored else None)
        if expected is not None and record.previous_sha256 != expected:
            problems.append(
                f"record {sequence} does not chain to record {sequence - 1} (its previous_sha256 is not that "
                "record's sha256): a record was replaced, or records were reordered."
            )
        before = verified.get(sequence - 1)
        if before is not None and record.recorded_at < before.recorded_at:
            problems.append(f"record {sequence} is dated before record {sequence - 1}: records were reordered.")
    head_sequence = _verify_head(store, stored, trust, environment, newest, problems)
    records = tuple(record for _, record in sorted(verified.items()))
    return TrailReport(store.location, environment, records, head_sequence, tuple(problems))


def _verify_head(
    store: Store, stored: Mapping[int, bytes], trust: signing.Trust, environment: str, newest: int, problems: list[str]
) -> int | None:
    data = store.read(HEAD_NAME)
    if data is None:
        if stored:
            problems.append(
                f"the signed head of {store.location} is missing: the newest records may have been removed "
                "(the chain cannot show how many)."
            )
        return None
    try:
        opened = signing.open_envelope(data, HEAD_PAYLOAD_TYPE, trust, f"the head ({HEAD_NAME})")
        head = Head.from_json(json.loads(opened.payload))
    except signing.SignatureError as exc:
        problems.append(str(exc))
        return None
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"the head ({HEAD_NAME}) is not a head record ({exc}).")
        return None
    if head.environment != environment:
        problems.append(f"the head is the head of environment {head.environment}, not {environment}.")
    if head.sequence > newest:
        problems.append(
            f"the head names record {head.sequence} but the trail ends at record {newest}: "
            f"record(s) {_ranges(range(newest + 1, head.sequence + 1))} were removed."
        )
    elif head.sequence < newest:
        problems.append(
            f"record(s) {_ranges(range(head.sequence + 1, newest + 1))} lie after the signed head (record "
            f"{head.sequence}): appended without the head, or the head was rolled back."
        )
    elif head.record_sha256 != _sha256(stored[head.sequence]):
        problems.append(f"record {head.sequence} is not the record the head signed: it was replaced.")
    return head.sequence


# --- who -----------------------------------------------------------------------------------------------


def identify_actor(environ: Mapping[str, str], settings: Settings) -> str:
    """Who runs the promotion: ``PAYGATE_ACTOR`` if set, else the CI actor, else the git identity.

    CI: GitHub Actions' ``GITHUB_ACTOR`` (with ``GITHUB_REPOSITORY``/``GITHUB_RUN_ID`` when set), as
    ``github:<login> (run <id>)``. Git: ``user.name <user.email>`` from ``git config``. ``environ`` is the
    mapping the CLI read once (never ``os.environ`` here). Raises :class:`PipelineError` when nothing
    identifies anyone (PCI DSS 10.2.2 wants the user in every record).
    """
    if environ.get("PAYGATE_ACTOR"):
        return environ["PAYGATE_ACTOR"]
    if environ.get("GITHUB_ACTOR"):
        run_id = environ.get("GITHUB_RUN_ID")
        where = " ".join(
            part for part in (environ.get("GITHUB_REPOSITORY", ""), f"run {run_id}" if run_id else "") if part
        )
        return f"github:{environ['GITHUB_ACTOR']}" + (f" ({where})" if where else "")
    env = settings.child_env()
    name = run(["git", "config", "user.name"], env=env, cwd=settings.repo_root).stdout.strip()
    email = run(["git", "config", "user.email"], env=env, cwd=settings.repo_root).stdout.strip()
    if not name and not email:
        raise PipelineError(
            "who is promoting is unknown: set git's user.name and user.email, or PAYGATE_ACTOR (CI sets GITHUB_ACTOR)."
        )
    return f"{name} <{email}>" if name and email else name or email
