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


# --- boundaries: short fractions pad on the right, for every exponent (issue 10, item 18) ---------------


@pytest.mark.parametrize(
    ("text", "currency", "minor_units"),
    [
        ("12.5", "EUR", 1250),  # the reported case: 12.50 EUR, not 12.05
        ("12.05", "EUR", 1205),
        ("12", "EUR", 1200),
        ("0.5", "USD", 50),
        ("0.01", "USD", 1),
        ("7", "JPY", 7),
        ("1.5", "KWD", 1500),
        ("1.05", "KWD", 1050),
        ("1.005", "KWD", 1005),
        ("0.1", "BHD", 100),
        ("2", "BHD", 2000),
        ("1.5", "CLF", 15000),
        ("1.05", "CLF", 10500),
        ("1.005", "CLF", 10050),
        ("1.0005", "CLF", 10005),
        ("3", "CLF", 30000),
        ("012.50", "EUR", 1250),
    ],
)
def test_a_decimal_with_fewer_digits_than_the_currency_is_padded_on_the_right(
    text: str, currency: str, minor_units: int
) -> None:
    assert Money.from_decimal_string(text, currency, limit=LIMIT) == Money(minor_units, currency)


@pytest.mark.parametrize("currency", ["JPY", "EUR", "KWD", "CLF"])
def test_any_fraction_shorter_than_the_exponent_means_the_same_as_its_zero_padded_form(currency: str) -> None:
    exponent = CURRENCY_EXPONENTS[currency]
    for digits in range(1, exponent + 1):
        short = "4." + "3" * digits
        padded = "4." + "3" * digits + "0" * (exponent - digits)
        assert Money.from_decimal_string(short, currency, limit=LIMIT) == Money.from_decimal_string(
            padded, currency, limit=LIMIT
        )
        assert Money.from_decimal_string(short, currency, limit=LIMIT).to_decimal_string() == padded


@pytest.mark.parametrize(
    ("text", "currency"), [("1.5", "JPY"), ("0.001", "EUR"), ("1.0001", "KWD"), ("1.00001", "CLF")]
)
def test_a_fraction_longer_than_the_exponent_is_refused(text: str, currency: str) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string(text, currency, limit=LIMIT)
    assert (refused.value.code, refused.value.field) == ("VALIDATION_FAILED", "amount")


def test_the_decimal_limit_is_inclusive_and_checked_in_minor_units() -> None:
    assert Money.from_decimal_string("100.00", "EUR", limit=10_000).amount == 10_000
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string("100.01", "EUR", limit=10_000)
    assert refused.value.code == "AMOUNT_OVER_LIMIT"
    assert Money.of(1, "EUR", limit=1).amount == 1


def test_zero_written_as_a_decimal_is_not_an_amount() -> None:
    for text in ("0", "0.00", "00.0"):
        with pytest.raises(MoneyError) as refused:
            Money.from_decimal_string(text, "EUR", limit=LIMIT)
        assert refused.value.code == "VALIDATION_FAILED"


# --- exponents written from ISO 4217 (List One), not read from the code's table --------------------------

ISO_4217_ZERO_DIGITS = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND"}
ISO_4217_ZERO_DIGITS |= {"VUV", "XAF", "XOF", "XPF"}
ISO_4217_THREE_DIGITS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
ISO_4217_FOUR_DIGITS = {"CLF", "UYW"}
ISO_4217_TWO_DIGITS_SAMPLE = {"USD", "EUR", "GBP", "CHF", "CNY", "INR", "BRL", "ZAR", "HUF", "IDR", "MXN", "SEK"}
ISO_4217_NO_AMOUNTS = {"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XSU", "XUA"}  # funds, metals, test


