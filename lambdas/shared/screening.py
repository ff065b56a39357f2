"""Deterministic screening: amount limit and merchant velocity produce a decision and a reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    APPROVE = "APPROVE"
    DECLINE = "DECLINE"


@dataclass(frozen=True, slots=True)
class ScreeningRules:
    """Limits the screening applies (from configuration)."""

    max_amount_minor: int
    max_payments_per_merchant_window: int
    window_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class Screening:
    decision: Decision
    reason: str


def screen(amount_minor: int, merchant_payments_in_window: int, rules: ScreeningRules) -> Screening:
    """Decline above the amount limit or when the merchant exceeded its velocity; otherwise approve.

    ``merchant_payments_in_window`` counts this payment too (the adapter records it first).
    """
    if amount_minor > rules.max_amount_minor:
        return Screening(Decision.DECLINE, "AMOUNT_LIMIT_EXCEEDED")
    if merchant_payments_in_window > rules.max_payments_per_merchant_window:
        return Screening(Decision.DECLINE, "MERCHANT_VELOCITY_EXCEEDED")
    return Screening(Decision.APPROVE, "WITHIN_LIMITS")


def window_start(epoch_seconds: int, rules: ScreeningRules) -> int:
    """Start of the fixed velocity window holding ``epoch_seconds``."""
    return epoch_seconds - epoch_seconds % rules.window_seconds
