"""Screening: deterministic decision and reason from amount and merchant velocity."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.screening import Decision, ScreeningRules, screen, window_start

RULES = ScreeningRules(max_amount_minor=10_000, max_payments_per_merchant_window=3, window_seconds=3600)


def test_within_limits_is_approved() -> None:
    result = screen(10_000, 3, RULES)
    assert (result.decision, result.reason) == (Decision.APPROVE, "WITHIN_LIMITS")


def test_amount_over_the_limit_is_declined() -> None:
    assert screen(10_001, 1, RULES).reason == "AMOUNT_LIMIT_EXCEEDED"


def test_merchant_over_its_velocity_is_declined() -> None:
    result = screen(1, 4, RULES)
    assert (result.decision, result.reason) == (Decision.DECLINE, "MERCHANT_VELOCITY_EXCEEDED")


@given(st.integers(1, 20_000), st.integers(1, 10))
def test_screening_is_deterministic_and_approves_exactly_within_both_limits(amount: int, count: int) -> None:
    first, second = screen(amount, count, RULES), screen(amount, count, RULES)
    assert first == second
    assert (first.decision is Decision.APPROVE) == (amount <= 10_000 and count <= 3)


@given(st.integers(0, 2**40))
def test_window_start_is_the_enclosing_window(epoch: int) -> None:
    start = window_start(epoch, RULES)
    assert start <= epoch < start + 3600
    assert start % 3600 == 0
