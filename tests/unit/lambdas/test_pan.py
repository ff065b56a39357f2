"""Card-number detection: every brand in every written form is found (and redacted); identifiers are not.

The reported cases are regression tests; the two error rates are measured over generated corpora
(seeded, so a failure reproduces): card numbers of every brand and length in many written forms,
and identifiers that are not card numbers (UUIDs, tokens, ULIDs, timestamps, order numbers, IBANs,
phone numbers).
"""

# ruff: noqa: RUF001  (look-alike digits are the point of these tests)

from __future__ import annotations

import base64
import json
import logging
import random
import string
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdas.shared.batch_csv import BatchLimits, BatchParser
from lambdas.shared.errors import CardDataError
from lambdas.shared.pan import (
    BRANDS,
    REDACTED,
    _reading_form_with_origins,
    card_brand,
    contains_pan,
    is_card_number,
    luhn_valid,
    number_holds_pan,
    pan_spans,
    reading_form,
    redact,
    refuse_pan,
)
from lambdas.shared.runtime import RedactingFormatter

# Test numbers brands and PSPs publish (Visa, Mastercard 2-series, Amex, Discover, Diners, JCB, UnionPay, Maestro).
KNOWN_PANS = [
    "4111111111111111",
    "4222222222222",
    "4012888888881881",
    "5500005555555559",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "6011000990139424",
    "30569309025904",
    "36227206271667",
    "3530111333300000",
    "6200000000000005",
    "6759649826438453",
    "6799990100000000019",
]
UUID_OF_THE_ISSUE = "7b4852af-80a5-4ee4-9906-334941417c18"


def luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


# --- the reported cases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("card 4111.1111.1111.1111", "card [REDACTED-PAN]"),
        ("card 4111  1111  1111  1111", "card [REDACTED-PAN]"),
        ("card 4111 1111 1111 1111", "card [REDACTED-PAN]"),
        ("card 4111111111111111", "card [REDACTED-PAN]"),
    ],
)
def test_the_reported_card_numbers_are_found_and_redacted(text: str, redacted: str) -> None:
    assert contains_pan(text)
    assert redact(text) == redacted


def test_the_reported_uuid_is_not_a_card_number() -> None:
    assert not contains_pan(UUID_OF_THE_ISSUE)
    assert redact(UUID_OF_THE_ISSUE) == UUID_OF_THE_ISSUE
    refuse_pan({"key": UUID_OF_THE_ISSUE, UUID_OF_THE_ISSUE: 1})


# --- issuer, length, checksum -------------------------------------------------------------------


@pytest.mark.parametrize("pan", KNOWN_PANS)
def test_published_test_cards_are_card_numbers(pan: str) -> None:
    assert luhn_valid(pan) and card_brand(pan) is not None and is_card_number(pan)


@pytest.mark.parametrize(
    ("digits", "brand"),
    [
        (luhn_complete("222100000000000"), "Mastercard"),
        (luhn_complete("272099999999999"), "Mastercard"),
        (luhn_complete("222000000000000"), None),
        (luhn_complete("220400000000000"), "Mir"),
        (luhn_complete("272100000000000"), None),
        (luhn_complete("352800000000000"), "JCB"),
        (luhn_complete("358900000000000"), "JCB"),
        (luhn_complete("359000000000000"), None),
        (luhn_complete("622126000000000"), "Discover"),
        (luhn_complete("650002000000000"), "Verve"),  # inside RuPay's and Discover's 65: the narrower range wins
        (luhn_complete("34000000000000"), "American Express"),
        (luhn_complete("340000000000000"), None),  # Amex has 15 digits, not 16
        (luhn_complete("50180000000"), "Maestro"),  # 12 digits
        (luhn_complete("41111111111111"), None),  # Visa has 13, 16 or 19 digits
        (luhn_complete("900000000000000"), None),  # MII 9: national use, no payment brand
    ],
)
def test_the_brand_comes_from_the_iin_ranges_and_lengths(digits: str, brand: str | None) -> None:
    found = card_brand(digits)
    assert (found.name if found else None) == brand


