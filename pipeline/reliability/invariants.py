"""The payment invariants of a deployed paygate (LocalStack or AWS), checked from its tables, queues and alarm.

For a set of accepted requests (``--requests``: JSON lines ``{"payment_id": ..., "idempotency_key": ...}``),
else every payment item of the payments table (``--merchant``: one merchant's, through the table's
``by-merchant`` index), four invariants are checked:

``final_state_or_dead_letter``
    Every accepted payment exists (the payments table's hash key is ``payment_id``: at most one item per id)
    and is in a state where processing ends (``lifecycle.PROCESSING_ENDS``); or, still in flight
    (``lifecycle.IN_FLIGHT``), its message is in the payment queue's dead-letter queue and that queue's depth
    alarm is in ALARM (stacks/constructs/alarms.py: depth > 0). A payment in flight with no dead letter is stuck.
``audit_trail``
    Its audit entries (audit table: ``entity_id`` = payment id, ``event_id`` = ``f"{version:08d}#{status}"``,
    lambdas/shared/store.py ``record_audit``) have versions 1..n without gap or repeat, the first is version 1
    ``lifecycle.INITIAL``, each consecutive pair of statuses is a transition ``lifecycle.TRANSITIONS`` declares,
    and the last one's version and status are the payment's.
``one_payment_per_idempotency_key``
    No idempotency key of the accepted requests names two payment ids; every COMPLETED idempotency record of the
    API handler (Powertools: its ``data`` is the stored answer ``{"status": 201, "payment": {...}}``,
    lambdas/api_handler/handler.py) names a payment that exists, and no two such records name the same payment.
``notification_per_final_transition``
    Every payment where processing ended had its event published: its ``published#<payment_id>`` item
    (lambdas/shared/store.py ``mark_published``) holds a version >= the payment's. With
    ``notifications_from_queue``, the notification queue (the events topic's SQS subscription,
    stacks/constructs/messaging.py) also holds the event ``f"{payment_id}#{version}"``
    (lambdas/shared/events.py) of that version.

Reading the deployment (tables, queues read without deleting, the alarm) is :mod:`pipeline.reliability.deployed`'s;
here are the rules, on what it read (:func:`check_invariants`), and the :class:`InvariantReport` (per-invariant
counts, the violations, the console table, the JSON report). A payment still being processed is in flight: run
the check once the system is quiet, or poll it with a deadline.

Examples
--------
>>> from pipeline.reliability.deployed import DeployedState, Deployment
>>> deployment = Deployment.read(Path("build/localstack/outputs.json"))
>>> state = DeployedState.connect(deployment, deployment.session(os.environ))
>>> report = check_invariants(state, requests=read_requests(Path("accepted.jsonl")))
>>> report.ok, report.counts()["audit_trail"]
(True, {'checked': 12, 'violations': 0})
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

from lambdas.shared.lifecycle import IN_FLIGHT, INITIAL, PROCESSING_ENDS, TRANSITIONS
from pipeline.reliability.deployed import (
    PUBLISHED_PREFIX,
    STATES,
    ApiRecord,
    AuditEntry,
    DeployedState,
    InvariantsError,
    StoredPayment,
)

FINAL_STATE = "final_state_or_dead_letter"
AUDIT_TRAIL = "audit_trail"
IDEMPOTENCY = "one_payment_per_idempotency_key"
NOTIFICATION = "notification_per_final_transition"
TITLES = {
    FINAL_STATE: "every accepted payment exists and its processing ended, or it is dead-lettered with the alarm up",
    AUDIT_TRAIL: "the audit trail holds versions 1..n along declared transitions and ends at the payment",
    IDEMPOTENCY: "one payment per idempotency key; every API idempotency record names its own existing payment",
    NOTIFICATION: "the event of every payment whose processing ended was published (and delivered)",
}
REPORT_SCHEMA = "paygate.invariants/1"

ALARM = "ALARM"
_DECLARED = frozenset((source.value, target.value) for (source, _), target in TRANSITIONS.items())


def audit_event_id(version: int, status: str) -> str:
    """The audit entry's range key of one payment version (lambdas/shared/store.py ``record_audit``)."""
    return f"{version:08d}#{status}"


def event_id(payment_id: str, version: int) -> str:
    """The payment event's id of one payment version (lambdas/shared/events.py ``payment_event``)."""
    return f"{payment_id}#{version}"


def declared(source: str, target: str) -> bool:
    """Whether the lifecycle has a transition from ``source`` to ``target`` (by some event)."""
    return (source, target) in _DECLARED


# --- the accepted requests --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptedRequest:
    """One request the system accepted: the payment it created and, for the API, the Idempotency-Key it came with
    (compared as given: a suite driving several callers, whose keys are scoped per caller, qualifies them)."""

    payment_id: str
    idempotency_key: str | None = None


