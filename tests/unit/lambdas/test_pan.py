"""PAN detection: Luhn-valid 13-19 digit runs (spaces/dashes allowed) anywhere are refused and never echoed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.errors import CardDataError
from lambdas.shared.pan import contains_pan, luhn_valid, redact, refuse_pan

KNOWN_PANS = ["4111111111111111", "5500005555555559", "378282246310005", "6011111111111117", "4222222222222"]


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


pans = st.integers(12, 18).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)).map(luhn_complete)


def formatted(pan: str, separator: str) -> str:
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


@pytest.mark.parametrize("pan", KNOWN_PANS)
def test_known_test_cards_are_luhn_valid_and_detected(pan: str) -> None:
    assert luhn_valid(pan)
    for text in (pan, formatted(pan, " "), formatted(pan, "-"), f"card:{pan}.", f"x {formatted(pan, '-')} y"):
        assert contains_pan(text), text


@pytest.mark.parametrize(
    "text",
    [
        "4222222222223",
        "1234567890123",
        "123456789012",
        "2026-11-27T12:00:00.000Z",
        "m_abcdef",
        "",
        "1 2 3",
        "41111111111",
    ],
)
def test_text_without_a_card_number_passes(text: str) -> None:
    assert not contains_pan(text)


@given(
    pan=pans,
    separator=st.sampled_from(["", " ", "-"]),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    field=st.sampled_from(["reference", "description", "merchant_id", "nested"]),
)
def test_a_planted_pan_is_always_refused_and_never_echoed(
    pan: str, separator: str, before: str, after: str, field: str
) -> None:
    text = before + formatted(pan, separator) + after
    document = {"reference": "r1", "description": "ok", "merchant_id": "m_abcdef", "nested": {"list": ["a"]}}
    if field == "nested":
        document["nested"] = {"list": ["a", text]}
    else:
        document[field] = text
    with pytest.raises(CardDataError) as refused:
        refuse_pan(document)
    shown = f"{refused.value} {refused.value.field} {refused.value.message}"
    assert pan not in shown.replace(" ", "").replace("-", "")
    cleaned = redact(text)
    assert not contains_pan(cleaned)
    assert pan not in cleaned.replace(" ", "").replace("-", "")


@given(pans)
def test_a_pan_used_as_a_key_is_refused_and_the_path_does_not_show_it(pan: str) -> None:
    with pytest.raises(CardDataError) as refused:
        refuse_pan({"meta": {pan: "x"}})
    assert pan not in str(refused.value.field)


def test_numbers_are_screened_too() -> None:
    with pytest.raises(CardDataError):
        refuse_pan({"amount": 4111111111111111})
    refuse_pan({"amount": 100, "flag": True, "ratio": 1.5, "none": None})


def test_a_longer_digit_run_is_refused_when_a_card_number_may_hide_inside_it() -> None:
    # Deliberately conservative: a PAN glued to other digits ("4111111111111111" + "123") must not pass,
    # so every 13-19 digit window of a run is checked, at the price of refusing some long numbers.
    assert contains_pan("4111111111111111123")
    assert contains_pan("4111111111111112")  # its first 13 digits form a Luhn-valid run


def test_redact_keeps_text_without_card_numbers() -> None:
    assert redact("order 12345 for m_abcdef") == "order 12345 for m_abcdef"