def test_the_iin_table_expands_each_range_inclusively_to_prefixes_of_its_bounds_length() -> None:
    """The table the detector looks up (built once at import; built again here so that the builder itself is
    under test): both bounds of a range are in, the values just outside are not, every listed length is there
    and only those, and the first brand listed for a shared (length, prefix) keeps it."""
    from lambdas.shared import pan

    table = {key: brand.name for key, brand in pan._iin_table().items()}
    assert table[(16, "51")] == table[(16, "55")] == table[(16, "2221")] == table[(16, "2720")] == "Mastercard"
    assert (16, "2721") not in table and (16, "2220") not in table and (17, "51") not in table
    assert table[(16, "506099")] == table[(19, "506198")] == "Verve"
    assert (17, "506099") not in table  # Verve: 16, 18 or 19 digits
    assert [length for length in range(10, 22) if (length, "3528") in table] == [16, 17, 18, 19]
    assert [length for length in range(10, 22) if (length, "5018") in table] == list(range(12, 20))
    assert table[(15, "34")] == table[(15, "37")] == "American Express" and (15, "35") not in table
    assert table[(16, "65")] == "Discover"  # listed before RuPay's 65
    assert all(len(prefix) in (1, 2, 3, 4, 6) and prefix.isdigit() for _, prefix in table)
    assert pan._lengths(14, 19) == frozenset({14, 15, 16, 17, 18, 19})
    assert pan._one("34", "37") == (("34", "34"), ("37", "37"))


def test_a_luhn_invalid_number_is_not_a_card_number() -> None:
    assert not contains_pan("4111111111111112")
    assert not contains_pan("4111 1111 1111 1112")


# --- written forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "4111-1111-1111-1111",
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "4111\t1111\t1111\t1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111\u2009\u20091111\u30001111\u202f1111",
        "4111 - 1111 - 1111 - 1111",
        "4111\u20131111\u20131111\u20131111",
        "4111-1111 1111.1111",
        "3782 822463 10005",
        "3056 930902 5904",
        "６７９９ ９９０１ ００００ ００００ ０１９",
        "٤١١١ ١١١١ ١١١١ ١١١١",
        "۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱",
        "४१११११११११११११११",
        "⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹",
        "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
        "4\u200b1\u200c1\u200d1\u20601\ufeff1\u00ad1111111111",
        "4\ufe0f\u20e3111111111111111",
        "4１1１ 1111 1١11 ¹111",
        "\\u0034\\u0031\\u0031\\u0031\\u003111111111111",
        '{"description": "\\uff14\\uff11\\uff11\\uff11 1111 1111 1111"}',
        "4111\\/1111\\/1111\\/1111",
        "4111\\n1111\\n1111\\n1111",
        "4111111111111111.0",
        "x-4111111111111111.",
        "ref_4111111111111111",
        "(4111 1111 1111 1111)",
        "100 4111 1111 1111 1111 2026",
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        "41 11 11 11 11 11 11 11",
        "+4111 1111 1111 1111",
        "4111\uff3f1111\uff3f1111\uff3f1111",  # fullwidth low line (NFKC)
        "4111\u301c1111\u301c1111\u301c1111",  # wave dash (Pd)
        "4111          1111   1111 1111",
        "٤١١١٫١١١١٫١١١١٫١١١١",
    ],
)
def test_written_forms_a_human_reads_as_a_card_number_are_found(text: str) -> None:
    assert contains_pan(text), text
    cleaned = redact(text)
    assert not contains_pan(cleaned), cleaned
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        UUID_OF_THE_ISSUE,
        "deadbeef4111111111111111cafe",  # inside a hex token
        "a4111111111111111",
        "4111111111111111e3",
        "4.111111111111111e15",  # a float's text; the number itself is checked by refuse_pan
        "+4915123456789",  # E.164 phone number
        "0.4111111111111111",  # a decimal fraction
        "1234.567890123456",
        "4111111111111111123",  # 19 digits, not Luhn-valid: a longer number is another number
        "41111111111111110000",  # 20 digits
        "EE38 2200 2210 2014 5686",  # an IBAN (mod 97): 2200… would read as Mir
        "1732712345123456",  # a Unix timestamp in microseconds
        "2026-11-27T12:00:00.000Z",
        "112-4567890-1234567",
        "1,234,567,890,123,456",
        "",
        "1 2 3",
        "41111111111",
    ],
)
def test_identifiers_that_are_not_card_numbers_are_not_found(text: str) -> None:
    assert not contains_pan(text), text
    assert redact(text) == text


