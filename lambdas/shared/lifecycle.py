"""The payment state machine as data, with one transition function."""

from __future__ import annotations

from enum import StrEnum

from lambdas.shared.errors import TransitionError


class Status(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    SETTLED = "SETTLED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


class Event(StrEnum):
    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    SETTLE = "SETTLE"
    DECLINE = "DECLINE"
    FAIL = "FAIL"


# (state, event) -> next state. Anything not listed is illegal; states with no outgoing edge are terminal.
TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.PENDING, Event.AUTHORIZE): Status.AUTHORIZED,
    (Status.PENDING, Event.DECLINE): Status.DECLINED,
    (Status.PENDING, Event.FAIL): Status.FAILED,
    (Status.AUTHORIZED, Event.CAPTURE): Status.CAPTURED,
    (Status.AUTHORIZED, Event.FAIL): Status.FAILED,
    (Status.CAPTURED, Event.SETTLE): Status.SETTLED,
}
INITIAL = Status.PENDING
TERMINAL = frozenset(s for s in Status if not any(src == s for src, _ in TRANSITIONS))
# Where the platform's processing of a payment ends (the workflow or the queue consumer stops and publishes the
# payment's event): the terminal states, and CAPTURED, which only settlement moves on (a later process, outside
# the authorization-and-capture flow this platform runs).
PROCESSING_ENDS = TERMINAL | {Status.CAPTURED}
# In flight: processing has not ended; a payment here past its time is stuck (lambdas/reconciliation re-drives it).
IN_FLIGHT = frozenset(Status) - PROCESSING_ENDS


def transition(state: Status, event: Event) -> Status:
    """The next state, or TransitionError when the machine does not declare (state, event)."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"{event.value} is not allowed in state {state.value}") from None


def target(event: Event) -> frozenset[Status]:
    """Every state that ``event`` can lead to (a retry that finds one of these already applied may be a no-op)."""
    return frozenset(dst for (_, ev), dst in TRANSITIONS.items() if ev == event)
