"""Card-number (PAN) detection: the one detector of the platform (API, batch parser, log redactor, policy pack).

A card number is found the way DLP products find one, on the text as a human reads it:

1. **Reading form.** The text is folded first (:func:`reading_form`): JSON escapes are decoded
   (``\\u0034`` -> ``4``, surrogate pairs, ``\\n``, ``\\/``); every decimal digit form becomes an
   ASCII digit (Unicode ``Nd``: fullwidth, Arabic-Indic, Devanagari, mathematical …; NFKC digit
   forms: superscripts, subscripts, circled digits); invisible characters vanish (format ``Cf``
   such as zero-width spaces and the soft hyphen, combining marks ``Mn``/``Me`` such as the keycap,
   control characters); every other space (NBSP, the ``Zs``/``Zl``/``Zp`` spaces) becomes ``" "``;
   dash, dot, slash, comma and underscore look-alikes become their ASCII form.
2. **Grouping.** Digits are read in groups: a group is a maximal digit run, groups are joined by
   1-16 separator characters (spaces, ``- . / \\ _ , : | ' * ~`` in any mix). A candidate is a
   run of consecutive groups laid out as card numbers are written: contiguous, 4-4-4-4 (any
   number of 4s with a 1-4 digit tail; likewise digits read out in ones, twos or threes),
   4-6-5 (Amex), 4-6-4 (Diners), 4-3-3-3, 4-4-5, 5-5-5, 5-5-5-4, 6-13, 8-8, or an IIN group of 4
   or 6 then the rest. A group is never split.
3. **Not inside a longer token.** A group touching a letter (UUIDs, hex and base64 tokens, ULIDs,
   ``e`` exponents) cannot be part of a card number, nor can a contiguous run right after a ``+``
   alone (an E.164 phone number, ``+4915123456789``); groups joined by a bare ``.`` (decimal
   numbers: ``0.4111…``) are one number and are taken whole, except that a trailing all-zero
   fraction is dropped (``4111111111111111.0``, a card sent as a float); a valid IBAN (ISO 13616
   mod-97) is not a card number.
4. **Issuer and checksum.** The candidate's digits must start with a card brand's issuer
   identification number (IIN) and have one of that brand's lengths (:data:`BRANDS`), and pass
   the Luhn check (ISO/IEC 7812-1 Annex B).

Sources: ISO/IEC 7812-1:2017 (PAN = IIN + individual account identification + check digit, up to
19 digits; the first digit is the major industry identifier); ISO 13616-1:2020 (IBAN); the brands'
published ranges: Visa (4; 13, 16, 19 digits), Mastercard (51-55 and the 2-series 2221-2720 in use
since 2017; 16), American Express (34, 37; 15), Discover Global Network IIN range tables (6011,
644-649, 65, UnionPay co-brand 622126-622925; Diners Club International 36, 300-305, 3095, 38-39),
JCB (3528-3589), UnionPay International (62, 81), Mastercard Maestro (5018, 5020, 5038, 5893, 6304,
6759, 6761-6763: 12-19 digits; 50, 56-69: 16-19), NSPK Mir (2200-2204), NPCI RuPay, Interswitch Verve,
BKM Troy, Dankort, UATP (1; 15), BORICA, LankaPay, Humo, Uzcard.

Everything here is pure (no I/O) and linear in the input; :func:`contains_pan` on ASCII text
without backslashes costs one regex scan.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lambdas.shared.errors import CardDataError

REDACTED = "[REDACTED-PAN]"
MIN_DIGITS, MAX_DIGITS = 12, 19


@dataclass(frozen=True, slots=True)
class Brand:
    """A card brand: IIN prefix ranges (inclusive, each bound a digit string of one length) and PAN lengths."""

    name: str
    iin_ranges: tuple[tuple[str, str], ...]
    lengths: frozenset[int]


def _lengths(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


def _one(*prefixes: str) -> tuple[tuple[str, str], ...]:
    return tuple((p, p) for p in prefixes)


BRANDS: tuple[Brand, ...] = (
    Brand("Visa", _one("4"), frozenset({13, 16, 19})),
    Brand("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    Brand("American Express", _one("34", "37"), frozenset({15})),
    Brand("Discover", (*_one("6011", "65"), ("644", "649"), ("622126", "622925")), _lengths(16, 19)),
    Brand("Diners Club International", (*_one("36", "3095"), ("300", "305"), ("38", "39")), _lengths(14, 19)),
    Brand("JCB", (("3528", "3589"),), _lengths(16, 19)),
    Brand("UnionPay", _one("62", "81"), _lengths(14, 19)),
    Brand("Maestro", (*_one("5018", "5020", "5038", "5893", "6304", "6759"), ("6761", "6763")), _lengths(12, 19)),
    # Mastercard's catch-all Maestro ranges; 12-15 digit PANs only in the named ranges above.
    Brand("Maestro", (("50", "50"), ("56", "69")), _lengths(16, 19)),
    Brand("Mir", (("2200", "2204"),), _lengths(16, 19)),
    Brand("RuPay", (*_one("60", "65", "508", "353", "356"), ("81", "82")), frozenset({16})),
    Brand("Verve", (("506099", "506198"), ("507865", "507964"), ("650002", "650027")), frozenset({16, 18, 19})),
    Brand("Troy", _one("9792"), frozenset({16})),
    Brand("Dankort", _one("5019"), frozenset({16})),
    Brand("InterPayment", _one("636"), _lengths(16, 19)),
    Brand("InstaPayment", (("637", "639"),), frozenset({16})),
    Brand("UATP", _one("1"), frozenset({15})),
    Brand("BORICA", _one("2205"), frozenset({16})),
    Brand("LankaPay", _one("357111"), frozenset({16})),
    Brand("Humo", _one("9860"), frozenset({16})),
    Brand("Uzcard", _one("8600", "5614"), frozenset({16})),
)


def _iin_table() -> dict[tuple[int, str], Brand]:
    """(PAN length, IIN prefix) -> brand, every range expanded to the prefixes of its bounds' length.

    Looked up from the longest prefix down, so a narrower range wins over the one holding it (Verve's
    650002-650027 inside Discover's and RuPay's 65).
    """
    table: dict[tuple[int, str], Brand] = {}
    for brand in BRANDS:
        for low, high in brand.iin_ranges:
            for prefix in range(int(low), int(high) + 1):
                for length in brand.lengths:
                    table.setdefault((length, str(prefix).zfill(len(low))), brand)
    return table


_IIN = _iin_table()
_IIN_SIZES = sorted({len(prefix) for _, prefix in _IIN}, reverse=True)


def card_brand(digits: str) -> Brand | None:
    """The brand whose IIN range and lengths fit ``digits`` (ASCII digits only), else None (no Luhn check here)."""
    length = len(digits)
    for size in _IIN_SIZES:
        brand = _IIN.get((length, digits[:size]))
        if brand is not None:
            return brand
    return None


_DOUBLED = str.maketrans("0123456789", "0246813579")  # 2d, minus 9 when above 9


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits (ISO/IEC 7812-1 Annex B)."""
    # Sum of the code points minus 48 per digit: the digit sum without a Python-level loop.
    summed = (digits[-1::-2] + digits[-2::-2].translate(_DOUBLED)).encode()
    return (sum(summed) - 48 * len(summed)) % 10 == 0


