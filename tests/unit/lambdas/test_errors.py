"""Domain errors: a stable code per kind, the message as the exception's text, the field it concerns."""

from __future__ import annotations

from lambdas.shared.errors import CardDataError, DomainError, MoneyError, TransitionError


def test_a_domain_error_keeps_its_message_code_and_field() -> None:
    error = DomainError("amount must be positive", field="amount")
    assert (str(error), error.message, error.code, error.field) == (
        "amount must be positive",
        "amount must be positive",
        "VALIDATION_FAILED",
        "amount",
    )
    assert DomainError("x").field is None
    assert DomainError("x", code="AMOUNT_OVER_LIMIT").code == "AMOUNT_OVER_LIMIT"
    assert isinstance(error, ValueError)


def test_each_kind_has_its_stable_code() -> None:
    assert (CardDataError("c").code, MoneyError("m").code, TransitionError("t").code) == (
        "CARD_DATA_REFUSED",
        "VALIDATION_FAILED",
        "ILLEGAL_TRANSITION",
    )