def test_a_card_number_inside_a_valid_looking_iban_shape_is_still_found_when_the_iban_is_invalid() -> None:
    assert contains_pan("EE00 4111 1111 1111 1111")


@pytest.mark.parametrize(
    ("value", "holds"),
    [
        (4111111111111111, True),
        (4111111111111111.0, True),
        (Decimal("4111111111111111"), True),
        (Decimal("4111111111111111.00"), True),
        (-4111111111111111, True),
        (4111111111111112, False),
        (1.5, False),
        (10**300, False),
        (float("nan"), False),
        (float("inf"), False),
        (Decimal("NaN"), False),
        (Decimal("1E+999999"), False),
    ],
)
def test_numbers_read_as_their_digits(value: int | float | Decimal, holds: bool) -> None:
    assert number_holds_pan(value) is holds


def test_numbers_and_keys_are_screened_and_the_path_never_shows_the_number() -> None:
    with pytest.raises(CardDataError):
        refuse_pan({"amount": 4111111111111111})
    with pytest.raises(CardDataError):
        refuse_pan({"amount": 4111111111111111.0})
    with pytest.raises(CardDataError) as refused:
        refuse_pan({"meta": {"4111 1111 1111 1111": "x"}})
    assert refused.value.field == "$.meta.[REDACTED-PAN]"
    refuse_pan({"amount": 100, "flag": True, "ratio": 1.5, "none": None, "id": UUID_OF_THE_ISSUE})


# --- properties ---------------------------------------------------------------------------------

brands = st.sampled_from(BRANDS)


@st.composite
def pans(draw: st.DrawFn) -> str:
    brand = draw(brands)
    low, high = draw(st.sampled_from(brand.iin_ranges))
    iin = str(draw(st.integers(int(low), int(high)))).zfill(len(low))
    length = draw(st.sampled_from(sorted(brand.lengths)))
    body = draw(st.text("0123456789", min_size=length - len(iin) - 1, max_size=length - len(iin) - 1))
    return luhn_complete(iin + body)


def grouped(pan: str, separator: str) -> str:
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


@given(
    pan=pans(),
    separator=st.sampled_from(["", " ", "-", ".", "  ", "\u00a0", "/"]),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    field=st.sampled_from(["reference", "description", "merchant_id", "nested"]),
)
def test_a_planted_pan_is_always_refused_and_never_echoed(
    pan: str, separator: str, before: str, after: str, field: str
) -> None:
    text = f"{before} {grouped(pan, separator)} {after}"
    document = {"reference": "r1", "description": "ok", "merchant_id": "m_abcdef", "nested": {"list": ["a"]}}
    if field == "nested":
        document["nested"] = {"list": ["a", text]}
    else:
        document[field] = text
    with pytest.raises(CardDataError) as refused:
        refuse_pan(document)
    shown = f"{refused.value} {refused.value.field} {refused.value.message}"
    assert pan not in reading_form(shown).replace(" ", "")
    cleaned = redact(text)
    assert not contains_pan(cleaned)
    assert pan not in reading_form(cleaned).replace(separator or " ", "")


@given(st.text())
def test_the_reading_form_with_origins_is_the_reading_form(text: str) -> None:
    view, starts, ends = _reading_form_with_origins(text)
    assert view == reading_form(text)
    assert len(starts) == len(ends) == len(view)
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends, strict=True))


