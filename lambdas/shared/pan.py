"""Card-number (PAN) detection: any Luhn-valid run of 13-19 digits, spaces and dashes allowed between them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lambdas.shared.errors import CardDataError

# Runs of >= 13 digits where single spaces or dashes may separate digits.
DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,}")
NOT_DIGIT = re.compile(r"\D")
MIN_DIGITS, MAX_DIGITS = 13, 19
REDACTED = "[REDACTED-PAN]"


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def digits_hold_pan(digits: str) -> bool:
    """True when some 13-19 digit window of the run is Luhn-valid (a PAN may sit inside a longer run)."""
    n = len(digits)
    for length in range(MIN_DIGITS, min(MAX_DIGITS, n) + 1):
        for start in range(n - length + 1):
            if luhn_valid(digits[start : start + length]):
                return True
    return False


def _pan_spans(text: str) -> Iterator[tuple[int, int]]:
    for match in DIGIT_RUN.finditer(text):
        if digits_hold_pan(NOT_DIGIT.sub("", match.group())):
            yield match.span()


def contains_pan(text: str) -> bool:
    """Whether ``text`` holds a card number anywhere."""
    return next(_pan_spans(text), None) is not None


def redact(text: str) -> str:
    """``text`` with every digit run that holds a card number replaced (for log lines)."""
    spans = list(_pan_spans(text))
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            # Keys are input too: check them, and never let one (a PAN, say) into a reported path.
            child = f"{path}.{redact(str(key))}"
            yield child, str(key)
            yield from _strings(item, child)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def refuse_pan(value: Any, *, where: str = "$") -> None:
    """Raise CardDataError when any string, number or key inside ``value`` holds a card number.

    The error names the field path only: the number itself is never part of the message.
    """
    for path, text in _strings(value, where):
        if contains_pan(text):
            raise CardDataError("card numbers are not accepted; send a payment method token instead", field=path)
