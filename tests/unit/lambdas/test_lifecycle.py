"""The payment state machine: declared transitions only, terminal states final, versions grow by one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.errors import TransitionError
from lambdas.shared.lifecycle import INITIAL, TERMINAL, TRANSITIONS, Event, Status, target, transition
from lambdas.shared.money import Money
from lambdas.shared.payments import Payment


def _payment() -> Payment:
    return Payment(
        payment_id="pay_" + "0" * 32,
        merchant_id="m_abcdef",
        reference="r1",
        money=Money(100, "EUR"),
        status=INITIAL,
        version=1,
        source="api",
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    )


def test_terminal_states_are_settled_declined_and_failed() -> None:
    assert frozenset({Status.SETTLED, Status.DECLINED, Status.FAILED}) == TERMINAL
    assert INITIAL is Status.PENDING


def test_happy_path_is_declared() -> None:
    state = INITIAL
    for event in (Event.AUTHORIZE, Event.CAPTURE, Event.SETTLE):
        state = transition(state, event)
    assert state is Status.SETTLED


@given(st.lists(st.sampled_from(list(Event)), max_size=30))
def test_no_event_sequence_reaches_an_undeclared_state_or_leaves_a_terminal_one(events: list[Event]) -> None:
    payment = _payment()
    for event in events:
        before = payment
        try:
            payment = payment.advance(event, now="2026-01-01T00:00:01.000Z")
        except TransitionError:
            assert (before.status, event) not in TRANSITIONS
            continue
        assert before.status not in TERMINAL
        assert (before.status, event) in TRANSITIONS
        assert payment.status in set(Status)
        assert payment.version == before.version + 1


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(Event))
def test_terminal_states_refuse_every_event(state: Status, event: Event) -> None:
    with pytest.raises(TransitionError):
        transition(state, event)


def test_target_lists_where_an_event_can_lead() -> None:
    assert target(Event.FAIL) == {Status.FAILED}
    assert target(Event.AUTHORIZE) == {Status.AUTHORIZED}