def is_card_number(digits: str) -> bool:
    """Whether ``digits`` (ASCII digits only) is a PAN: a brand's IIN and length, and Luhn-valid."""
    return card_brand(digits) is not None and luhn_valid(digits)


# --- reading form -------------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2796\ufe58\ufe63\uff0d\u30fc"
_DOTS = "\u00b7\u066b\u06d4\u2022\u2024\u2027\u2219\u22c5\u30fb\u3002\uff0e\uff61\uff65"
_SLASHES = "\u2044\u2215\u29f8\uff0f"
_COMMAS = "\u060c\u066c\u3001\uff0c\ufe50"
_FOLD_PUNCTUATION = {
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_DOTS, "."),
    **dict.fromkeys(_SLASHES, "/"),
    **dict.fromkeys(_COMMAS, ","),
}
_ASCII_SPACES = "\t\n\r\x0b\x0c"
_SEPARATOR_CHARS = " -./\\_,:|'*~"  # between digit groups (with the ASCII spaces)


def _fold_char(ch: str) -> str:
    """One character as read: digits -> ASCII digits, spaces -> " ", invisible -> "", look-alikes -> ASCII."""
    if ch.isascii():
        return "" if (ch < " " and ch not in _ASCII_SPACES) or ch == "\x7f" else ch
    if ch in _FOLD_PUNCTUATION:
        return _FOLD_PUNCTUATION[ch]
    category = unicodedata.category(ch)
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    if ch.isspace() or category in ("Zs", "Zl", "Zp"):
        return " "
    if category in ("Cf", "Cc", "Cs", "Mn", "Me"):
        return ""
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch and folded and all(unicodedata.category(c) == "Nd" for c in folded):
        return "".join(str(unicodedata.decimal(c)) for c in folded)  # superscripts, circled and math digits
    if len(folded) == 1 and folded.isascii() and folded in _SEPARATOR_CHARS:
        return folded  # fullwidth punctuation
    if category == "Pd":
        return "-"
    return ch


class _FoldTable(dict[int, str]):
    """``str.translate`` table computed on first sight of a code point (bounded, so hostile text cannot grow it)."""

    def __missing__(self, code: int) -> str:
        value = _fold_char(chr(code))
        if len(self) < 1 << 15:
            self[code] = value
        return value