@given(st.text(alphabet=st.sampled_from("4111 -.٤١５\u200b\\u0034ab+"), max_size=60))
def test_redaction_removes_exactly_what_is_found(text: str) -> None:
    spans = pan_spans(text)
    cleaned = redact(text)
    assert not contains_pan(cleaned)
    assert (cleaned == text) is (not spans)


# --- measured error rates -----------------------------------------------------------------------

SEPARATORS = [" ", "  ", "   ", "-", " - ", ".", "/", "_", "\t", "\u00a0", "\u2007", "\u2009", "\u202f", "\u3000"]
SEPARATORS += ["\u2010", "\u2013", "\u2014", "\u2212", "\uff0d", "\u30fb", "\u00b7", ",", ":", "|", "*", "\\", "'"]
DIGIT_ZEROS = [0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE, 0x1D7F6, 0x1040]
SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f"]
CONTEXTS = ["{}", "card {} please", "PAN:{}.", "({})", "r1,m_abcdef12,100,EUR,{}", '{{"description": "{}"}}']


def random_pan(rng: random.Random) -> str:
    brand = rng.choice(BRANDS)
    low, high = rng.choice(brand.iin_ranges)
    iin = str(rng.randint(int(low), int(high))).zfill(len(low))
    length = rng.choice(sorted(brand.lengths))
    body = length - len(iin) - 1
    return luhn_complete(iin + str(rng.randrange(10**body)).zfill(body))