def read_requests(path: Path) -> tuple[AcceptedRequest, ...]:
    """The accepted requests of a JSON lines file (blank lines skipped).

    Raises
    ------
    InvariantsError
        No such file, or a line that is not an object with a non-empty ``payment_id`` string and an optional
        ``idempotency_key`` string (the message names the file and the line number).
    """
    if not path.is_file():
        raise InvariantsError(f"no requests file at {path}")
    requests = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InvariantsError(f"{path}:{number}: not JSON") from None
        payment_id = value.get("payment_id") if isinstance(value, dict) else None
        key = value.get("idempotency_key") if isinstance(value, dict) else None
        if not isinstance(payment_id, str) or not payment_id or not (key is None or isinstance(key, str)):
            raise InvariantsError(
                f"{path}:{number}: wants an object with a payment_id string and an optional idempotency_key string"
            )
        requests.append(AcceptedRequest(payment_id, key))
    return tuple(requests)


# --- the report ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One broken invariant: ``kind`` is a stable short code (for tools), ``problem`` the sentence (for people)."""

    invariant: str
    payment_id: str
    kind: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class InvariantResult:
    """One invariant: how many items it checked (payments, or keys and records) and what it found."""

    name: str
    checked: int
    violations: tuple[Violation, ...] = ()

    @property
    def title(self) -> str:
        return TITLES[self.name]

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class InvariantReport:
    """The four results, in order, and what was checked (``scope``: selection, merchant_id, accepted_requests,
    payments, notifications_from_queue)."""

    results: tuple[InvariantResult, ...]
    scope: Mapping[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def violations(self) -> tuple[Violation, ...]:
        return tuple(v for result in self.results for v in result.violations)

    def result(self, name: str) -> InvariantResult:
        """The result of invariant ``name`` (KeyError for an unknown name)."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{name: {"checked": n, "violations": m}}`` in report order."""
        return {r.name: {"checked": r.checked, "violations": len(r.violations)} for r in self.results}

    def to_json(self) -> dict[str, object]:
        """The JSON report: ``schema``, ``ok``, ``scope``, ``invariants`` ({name: {title, checked, violations}}),
        ``violations`` ([{invariant, payment_id, kind, problem}])."""
        return {
            "schema": REPORT_SCHEMA,
            "ok": self.ok,
            "scope": dict(self.scope),
            "invariants": {r.name: {"title": r.title, **self.counts()[r.name]} for r in self.results},
            "violations": [v.to_json() for v in self.violations],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def render(self) -> str:
        """The console table (one row per invariant: name, items checked, violations), then each violation."""
        width = max([len("invariant"), *(len(r.name) for r in self.results)])
        lines = [f"{'invariant':<{width}}  {'checked':>7}  {'violations':>10}"]
        lines += [f"{r.name:<{width}}  {r.checked:>7}  {len(r.violations):>10}" for r in self.results]
        if self.violations:
            lines += ["", "violations:"]
            lines += [f"  {v.payment_id}  {v.invariant}: {v.problem}" for v in self.violations]
        return "\n".join(lines) + "\n"


# --- the rules -------------------------------------------------------------------------------------------------


def final_state_or_dead_letter(
    payment_ids: Sequence[str],
    payments: Mapping[str, StoredPayment],
    dead_letters: frozenset[str],
    alarm_state: str | None,
    *,
    dlq: str,
    alarm: str,
) -> InvariantResult:
    """Invariant 1 on the accepted ``payment_ids``. ``dead_letters``: the payment ids in the DLQ named ``dlq``;
    ``alarm_state``: its alarm ``alarm``'s state (None: no such alarm); both are only consulted for a payment
    in flight (so a caller may leave them unread when none is)."""
    found: list[Violation] = []

    def violation(payment_id: str, kind: str, problem: str) -> None:
        found.append(Violation(FINAL_STATE, payment_id, kind, problem))

    for payment_id in payment_ids:
        payment = payments.get(payment_id)
        if payment is None:
            violation(payment_id, "missing", "accepted, but there is no payment with this id")
        elif payment.status is None or payment.version is None:
            said = [f"status {payment.raw_status!r} is not a lifecycle state"] if payment.status is None else []
            said += ["its version is not a whole number"] if payment.version is None else []
            violation(payment_id, "malformed_payment", "; ".join(said))
        elif payment.status in IN_FLIGHT:
            where = f"in flight ({payment.status.value})"
            if payment_id not in dead_letters:
                violation(payment_id, "in_flight_without_dead_letter", f"{where} and not in {dlq}: stuck")
            elif alarm_state != ALARM:
                state = "does not exist" if alarm_state is None else f"is {alarm_state}"
                problem = f"{where}, dead-lettered in {dlq}, but alarm {alarm} {state}"
                violation(payment_id, "dead_letter_alarm_not_raised", problem)
    return InvariantResult(FINAL_STATE, len(payment_ids), tuple(found))


def audit_trail_problems(payment: StoredPayment, entries: Sequence[AuditEntry]) -> list[tuple[str, str]]:
    """Invariant 2 for one well-formed payment: ``(kind, problem)`` for each way its trail is wrong."""
    if not entries:
        return [("no_audit_trail", "has no audit entries")]
    problems: list[tuple[str, str]] = []
    trail: list[tuple[int, str]] = []  # (version, status) of the readable entries
    for entry in entries:
        if entry.version is None or entry.status not in STATES:
            problem = f"audit entry {entry.event_id!r} has no whole version or no lifecycle status"
            problems.append(("malformed_entry", problem))
            continue
        if entry.event_id != audit_event_id(entry.version, entry.status):
            problem = f"audit entry {entry.event_id!r} holds version {entry.version} {entry.status}"
            problems.append(("malformed_entry", problem))
        trail.append((entry.version, entry.status))
    if not trail:
        return problems
    trail.sort()
    versions = [version for version, _ in trail]
    if versions != list(range(1, len(versions) + 1)):
        missing = sorted(set(range(1, max(versions) + 1)) - set(versions))
        said = [f"version {', '.join(map(str, missing))} missing"] if missing else []
        said += [f"version {v} recorded {n} times" for v, n in sorted(Counter(versions).items()) if n > 1]
        problems.append(("versions_not_contiguous", f"audit versions {versions} are not 1..n: {'; '.join(said)}"))
    if trail[0][0] == 1 and trail[0][1] != INITIAL.value:
        problems.append(("first_entry_not_initial", f"audit trail starts {trail[0][1]}, not {INITIAL.value}"))
    for (version, status), (next_version, next_status) in pairwise(trail):
        if next_version == version + 1 and not declared(status, next_status):
            problem = (
                f"audit versions {version} -> {next_version}: {status} -> {next_status} is not a transition the "
                "lifecycle declares"
            )
            problems.append(("undeclared_transition", problem))
    if trail[-1] != (payment.version, payment.raw_status):
        problem = (
            f"last audit entry is version {trail[-1][0]} {trail[-1][1]}, the payment is version {payment.version} "
            f"{payment.raw_status}"
        )
        problems.append(("trail_disagrees_with_payment", problem))
    return problems


def audit_trail(payments: Sequence[StoredPayment], trails: Mapping[str, Sequence[AuditEntry]]) -> InvariantResult:
    """Invariant 2 on every well-formed payment found (a missing one is invariant 1's)."""
    checked = [p for p in payments if p.well_formed]
    found = tuple(
        Violation(AUDIT_TRAIL, p.payment_id, kind, problem)
        for p in checked
        for kind, problem in audit_trail_problems(p, trails.get(p.payment_id, ()))
    )
    return InvariantResult(AUDIT_TRAIL, len(checked), found)


def one_payment_per_idempotency_key(
    requests: Sequence[AcceptedRequest], records: Sequence[ApiRecord], exists: Callable[[str], bool]
) -> InvariantResult:
    """Invariant 3: the accepted requests' keys (each names one payment id), and the API idempotency ``records``
    in scope (each names a payment for which ``exists`` is true, no payment named twice)."""
    found: list[Violation] = []
    by_key: dict[str, set[str]] = defaultdict(set)
    for request in requests:
        if request.idempotency_key is not None:
            by_key[request.idempotency_key].add(request.payment_id)
    for key, ids in by_key.items():
        if len(ids) > 1:
            named = ", ".join(sorted(ids))
            problem = f"idempotency key {key!r} was accepted for {len(ids)} payments: {named}"
            found.append(Violation(IDEMPOTENCY, min(ids), "key_names_two_payments", problem))
    by_payment: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_payment[record.payment_id].append(record.record_id)
    for payment_id, record_ids in by_payment.items():
        if not exists(payment_id):
            problem = f"API idempotency record {record_ids[0]!r} answered with this payment, which does not exist"
            found.append(Violation(IDEMPOTENCY, payment_id, "record_names_missing_payment", problem))
        if len(record_ids) > 1:
            problem = f"named by {len(record_ids)} API idempotency records: {', '.join(sorted(record_ids))}"
            found.append(Violation(IDEMPOTENCY, payment_id, "payment_named_by_two_records", problem))
    return InvariantResult(IDEMPOTENCY, len(by_key) + len(records), tuple(found))


def notification_per_final_transition(
    payments: Sequence[StoredPayment],
    published: Mapping[str, int],
    delivered: frozenset[str] | None,
) -> InvariantResult:
    """Invariant 4 on the well-formed payments whose processing ended: ``published`` maps their ids to the version
    their marker holds; ``delivered`` (None: not checked) holds the event ids on the notification queue."""
    ended = [p for p in payments if p.well_formed and p.status in PROCESSING_ENDS]
    found: list[Violation] = []
    for payment in ended:
        version, status = payment.version or 0, payment.raw_status
        marker = published.get(payment.payment_id, 0)
        if marker < version:
            recorded = f"records version {marker}" if marker else "does not exist"
            problem = f"{status} at version {version}, but {PUBLISHED_PREFIX}{payment.payment_id} {recorded}"
            found.append(Violation(NOTIFICATION, payment.payment_id, "event_not_published", problem))
        if delivered is not None and event_id(payment.payment_id, version) not in delivered:
            problem = f"event {event_id(payment.payment_id, version)} ({status}) is not on the notification queue"
            found.append(Violation(NOTIFICATION, payment.payment_id, "event_not_delivered", problem))
    return InvariantResult(NOTIFICATION, len(ended), tuple(found))


# --- the check -------------------------------------------------------------------------------------------------


def check_invariants(
    state: DeployedState,
    *,
    requests: Sequence[AcceptedRequest] | None = None,
    merchant_id: str | None = None,
    notifications_from_queue: bool = False,
) -> InvariantReport:
    """Check the four invariants on a deployment.

    Parameters
    ----------
    state
        The deployment's reader.
    requests
        The accepted requests to check, by default None: every payment item of the payments table.
    merchant_id
        Only this merchant's payments, by default None (all). With ``requests``: the requests whose payment
        belongs to another merchant are left out (a missing payment is kept: it cannot be told apart).
    notifications_from_queue
        Also look for each final event on the notification queue, by default False.

    Returns
    -------
    InvariantReport
        The per-invariant counts and the violations. Idempotency records are checked within the selection:
        those naming a requested payment (``requests``), a payment of ``merchant_id``, else all of them.

    Raises
    ------
    InvariantsError
        When a read is refused (a missing table or queue, no permission, no credentials).
    """
    if requests is None:
        selected = {p.payment_id: p for p in state.payments(merchant_id)}
        ids: list[str] = list(selected)
        accepted: Sequence[AcceptedRequest] = ()
    else:
        ids = list(dict.fromkeys(r.payment_id for r in requests))
        selected = {pid: p for pid in ids if (p := state.payment(pid)) is not None}
        if merchant_id is not None:
            ids = [pid for pid in ids if pid not in selected or selected[pid].merchant_id == merchant_id]
            selected = {pid: selected[pid] for pid in ids if pid in selected}
        kept = set(ids)
        accepted = [r for r in requests if r.payment_id in kept]
    payments = [selected[pid] for pid in ids if pid in selected]

    in_flight = {p.payment_id for p in payments if p.status in IN_FLIGHT}
    dead_letters = state.dead_lettered_payment_ids() if in_flight else frozenset()
    alarm_state = state.dlq_alarm_state() if in_flight & dead_letters else None
    deployment = state.deployment
    final = final_state_or_dead_letter(
        ids, selected, dead_letters, alarm_state, dlq=deployment.payment_dlq_name, alarm=deployment.dlq_alarm_name
    )

    trails = {p.payment_id: state.audit_entries(p.payment_id) for p in payments if p.well_formed}
    audit = audit_trail(payments, trails)

    requested = set(ids) if requests is not None else None
    records = [
        r
        for r in state.api_idempotency_records()
        if (requested is None or r.payment_id in requested) and (merchant_id is None or r.merchant_id == merchant_id)
    ]
    idempotency = one_payment_per_idempotency_key(
        accepted, records, lambda pid: pid in selected or state.payment(pid) is not None
    )

    ended = [p for p in payments if p.well_formed and p.status in PROCESSING_ENDS]
    published = {p.payment_id: state.published_version(p.payment_id) for p in ended}
    delivered: frozenset[str] | None = None
    if notifications_from_queue:
        delivered = state.delivered_event_ids() if ended else frozenset()
    notification = notification_per_final_transition(payments, published, delivered)

    scope: dict[str, object] = {
        "selection": "requests" if requests is not None else "merchant" if merchant_id is not None else "table",
        "merchant_id": merchant_id,
        "accepted_requests": len(requests) if requests is not None else None,
        "payments": len(ids),
        "notifications_from_queue": notifications_from_queue,
    }
    return InvariantReport((final, audit, idempotency, notification), scope)
