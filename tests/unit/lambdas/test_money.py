"""Money: integer minor units of ISO 4217 currencies; floats, non-positive, unknown and over-limit refused."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.errors import MoneyError
from lambdas.shared.money import CURRENCY_EXPONENTS, MAX_DECIMAL_TEXT_CHARS, Money, whole_number

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


def test_a_superscript_digit_is_the_domain_error_not_a_bare_value_error() -> None:
    """Regression (issue 10, item 2): "²" passed str.isdigit() and int() raised a bare ValueError."""
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("²", "USD", limit=LIMIT)
    assert (refused.value.code, refused.value.field) == ("VALIDATION_FAILED", "amount")
    assert "ASCII digits" in refused.value.message


def test_a_5000_digit_amount_is_the_domain_error_not_pythons_int_limit() -> None:
    """Regression (issue 10, item 2): a 5,000-digit string hit Python's 4300-digit int() limit."""
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("9" * 5000, "USD", limit=LIMIT)
    assert refused.value.code == "VALIDATION_FAILED"
    assert f"longer than {MAX_DECIMAL_TEXT_CHARS} characters" in refused.value.message


@pytest.mark.parametrize(
    "text",
    [
        "\u0661\u0662",  # Arabic-Indic digits: int() reads them as 12
        "\u06f1\u06f2",  # Extended Arabic-Indic
        "\u0967\u0968",  # Devanagari
        "\uff11\uff12",  # fullwidth: int() reads them as 12
        "\U0001d7cf\U0001d7d0",  # mathematical bold digits
        "1\u00b2",  # superscript two after an ASCII digit
        "12.\u0665\u0660",  # ASCII major, Arabic-Indic minor
        "1_000",  # int() takes underscores
        " 12",
        "12 ",
        "12\n",  # `$` in a regex would let the newline through
        "\t12",
        "1\u00a0000",
        "+5",
        "-5",
        "-0",
        "0x10",
        "1e3",
        "NaN",
        "Infinity",
        "1,000",
        "1.2.3",
        "1.",
        ".5",
        ".",
        "",
    ],
)
def test_only_ascii_digits_are_amounts(text: str) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string(text, "USD", limit=LIMIT)
    assert refused.value.code == "VALIDATION_FAILED"


# Any text, and text made mostly of digit-like characters (ASCII and not), points, signs and spaces.
amount_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789.\u0660\u0661\u0665\uff10\uff11\u00b2\u00b9_ +-\n\t", max_size=30),
)


@given(text=amount_texts, currency=currencies)
def test_any_text_is_money_or_the_domain_error(text: str, currency: str) -> None:
    """No text raises anything but MoneyError; what is accepted is ASCII digits with an optional point."""
    try:
        money = Money.from_decimal_string(text, currency, limit=LIMIT)
    except MoneyError:
        return
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", text, flags=re.ASCII)
    assert Money.from_decimal_string(money.to_decimal_string(), currency, limit=LIMIT) == money


@pytest.mark.parametrize("text", [12, 12.5, None, b"12", ["12"]])
def test_decimal_parsing_refuses_what_is_not_text(text: object) -> None:
    with pytest.raises(MoneyError):
        Money.from_decimal_string(text, "USD", limit=LIMIT)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.5", "EUR", 1250), ("12.05", "EUR", 1205), ("12", "EUR", 1200), ("7", "JPY", 7), ("1.5", "KWD", 1500)],
)
def test_decimal_parsing_pads_the_minor_digits_on_the_right(text: str, currency: str, minor: int) -> None:
    assert Money.from_decimal_string(text, currency, limit=LIMIT).amount == minor


def test_decimal_parsing_takes_an_amount_equal_to_the_limit_and_refuses_one_above() -> None:
    assert Money.from_decimal_string("10.00", "USD", limit=1000).amount == 1000
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("10.01", "USD", limit=1000)
    assert refused.value.code == "AMOUNT_OVER_LIMIT"


@pytest.mark.parametrize("currency", [None, 12, ["USD"], "usd"])
def test_decimal_parsing_refuses_a_currency_that_is_not_a_known_code(currency: object) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("1.00", currency, limit=LIMIT)
    assert refused.value.code == "UNSUPPORTED_CURRENCY"


@pytest.mark.parametrize(("value", "expected"), [(5, 5), (Decimal("1250"), 1250), (Decimal("1E+2"), 100)])
def test_whole_number_reads_stored_integers_exactly(value: object, expected: int) -> None:
    assert whole_number(value, field="amount") == expected


@pytest.mark.parametrize("value", [Decimal("12.5"), Decimal("NaN"), Decimal("Infinity"), "12", 12.0, True, None])
def test_whole_number_refuses_what_int_would_truncate_or_read(value: object) -> None:
    with pytest.raises(MoneyError) as refused:
        whole_number(value, field="version")
    assert refused.value.field == "version"