_FOLD = _FoldTable()
# JSON string escapes (RFC 8259 section 7): a surrogate pair first, so astral digits decode whole.
_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\[nrtbf/\\\"]")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"'}
# Anything but printable ASCII, the ASCII spaces and no backslash: the text needs folding.
_NEEDS_FOLDING = re.compile(r"[^\t-\r -\[\]-~]")


def _decode_escape(escape: str) -> str:
    if escape[1] != "u":
        return _SIMPLE_ESCAPES[escape[1]]
    if len(escape) == 12:
        high, low = int(escape[2:6], 16), int(escape[8:12], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    return chr(int(escape[2:6], 16))


def reading_form(text: str) -> str:
    """``text`` as a human reads it (escapes decoded, digit forms as ASCII digits, invisibles removed)."""
    if _NEEDS_FOLDING.search(text) is None:
        return text
    if "\\" in text:
        text = _ESCAPE.sub(lambda m: _decode_escape(m.group()), text)
    return text.translate(_FOLD)


def _reading_form_with_origins(text: str) -> tuple[str, list[int], list[int]]:
    """:func:`reading_form` plus, for each of its characters, the span of ``text`` it was read from."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def add(source: str, start: int, end: int) -> None:
        folded = source.translate(_FOLD)
        pieces.append(folded)
        starts.extend([start] * len(folded))
        ends.extend([end] * len(folded))

    last = 0
    for match in _ESCAPE.finditer(text):
        for i in range(last, match.start()):
            add(text[i], i, i + 1)
        add(_decode_escape(match.group()), match.start(), match.end())
        last = match.end()
    for i in range(last, len(text)):
        add(text[i], i, i + 1)
    return "".join(pieces), starts, ends


# --- grouping -----------------------------------------------------------------------------------

_SEP = r"[\t-\r \-./\\_,:|'*~]"
# A digit and then 11 more digits, separators or (dropped) control characters: ASCII text without a
# backslash that has none holds no card number (one fast scan decides for most text).
_ASCII_PREFILTER = re.compile(r"[0-9][\x00-\x20\-./_,:|'*~\x7f0-9]{11,}")
_RUN = re.compile(rf"[0-9]+(?:{_SEP}{{1,16}}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_LAYOUTS = frozenset({(4, 6, 5), (4, 6, 4), (4, 3, 3, 3), (4, 4, 5), (5, 5, 5), (5, 5, 5, 4), (6, 13), (8, 8)})
# IBAN in its electronic form or its print form (groups of four, single spaces; ISO 13616-1 section 5).
_IBAN = re.compile(r"(?<![^\W_])[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![^\W_])")


def _layout_ok(sizes: tuple[int, ...], dotted: bool) -> bool:
    """Whether digit groups of these sizes are a way card numbers are written (``dotted``: some joined by bare dots)."""
    if len(sizes) == 1 or sizes in _LAYOUTS:
        return True
    if sizes[0] <= 4 and all(size == sizes[0] for size in sizes[1:-1]) and sizes[-1] <= sizes[0]:
        return True  # 4-4-4-4, 4-4-4-4-3, 4-4-4-1 …; digits read out in ones, twos or threes
    # The IIN, then the rest; not for "1234.567890123456", a decimal number.
    return len(sizes) == 2 and sizes[0] in (4, 6) and not dotted


def _poisons(ch: str) -> bool:
    """A neighbour that makes a digit group part of a longer token: a letter."""
    return ch.isalpha()


def _candidates(view: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of the run ``view[start:end]`` that read as a card number.

    A candidate is consecutive groups; it starts and ends at number boundaries (groups joined by a
    bare dot are one number), except that a trailing all-zero fraction may be left out. Only sizes
    are looked at until a layout fits; the digits are joined and checked after that.
    """
    spans = [m.span() for m in _GROUP.finditer(view, start, end)]
    sizes = [e - s for s, e in spans]
    if sum(sizes) < MIN_DIGITS:
        return
    count = len(spans)
    dotted = [view[spans[k][1] : spans[k + 1][0]] == "." for k in range(count - 1)]
    dotted.append(False)
    lowest, highest = 0, count - 1
    if start and _poisons(view[start - 1]):
        while lowest < count and dotted[lowest]:
            lowest += 1
        lowest += 1  # the first number touches a letter
    if end < len(view) and _poisons(view[end]):
        while highest > 0 and dotted[highest - 1]:
            highest -= 1
        highest -= 1  # the last number touches a letter
    # "+4915123456789" is an E.164 phone number; "+4111 1111 1111 1111" is still read as a card number.
    phone = start > 0 and view[start - 1] == "+"
    for i in range(lowest, highest + 1):
        if i and dotted[i - 1]:
            continue  # not the start of a number
        total = 0
        for j in range(i, highest + 1):
            total += sizes[j]
            if total > MAX_DIGITS:
                break
            if total < MIN_DIGITS or (phone and i == 0 and j == 0):
                continue
            ends_number = not dotted[j]
            # "4111111111111111.0": the number without its trailing all-zero fraction.
            drops_zeros = (
                j + 1 <= highest and dotted[j] and not dotted[j + 1] and view.count("0", *spans[j + 1]) == sizes[j + 1]
            )
            if not (ends_number or drops_zeros):
                continue
            layout = tuple(sizes[i : j + 1])
            if not _layout_ok(layout, any(dotted[i:j])):
                continue
            digits = "".join(view[s:e] for s, e in spans[i : j + 1])
            if is_card_number(digits):
                yield spans[i][0], spans[j][1]


def _iban_valid(compact: str) -> bool:
    """ISO 13616 check: 15-34 characters, country moved to the end, letters as 10-35, mod 97 == 1."""
    rearranged = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban_spans(view: str) -> list[tuple[int, int]]:
    """Spans of valid IBANs; in print form the longest run of groups that validates (a word may follow)."""
    spans = []
    for match in _IBAN.finditer(view):
        text = match.group()
        spaces = [i for i, c in enumerate(text) if c == " "][2:]  # print form: at least 3 groups
        ends = [*spaces, len(text)] if " " in text else [len(text)]
        for end in reversed(ends):
            if _iban_valid(text[:end].replace(" ", "")):
                spans.append((match.start(), match.start() + end))
                break
    return spans


def _view_spans(view: str, first_only: bool = False) -> list[tuple[int, int]]:
    """Spans of ``view`` (a reading form) that are card numbers, in order, overlaps merged (or just the first)."""
    found: list[tuple[int, int]] = []
    ibans: list[tuple[int, int]] | None = None
    for run in _RUN.finditer(view):
        if run.end() - run.start() < MIN_DIGITS:
            continue
        for span in _candidates(view, run.start(), run.end()):
            if ibans is None:
                ibans = _iban_spans(view)
            if any(i_start <= span[0] and span[1] <= i_end for i_start, i_end in ibans):
                continue
            if first_only:
                return [span]
            found.append(span)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _plainly_without_pan(text: str) -> bool:
    """The fast path: ASCII text, no escapes, and no run of 12 digits and separators."""
    return text.isascii() and "\\" not in text and _ASCII_PREFILTER.search(text) is None


def pan_spans(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of ``text`` that hold a card number, in order and disjoint.

    A span covers the whole written form (separators, escapes and invisible characters between
    the digits included), so replacing it leaves none of the number behind.
    """
    if _plainly_without_pan(text):
        return []
    view = reading_form(text)
    spans = _view_spans(view)
    if not spans or view is text:
        return spans
    view, starts, ends = _reading_form_with_origins(text)
    return [(starts[s], ends[e - 1]) for s, e in _view_spans(view)]


def contains_pan(text: str) -> bool:
    """Whether ``text`` holds a card number anywhere, in any written form (see the module docstring)."""
    return not _plainly_without_pan(text) and bool(_view_spans(reading_form(text), first_only=True))


def redact(text: str) -> str:
    """``text`` with every card number (its whole written form) replaced by ``[REDACTED-PAN]``."""
    spans = pan_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def number_forms(value: int | float | Decimal) -> tuple[str, ...]:
    """How a JSON number reads: its own text, and its integer digits when it is a whole number.

    Integers of 20 digits or more (never card numbers), NaN and infinities give no forms.
    """
    if isinstance(value, int):
        return (str(value),) if abs(value) < 10**MAX_DIGITS else ()
    if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        return ()
    text = repr(value) if isinstance(value, float) else str(value)
    if abs(value) < 10**MAX_DIGITS and value == int(value):
        return (text, str(int(value)))
    return (text,)


def number_holds_pan(value: int | float | Decimal) -> bool:
    """Whether a number (a card sent as a JSON integer or float) is a card number."""
    return any(contains_pan(form) for form in number_forms(value))


def _strings(value: Any, path: str) -> Iterator[tuple[str, bool]]:
    """(path, holds a PAN) for every string, key and number inside a decoded JSON value."""
    if isinstance(value, str):
        yield path, contains_pan(value)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        yield path, number_holds_pan(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            # Keys are input too: check them, and never let one (a PAN, say) into a reported path.
            child = f"{path}.{redact(str(key))}"
            yield child, contains_pan(str(key))
            yield from _strings(item, child)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def refuse_pan(value: Any, *, where: str = "$") -> None:
    """Raise CardDataError when any string, number or key inside ``value`` (decoded JSON) holds a card number.

    The error names the field path only (keys in it redacted): the number itself is never part of the message.
    """
    for path, holds in _strings(value, where):
        if holds:
            raise CardDataError("card numbers are not accepted; send a payment method token instead", field=path)