def test_every_currency_has_its_iso_4217_exponent() -> None:
    for code in ISO_4217_ZERO_DIGITS:
        assert CURRENCY_EXPONENTS.get(code) == 0, code
    for code in ISO_4217_THREE_DIGITS:
        assert CURRENCY_EXPONENTS.get(code) == 3, code
    for code in ISO_4217_FOUR_DIGITS:
        assert CURRENCY_EXPONENTS.get(code) == 4, code
    for code in ISO_4217_TWO_DIGITS_SAMPLE:
        assert CURRENCY_EXPONENTS.get(code) == 2, code
    others = set(CURRENCY_EXPONENTS) - ISO_4217_ZERO_DIGITS - ISO_4217_THREE_DIGITS - ISO_4217_FOUR_DIGITS
    assert {CURRENCY_EXPONENTS[code] for code in others} == {2}
    assert not ISO_4217_NO_AMOUNTS & set(CURRENCY_EXPONENTS)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(1, "JPY", "1"), (1, "EUR", "0.01"), (1, "KWD", "0.001"), (1, "CLF", "0.0001"), (123456, "CLF", "12.3456")],
)
def test_minor_units_are_shown_with_exactly_the_currency_digits(amount: int, currency: str, text: str) -> None:
    assert Money.of(amount, currency, limit=LIMIT).to_decimal_string() == text


NOT_INTEGER = "amount must be an integer number of minor units"
NOT_SUPPORTED = "currency is not a supported ISO 4217 code"


@pytest.mark.parametrize(
    ("call", "code", "field", "message"),
    [
        (lambda: Money.of(1.5, "USD", limit=LIMIT), "VALIDATION_FAILED", "amount", NOT_INTEGER),
        (lambda: Money.of(100, "XXX", limit=LIMIT), "UNSUPPORTED_CURRENCY", "currency", NOT_SUPPORTED),
        (lambda: Money.of(0, "USD", limit=LIMIT), "VALIDATION_FAILED", "amount", "amount must be positive"),
        (lambda: Money.of(11, "USD", limit=10), "AMOUNT_OVER_LIMIT", "amount", "amount is above the configured limit"),
        (lambda: Money.from_decimal_string("1", "XXX", limit=LIMIT), "UNSUPPORTED_CURRENCY", "currency", NOT_SUPPORTED),
        (
            lambda: Money.from_decimal_string("1.234", "USD", limit=LIMIT),
            "VALIDATION_FAILED",
            "amount",
            "amount has more than the 2 decimals of USD",
        ),
    ],
)
def test_a_refusal_names_its_code_field_and_a_message_without_the_value(call, code, field, message) -> None:
    """What the API puts in the error body (code, details.field, message) for each kind of refusal."""
    with pytest.raises(MoneyError) as refused:
        call()
    assert (refused.value.code, refused.value.field, refused.value.message) == (code, field, message)


# --- every refusal's code, field and message: they are the error contract's body (never echoing input) -----------


@pytest.mark.parametrize(
    ("text", "currency", "code", "field", "message"),
    [
        ("1.00", "XXX", "UNSUPPORTED_CURRENCY", "currency", "currency is not a supported ISO 4217 code"),
        (125, "EUR", "VALIDATION_FAILED", "amount", "amount must be text of ASCII digits"),
        ("0" * 24 + ".0", "EUR", "VALIDATION_FAILED", "amount", "amount text is longer than 25 characters"),
        ("1,00", "EUR", "VALIDATION_FAILED", "amount", "amount must be ASCII digits with an optional decimal point"),
        ("1.005", "EUR", "VALIDATION_FAILED", "amount", "amount has more than the 2 decimals of EUR"),
        ("0.00", "EUR", "VALIDATION_FAILED", "amount", "amount must be positive"),
        ("1000000.01", "EUR", "AMOUNT_OVER_LIMIT", "amount", "amount is above the configured limit"),
    ],
)
def test_each_refusal_says_its_code_field_and_message(
    text: object, currency: str, code: str, field: str, message: str
) -> None:
    with pytest.raises(MoneyError) as refused:
        Money.from_decimal_string(text, currency, limit=100_000_000)
    assert (refused.value.code, refused.value.field, refused.value.message) == (code, field, message)


def test_amount_text_of_exactly_the_maximum_length_is_read() -> None:
    text = "0" * 22 + "1.5"
    assert len(text) == MAX_DECIMAL_TEXT_CHARS
    assert Money.from_decimal_string(text, "EUR", limit=LIMIT).amount == 150


def test_whole_number_names_the_field_in_its_message() -> None:
    with pytest.raises(MoneyError) as refused:
        whole_number("12", field="version")
    assert (refused.value.code, refused.value.message) == ("VALIDATION_FAILED", "version is not a whole number")
