"""The payment state machine against an expectation written here, not read from the code's table.

``EXPECTED`` is the payment lifecycle as the business states it (strings, not the module's enums):
an authorization comes before a capture, a capture before settlement, and only a payment whose money
has not moved can be declined or fail. Every other (state, event) pair must be refused, states with no
way out stay final, and captured money never turns into a decline or a failure. Adding, removing or
redirecting one edge of ``lifecycle.TRANSITIONS`` fails a test here.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.errors import TransitionError
from lambdas.shared.lifecycle import (
    IN_FLIGHT,
    INITIAL,
    PROCESSING_ENDS,
    TERMINAL,
    TRANSITIONS,
    Event,
    Status,
    target,
    transition,
)
from lambdas.shared.money import Money
from lambdas.shared.payments import Payment

STATES = ("PENDING", "AUTHORIZED", "CAPTURED", "SETTLED", "DECLINED", "FAILED")
EVENTS = ("AUTHORIZE", "CAPTURE", "SETTLE", "DECLINE", "FAIL")
# Every allowed (state, event) -> next state; nothing else is allowed.
EXPECTED: dict[tuple[str, str], str] = {
    ("PENDING", "AUTHORIZE"): "AUTHORIZED",
    ("PENDING", "DECLINE"): "DECLINED",
    ("PENDING", "FAIL"): "FAILED",
    ("AUTHORIZED", "CAPTURE"): "CAPTURED",
    ("AUTHORIZED", "FAIL"): "FAILED",
    ("CAPTURED", "SETTLE"): "SETTLED",
}
FINAL = ("SETTLED", "DECLINED", "FAILED")
# Once the money moved, the payment can only settle: never be declined or marked failed.
MONEY_MOVED = ("CAPTURED", "SETTLED")
REFUSED = [pair for pair in itertools.product(STATES, EVENTS) if pair not in EXPECTED]
NOW = "2026-01-01T00:00:01.000Z"


def _payment(status: str = "PENDING", version: int = 1) -> Payment:
    return Payment(
        payment_id="pay_" + "0" * 32,
        merchant_id="m_abcdef",
        reference="r1",
        money=Money(100, "EUR"),
        status=Status(status),
        version=version,
        source="api",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    )


def test_the_machine_has_exactly_the_expected_states_events_start_and_final_states() -> None:
    assert sorted(s.value for s in Status) == sorted(STATES)
    assert sorted(e.value for e in Event) == sorted(EVENTS)
    assert INITIAL.value == "PENDING"
    assert sorted(s.value for s in TERMINAL) == sorted(FINAL)


def test_processing_ends_at_capture_or_a_terminal_state_and_everything_before_is_in_flight() -> None:
    """Settlement (CAPTURED -> SETTLED) is not the platform's processing: a captured payment is not stuck."""
    assert sorted(s.value for s in PROCESSING_ENDS) == sorted([*FINAL, "CAPTURED"])
    assert sorted(s.value for s in IN_FLIGHT) == ["AUTHORIZED", "PENDING"]
    assert IN_FLIGHT.isdisjoint(PROCESSING_ENDS) and set(Status) == IN_FLIGHT | PROCESSING_ENDS


@pytest.mark.parametrize(("state", "event"), list(EXPECTED), ids=[f"{s}-{e}" for s, e in EXPECTED])
def test_every_allowed_transition_leads_to_the_expected_state(state: str, event: str) -> None:
    assert transition(Status(state), Event(event)).value == EXPECTED[(state, event)]


@pytest.mark.parametrize(("state", "event"), REFUSED, ids=[f"{s}-{e}" for s, e in REFUSED])
def test_every_other_state_and_event_is_refused(state: str, event: str) -> None:
    with pytest.raises(TransitionError) as refused:
        transition(Status(state), Event(event))
    assert refused.value.message == f"{event} is not allowed in state {state}"


def test_the_table_holds_the_expected_transitions_and_nothing_else() -> None:
    assert {(s.value, e.value): t.value for (s, e), t in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("state", FINAL)
@pytest.mark.parametrize("event", EVENTS)
def test_final_states_refuse_every_event_and_the_payment_is_unchanged(state: str, event: str) -> None:
    payment = _payment(state, version=4)
    with pytest.raises(TransitionError):
        payment.advance(Event(event), now=NOW)
    assert (payment.status.value, payment.version, payment.updated_at) == (state, 4, "2026-01-01T00:00:00.000Z")


@given(st.lists(st.sampled_from(EVENTS), max_size=30))
def test_final_states_stay_final_and_captured_money_never_fails_for_any_event_sequence(events: list[str]) -> None:
    payment = _payment()
    seen = [payment.status.value]
    for event in events:
        before = payment
        try:
            payment = payment.advance(Event(event), now=NOW)
        except TransitionError:
            assert (before.status.value, event) not in EXPECTED
            assert payment is before
            continue
        assert payment.status.value == EXPECTED[(before.status.value, event)]
        assert payment.version == before.version + 1
        assert payment.updated_at == NOW
        seen.append(payment.status.value)
    for earlier, later in itertools.combinations(seen, 2):
        assert earlier not in FINAL, f"{earlier} was left for {later}"
        if earlier in MONEY_MOVED:
            assert later in MONEY_MOVED, f"a {earlier} payment became {later}"


def test_the_happy_path_settles_in_three_steps() -> None:
    payment = _payment()
    for event in ("AUTHORIZE", "CAPTURE", "SETTLE"):
        payment = payment.advance(Event(event), now=NOW)
    assert (payment.status.value, payment.version) == ("SETTLED", 4)


@pytest.mark.parametrize("event", EVENTS)
def test_target_lists_every_state_an_event_can_lead_to(event: str) -> None:
    expected = {to for (_, ev), to in EXPECTED.items() if ev == event}
    assert {s.value for s in target(Event(event))} == expected


def test_a_reason_is_kept_until_a_new_one_is_given() -> None:
    authorized = _payment().advance(Event("AUTHORIZE"), now=NOW, reason="3-D Secure passed")
    captured = authorized.advance(Event("CAPTURE"), now=NOW)
    settled = captured.advance(Event("SETTLE"), now=NOW, reason="settled in batch 7")
    assert (authorized.reason, captured.reason, settled.reason) == (
        "3-D Secure passed",
        "3-D Secure passed",
        "settled in batch 7",
    )
