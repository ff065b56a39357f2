"""Money: integer minor units of ISO 4217 currencies; floats, non-positive, unknown and over-limit refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.errors import MoneyError
from lambdas.shared.money import CURRENCY_EXPONENTS, Money

LIMIT = 100_000_000_000
currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@given(amount=st.integers(min_value=1, max_value=LIMIT), currency=currencies)
def test_amount_round_trips_for_any_currency(amount: int, currency: str) -> None:
    money = Money.of(amount, currency, limit=LIMIT)
    text = money.to_decimal_string()
    assert Money.from_decimal_string(text, currency, limit=LIMIT) == money
    digits = text.partition(".")[2]
    assert len(digits) == CURRENCY_EXPONENTS[currency]


def test_exponents_follow_iso_4217() -> None:
    assert (CURRENCY_EXPONENTS["USD"], CURRENCY_EXPONENTS["JPY"], CURRENCY_EXPONENTS["KWD"]) == (2, 0, 3)
    assert Money.of(5, "USD", limit=LIMIT).to_decimal_string() == "0.05"
    assert Money.of(500, "JPY", limit=LIMIT).to_decimal_string() == "500"
    assert Money.of(1234, "BHD", limit=LIMIT).to_decimal_string() == "1.234"
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (1.5, "USD", "VALIDATION_FAILED"),
        (100.0, "USD", "VALIDATION_FAILED"),
        (True, "USD", "VALIDATION_FAILED"),
        ("100", "USD", "VALIDATION_FAILED"),
        (0, "USD", "VALIDATION_FAILED"),
        (-1, "USD", "VALIDATION_FAILED"),
        (100, "XXX", "UNSUPPORTED_CURRENCY"),
        (100, "usd", "UNSUPPORTED_CURRENCY"),
        (100, None, "UNSUPPORTED_CURRENCY"),
        (LIMIT + 1, "USD", "AMOUNT_OVER_LIMIT"),
    ],
)
def test_money_refuses_what_is_not_a_positive_integer_amount_in_a_known_currency(amount, currency, code) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.of(amount, currency, limit=LIMIT)
    assert refused.value.code == code


def test_limit_is_inclusive() -> None:
    assert Money.of(10, "EUR", limit=10).amount == 10


@pytest.mark.parametrize("text", ["1.234", "1.", ".5", "-1.00", "1e3", "", "abc", "1.2.3"])
def test_decimal_parsing_refuses_more_digits_than_the_currency_has_or_malformed_text(text: str) -> None:
    with pytest.raises(MoneyError):
        Money.from_decimal_string(text, "USD", limit=LIMIT)


def test_decimal_parsing_refuses_unknown_currency() -> None:
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("1.00", "ZZZ", limit=LIMIT)
    assert refused.value.code == "UNSUPPORTED_CURRENCY"