def layout(rng: random.Random, pan: str) -> list[str]:
    n = len(pan)
    choices = [[k] * (n // k) + ([n % k] if n % k else []) for k in (4, 4, 4, 3, 2, 1)]
    choices += {15: [[4, 6, 5], [5, 5, 5]], 14: [[4, 6, 4]], 13: [[4, 3, 3, 3], [4, 4, 5]], 19: [[6, 13]]}.get(n, [])
    sizes, out, i = rng.choice(choices), [], 0
    for size in sizes:
        out.append(pan[i : i + size])
        i += size
    return out


def digit_form(rng: random.Random, digits: str, mixed: bool) -> str:
    def one(d: str, zero: int) -> str:
        return SUPERSCRIPTS[int(d)] if zero == -1 else chr(zero + int(d))

    zero = rng.choice([*DIGIT_ZEROS, -1])
    return "".join(one(d, rng.choice([*DIGIT_ZEROS, -1]) if mixed else zero) for d in digits)


def written(rng: random.Random, pan: str) -> str:
    """One way a human writes ``pan``: grouping, separators, digit forms, invisibles, escapes, context."""
    groups = [pan] if rng.random() < 0.25 else layout(rng, pan)
    kind = rng.random()
    if kind < 0.4:
        groups = [digit_form(rng, g, mixed=rng.random() < 0.3) for g in groups]
    if rng.random() < 0.7:
        sep = rng.choice(SEPARATORS)
        text = sep.join(groups)
    else:
        text = groups[0] + "".join(rng.choice(SEPARATORS) + g for g in groups[1:])
    if rng.random() < 0.2:
        text = "".join(c + (rng.choice(INVISIBLE) if c.isdigit() and rng.random() < 0.5 else "") for c in text)
    text = rng.choice(CONTEXTS).format(text)
    if rng.random() < 0.2:
        text = json.dumps(text, ensure_ascii=True)
    elif rng.random() < 0.1:
        text = "".join(json_escape(c) if c.isdigit() or c == "\\" else c for c in text)
    return text


def json_escape(ch: str) -> str:
    """``ch`` as a JSON ``\\uXXXX`` escape (a surrogate pair above the BMP)."""
    return json.dumps(ch, ensure_ascii=True)[1:-1] if ord(ch) > 0xFFFF or ch == "\\" else f"\\u{ord(ch):04x}"


def iban(rng: random.Random, country: str, bban_digits: int, letters: int = 0) -> str:
    bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(letters))
    bban += str(rng.randrange(10**bban_digits)).zfill(bban_digits)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    compact = f"{country}{check:02d}{bban}"
    return compact if rng.random() < 0.3 else " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def phone(rng: random.Random) -> str:
    def d(n: int) -> str:
        return str(rng.randrange(10**n)).zfill(n)

    forms: list[Callable[[], str]] = [
        lambda: f"+491{d(11)}",
        lambda: f"+49 15{d(1)} {d(8)}",
        lambda: f"+44 7{d(3)} {d(6)}",
        lambda: f"+1 ({d(3)}) {d(3)}-{d(4)}",
        lambda: f"+1-{d(3)}-{d(3)}-{d(4)}",
        lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"({d(3)}) {d(3)}-{d(4)}",
        lambda: f"0{d(3)} {d(7)}",
        lambda: f"+86 1{d(2)} {d(4)} {d(4)}",
        lambda: f"+{d(2)}{d(10)}",
    ]
    return rng.choice(forms)()


def non_card_identifiers(rng: random.Random) -> dict[str, list[str]]:
    """Identifiers a payment API meets every day, by kind."""
    now_s = 1_790_000_000
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    alnum = string.digits + string.ascii_letters
    instants = [rng.randint(946_684_800, 2_082_758_399) for _ in range(8000)]  # 2000-2035

    def ulid() -> str:
        ms = rng.randint(946_684_800_000, 2_082_758_399_000)
        head = "".join(crockford[(ms >> (5 * (9 - i))) & 31] for i in range(10))
        return head + "".join(rng.choice(crockford) for _ in range(16))

    def iso(seconds: int) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        fraction = rng.choice(["", f".{rng.randint(0, 999):03d}", f".{rng.randint(0, 999999):06d}"])
        fraction += rng.choice(["Z", "+00:00", "+0530", ""])
        return rng.choice([stamp + fraction, stamp.replace("T", " ") + fraction])

    def order() -> str:
        n = rng.randint
        return rng.choice(
            [
                f"ORD-{n(2000, 2035)}-{n(0, 999999):06d}",
                f"#{n(100000, 99999999)}",
                f"{n(100, 999)}-{n(0, 9999999):07d}-{n(0, 9999999):07d}",
                f"SO{n(10**7, 10**8 - 1)}",
                f"INV-{n(2000, 2035)}{n(1, 12):02d}-{n(0, 99999):05d}",
                f"{n(10**9, 10**10 - 1)}",
                f"PO {n(1000, 9999)}/{n(2000, 2035)}",
            ]
        )

    countries = [("DE", 18, 0), ("EE", 16, 0), ("AT", 16, 0), ("LT", 16, 0), ("KZ", 16, 0), ("XK", 16, 0)]
    countries += [("ES", 20, 0), ("PL", 24, 0), ("CH", 17, 0), ("BE", 12, 0), ("HU", 24, 0), ("SE", 20, 0)]
    countries += [("NL", 10, 4), ("GB", 14, 4), ("IE", 14, 4), ("FR", 23, 0), ("IT", 22, 1), ("PT", 21, 0)]
    return {
        "uuid4": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20000)],
        "hex": [f"{rng.getrandbits(4 * n):0{n}x}" for n in rng.choices([16, 24, 32, 40, 64], k=5000)],
        "base64": [base64.b64encode(rng.randbytes(rng.randint(12, 48))).decode() for _ in range(3000)],
        "base64url": [base64.urlsafe_b64encode(rng.randbytes(rng.randint(12, 48))).decode() for _ in range(3000)],
        "base62": ["".join(rng.choices(alnum, k=rng.choice([22, 27, 32, 43]))) for _ in range(3000)],
        "ulid": [ulid() for _ in range(3000)],
        "unix_s": [str(s) for s in instants[:2000]],
        "unix_ms": [str(s * 1000 + rng.randint(0, 999)) for s in instants[2000:4000]],
        "unix_us": [str(s * 10**6 + rng.randint(0, 10**6 - 1)) for s in instants[4000:6000]],
        "unix_ns": [str(s * 10**9 + rng.randint(0, 10**9 - 1)) for s in instants[6000:8000]],
        "iso_timestamp": [iso(rng.randint(now_s - 10**9, now_s + 3 * 10**8)) for _ in range(3000)],
        "order_number": [order() for _ in range(3000)],
        "iban": [iban(rng, *rng.choice(countries)) for _ in range(5000)],
        "phone": [phone(rng) for _ in range(5000)],
    }


def rate(found: Callable[[str], bool], texts: list[str]) -> tuple[int, float]:
    hits = sum(1 for t in texts if found(t))
    return hits, hits / len(texts)


def test_error_rates_over_generated_corpora() -> None:
    """Missed card numbers: 0 of 20,000 written forms. Identifiers taken for card numbers: ~0 (≤ 1 in 10,000)."""
    rng = random.Random(20261127)
    cards = [written(rng, random_pan(rng)) for _ in range(20000)]
    identifiers = non_card_identifiers(rng)
    # Identifiers also travel inside text: a description, a JSON field, a header value.
    in_context = [rng.choice(CONTEXTS).format(t) for kind in identifiers.values() for t in rng.sample(kind, 300)]
    started = time.perf_counter()
    missed, missed_rate = rate(lambda t: not contains_pan(t), cards)
    false = {kind: rate(contains_pan, texts) for kind, texts in identifiers.items()}
    false["in_context"] = rate(contains_pan, in_context)
    seconds = time.perf_counter() - started

    total = sum(len(t) for t in identifiers.values()) + len(in_context)
    false_hits = sum(hits for hits, _ in false.values())
    print(f"\ncard numbers missed: {missed}/{len(cards)} ({missed_rate:.4%})")
    for kind, (hits, share) in false.items():
        print(f"  {kind:>14}: {hits} taken for card numbers ({share:.4%})")
    print(f"identifiers taken for card numbers: {false_hits}/{total} ({false_hits / total:.4%}); {seconds:.2f} s")
    assert missed == 0, [t for t in cards if not contains_pan(t)][:10]
    assert false["uuid4"][0] == 0, [t for t in identifiers["uuid4"] if contains_pan(t)][:10]
    assert false_hits / total <= 1e-4, {k: [t for t in v if contains_pan(t)][:5] for k, v in identifiers.items()}
    # Every found card number is redacted away entirely.
    for text in cards[:1000]:
        assert not contains_pan(redact(text)), text


def test_the_batch_parser_and_the_log_redactor_decide_as_the_detector_does() -> None:
    """One detector: a batch line is refused, and a log line redacted, exactly when contains_pan finds a number."""
    rng = random.Random(10)
    identifiers = non_card_identifiers(rng)
    texts = [written(rng, random_pan(rng)) for _ in range(400)]
    texts += [t for kind in identifiers.values() for t in rng.sample(kind, 40)]
    texts = [t for t in texts if not any(c in t for c in ',"\r\n')]  # one CSV field each
    lines = ["reference,merchant_id,amount,currency,description"]
    lines += [f"r{i},m_abcdef12,100,EUR,{text}" for i, text in enumerate(texts)]
    items = list(BatchParser(BatchLimits(amount_limit=10**9)).parse(["\r\n".join(lines).encode()]))

    refused = {item.line for item in items if getattr(item, "code", None) == "CARD_DATA_REFUSED"}
    assert refused == {n for n, line in enumerate(lines[1:], start=2) if contains_pan(line)}
    assert {i + 2 for i, t in enumerate(texts) if contains_pan(t)} == refused
    assert 0 < len(refused) < len(texts)
    formatter = RedactingFormatter()
    for text in texts:
        record = logging.LogRecord("paygate", logging.INFO, __file__, 1, "seen", None, None)
        record.__dict__["text"] = text
        assert (json.loads(formatter.format(record))["text"] == text) is (not contains_pan(text)), text
