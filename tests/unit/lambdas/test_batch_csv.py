"""Batch CSV parser: streaming, never raises on bytes, per-line errors, round-trips accepted lines."""

from __future__ import annotations

import collections
import csv
import hashlib
import io
import itertools
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from contracts import BATCH_LINE, batch_columns, load_schema, validator
from lambdas.shared.batch_csv import BatchLimits, BatchParser, BatchRow, FileError, LineError
from lambdas.shared.money import CURRENCY_EXPONENTS
from lambdas.shared.pan import contains_pan

LIMITS = BatchLimits(amount_limit=100_000_000_000, max_bytes=1_000_000, max_lines=1_000, max_line_bytes=512)
HEADER = "reference,merchant_id,amount,currency,description"
PARSER = BatchParser(LIMITS)


def parse(data: bytes, parser: BatchParser = PARSER, chunk: int = 7) -> list[object]:
    return list(parser.parse(data[i : i + chunk] for i in range(0, len(data), chunk)))


def file(*lines: str, newline: str = "\n", bom: bool = False) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + newline.join((HEADER, *lines)).encode() + newline.encode()


def codes(items: list[object]) -> list[tuple[int | None, str]]:
    return [(i.line, i.code) for i in items if isinstance(i, LineError | FileError)]


def test_header_is_the_contract_column_order() -> None:
    assert ",".join(batch_columns()) == HEADER == PARSER.header


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_bom_and_either_line_end_are_accepted(newline: str, bom: bool) -> None:
    items = parse(file("r1,m_abcdef,100,USD,first", "r2,m_abcdef,5,JPY,", newline=newline, bom=bom))
    assert items == [
        BatchRow(2, "r1", "m_abcdef", 100, "USD", "first"),
        BatchRow(3, "r2", "m_abcdef", 5, "JPY", ""),
    ]


def test_each_bad_line_is_reported_with_its_number_and_reason() -> None:
    items = parse(
        file(
            "r1,m_abcdef,100,USD,ok",
            "r1,m_abcdef,100,USD,dup",
            "r3,m_abcdef,100,XXX,",
            "r4,m_abcdef,0,USD,",
            "r5,m_abcdef,1.50,USD,",
            "r6,m_abcdef,100,USD,card 4111 1111 1111 1111",
            "r7,m_abcdef,100,USD",
            "r8,m_abcdef,100000000001,USD,",
            "",
            'r9,m_abcdef,100,USD,"bad"quote"',
            "r10,bad merchant,100,USD,",
            "r11,m_abcdef,100,USD,tab\there",
            "r12,m_abcdef,100,USD," + "x" * 141,
            'r13,m_abcdef,100,USD,"quoted, with comma"',
        )
    )
    assert codes(items) == [
        (3, "DUPLICATE_REFERENCE"),
        (4, "UNSUPPORTED_CURRENCY"),
        (5, "INVALID_FIELD"),
        (6, "INVALID_FIELD"),
        (7, "CARD_DATA_REFUSED"),
        (8, "FIELD_COUNT"),
        (9, "AMOUNT_OVER_LIMIT"),
        (10, "EMPTY_LINE"),
        (11, "MALFORMED_CSV"),
        (12, "INVALID_FIELD"),
        (13, "CONTROL_CHARACTER"),
        (14, "INVALID_FIELD"),
    ]
    assert items[-1] == BatchRow(15, "r13", "m_abcdef", 100, "USD", "quoted, with comma")
    assert all("4111" not in i.message for i in items if isinstance(i, LineError))


def test_invalid_utf8_is_a_line_error() -> None:
    assert codes(parse(file() + b"r1,m_abcdef,100,USD,\xff\xfe\n")) == [(2, "INVALID_ENCODING")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "EMPTY_FILE"),
        (b"ref,merchant\n", "HEADER_MISMATCH"),
        (b"\xef\xbb\xbf\xef\xbb\xbf" + HEADER.encode() + b"\n", "HEADER_MISMATCH"),
    ],
)
def test_file_level_errors_stop_the_parse(data: bytes, code: str) -> None:
    items = parse(data)
    assert isinstance(items[-1], FileError)
    assert items[-1].code == code


def test_line_and_size_limits_are_enforced() -> None:
    small = BatchParser(BatchLimits(amount_limit=1000, max_bytes=10_000, max_lines=2, max_line_bytes=64))
    items = parse(file("a,m_abcdef,1,USD,", "b,m_abcdef,1,USD,", "c,m_abcdef,1,USD,"), small)
    assert codes(items) == [(4, "TOO_MANY_LINES")]
    too_big = file(*(f"r{i},m_abcdef,1,USD," for i in range(1000)))
    items = parse(too_big, BatchParser(BatchLimits(amount_limit=1000, max_bytes=1_000)), chunk=100)
    assert isinstance(items[-1], FileError)
    assert items[-1].code == "FILE_TOO_LARGE"


@pytest.mark.parametrize("chunk", [1, 5, 64, 10_000])
def test_an_over_long_line_is_reported_whatever_the_chunking(chunk: int) -> None:
    data = file("r1,m_abcdef,1,USD," + "y" * 600, "r2,m_abcdef,1,USD,ok")
    items = parse(data, chunk=chunk)
    assert codes(items) == [(2, "LINE_TOO_LONG")]
    assert items[-1] == BatchRow(3, "r2", "m_abcdef", 1, "USD", "ok")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans(), st.integers(1, 64))
def test_parser_never_raises_on_arbitrary_bytes(data: bytes, with_header: bool, chunk: int) -> None:
    prefix = (HEADER + "\n").encode() if with_header else b""
    items = parse(prefix + data, chunk=chunk)
    assert all(isinstance(i, BatchRow | LineError | FileError) for i in items)
    assert sum(isinstance(i, FileError) for i in items) <= 1
    assert not any(contains_pan(getattr(i, "message", "")) for i in items)


known_currency = st.sampled_from(sorted(CURRENCY_EXPONENTS))
line_schema = load_schema(BATCH_LINE)
schema_lines = from_schema(line_schema)


def _printable(row: dict[str, str]) -> bool:
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in row["description"])


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=25)
@given(st.lists(schema_lines.filter(_printable), min_size=1, max_size=4, unique_by=lambda r: r["reference"]), st.data())
def test_schema_valid_lines_are_accepted_and_re_serialize_to_the_same_values(rows, data) -> None:
    for row in rows:
        row["currency"] = data.draw(known_currency)
        assert validator(BATCH_LINE).is_valid(row)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(batch_columns())
    for row in rows:
        writer.writerow([row[c] for c in batch_columns()])
    items = parse(out.getvalue().encode(), chunk=data.draw(st.integers(1, 100)))
    for row, item in zip(rows, items, strict=True):
        if contains_pan(",".join(row.values())):
            assert isinstance(item, LineError)
            assert item.code == "CARD_DATA_REFUSED"
            continue
        if int(row["amount"]) > LIMITS.amount_limit:  # the contract fixes the format, configuration the limit
            assert isinstance(item, LineError)
            assert item.code == "AMOUNT_OVER_LIMIT"
            continue
        assert isinstance(item, BatchRow), item
        assert (item.reference, item.merchant_id, str(item.amount), item.currency, item.description) == tuple(
            row[c] for c in batch_columns()
        )
        again = parse((HEADER + "\n" + csv_line(item) + "\n").encode())
        assert len(again) == 1
        assert isinstance(again[0], BatchRow)
        assert (again[0].reference, again[0].amount, again[0].description) == (
            item.reference,
            item.amount,
            item.description,
        )
        assert csv_line(again[0]) == csv_line(item)


def csv_line(row: BatchRow) -> str:
    """``row`` written back as one CSV line (the csv module's quoting), without the line end."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        [row.reference, row.merchant_id, str(row.amount), row.currency, row.description]
    )
    return out.getvalue()


# --- amounts at the configured limit -------------------------------------------------------------


def test_an_amount_equal_to_the_limit_is_accepted_and_one_above_it_refused() -> None:
    parser = BatchParser(BatchLimits(amount_limit=5_000))
    items = parse(file("at,m_abcdef,5000,EUR,", "above,m_abcdef,5001,EUR,", "below,m_abcdef,4999,EUR,"), parser)
    assert items == [
        BatchRow(2, "at", "m_abcdef", 5_000, "EUR", ""),
        LineError(3, "AMOUNT_OVER_LIMIT", "amount is above the configured limit"),
        BatchRow(4, "below", "m_abcdef", 4_999, "EUR", ""),
    ]


def test_the_refusals_across_fields_tell_the_merchant_what_is_wrong() -> None:
    """What the batch status shows per refused line (never the line's content)."""
    lines = ("r1,m_abcdef,100,XXX,", "r2,m_abcdef,100000000001,USD,", "r3,m_abcdef,1,USD,", "r3,m_abcdef,2,USD,")
    items = parse(file(*lines))
    assert items == [
        LineError(2, "UNSUPPORTED_CURRENCY", "currency is not a supported ISO 4217 code"),
        LineError(3, "AMOUNT_OVER_LIMIT", "amount is above the configured limit"),
        BatchRow(4, "r3", "m_abcdef", 1, "USD", ""),
        LineError(5, "DUPLICATE_REFERENCE", "reference already used earlier in this file"),
    ]


def home_slot(reference: str, slots: int) -> int:
    """Where ReferenceSet's probe for ``reference`` starts in a table of ``slots`` slots (its 64-bit BLAKE2b
    fingerprint, low bit set so that no fingerprint is the empty slot's 0)."""
    return (int.from_bytes(hashlib.blake2b(reference.encode(), digest_size=8).digest()) | 1) % slots


def test_references_that_collide_in_the_duplicate_table_are_told_apart_and_their_repeats_found() -> None:
    """Open addressing under collisions: three references start at the table's last slot (the probe wraps to
    slots 0 and 1), a fourth starts at slot 1, taken by then; each is new once and a duplicate after."""
    parser = BatchParser(BatchLimits(amount_limit=100, max_lines=7))  # ReferenceSet(7): 16 slots
    last, one = ["ref-11", "ref-27", "ref-31"], "ref-1"
    assert [home_slot(r, 16) for r in (*last, one)] == [15, 15, 15, 1]  # the premise: they collide
    order = [*last, one, "ref-31", one, "ref-27"]
    items = parse(file(*(f"{r},m_abcdef,1,USD," for r in order)), parser)
    assert [(i.line, i.reference) if isinstance(i, BatchRow) else (i.line, i.code) for i in items] == [
        (2, "ref-11"),
        (3, "ref-27"),
        (4, "ref-31"),
        (5, "ref-1"),
        (6, "DUPLICATE_REFERENCE"),
        (7, "DUPLICATE_REFERENCE"),
        (8, "DUPLICATE_REFERENCE"),
    ]


# --- quoted fields never span lines ----------------------------------------------------------------

REPORTED = (
    b"reference,merchant_id,amount,currency,description\r\n"
    b'r1,m_abcdef12,100,EUR,"note:\r\n'
    b'r9,m_abcdef12,99999999,EUR,x"\r\n'
)
INSIDE_LINE_2 = "line is inside the quoted field opened on line 2 (a quoted field cannot span lines)"
UNTERMINATED = "a quoted field opens on this line and is not closed before the line ends"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 52, 53, 54, len(REPORTED)])
def test_the_reported_file_makes_no_payment_from_inside_the_quotes(chunk: int) -> None:
    assert parse(REPORTED, chunk=chunk) == [
        LineError(2, "UNTERMINATED_QUOTE", UNTERMINATED),
        LineError(3, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2),
    ]


@pytest.mark.parametrize("final_newline", [True, False])
def test_a_quote_that_never_closes_refuses_every_later_line_naming_where_it_opened(final_newline: bool) -> None:
    later = [f"r{i},m_abcdef,{i},EUR,fine" for i in range(3, 40)]
    data = file("r1,m_abcdef,1,EUR,ok", 'r2,m_abcdef,1,EUR,"never closed', *later)
    items = parse(data if final_newline else data.removesuffix(b"\n"))
    assert items[0] == BatchRow(2, "r1", "m_abcdef", 1, "EUR", "ok")
    assert items[1] == LineError(3, "UNTERMINATED_QUOTE", UNTERMINATED)
    opened_on_3 = "line is inside the quoted field opened on line 3 (a quoted field cannot span lines)"
    assert items[2:] == [LineError(n, "INSIDE_QUOTED_FIELD", opened_on_3) for n in range(4, 41)]


def test_a_never_closed_quote_does_not_buffer_the_rest_of_the_file() -> None:
    lines_after = 50_000  # 2.2 MB streamed after the quote opens, in chunks of 100 lines
    line = b"r,m_abcdef,1,EUR,inside the quote all along\n"

    def chunks() -> Iterator[bytes]:
        yield (HEADER + '\nr1,m_abcdef,1,EUR,"opens\n').encode()
        block = line * 100
        for _ in range(lines_after // 100):
            yield block

    parser = BatchParser(BatchLimits(amount_limit=1, max_bytes=10**9, max_lines=10**6))
    tracemalloc.start()
    try:
        counts = collections.Counter(item.code for item in parser.parse(chunks()) if isinstance(item, LineError))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts == {"UNTERMINATED_QUOTE": 1, "INSIDE_QUOTED_FIELD": lines_after}
    assert peak < 100_000  # a chunk or two (4.4 KB each) and the parser's state, never the file


def test_a_quote_closing_on_a_later_line_refuses_the_lines_up_to_it_and_parsing_resumes_after() -> None:
    items = parse(
        file(
            'r1,m_abcdef,1,EUR,"opens',
            "r2,m_abcdef,1,EUR,still inside",
            'r3,m_abcdef,1,EUR,closes" here',
            "r4,m_abcdef,1,EUR,after",
            'r5,m_abcdef,1,EUR,"opens again',
            'closes","and opens once more',
            'r7,m_abcdef,1,EUR,"""',
            "r8,m_abcdef,1,EUR,after again",
        )
    )
    opened_on = "line is inside the quoted field opened on line {} (a quoted field cannot span lines)"
    assert items == [
        LineError(2, "UNTERMINATED_QUOTE", UNTERMINATED),
        LineError(3, "INSIDE_QUOTED_FIELD", opened_on.format(2)),
        LineError(4, "INSIDE_QUOTED_FIELD", opened_on.format(2)),
        BatchRow(5, "r4", "m_abcdef", 1, "EUR", "after"),
        LineError(6, "UNTERMINATED_QUOTE", UNTERMINATED),
        LineError(7, "INSIDE_QUOTED_FIELD", opened_on.format(6)),
        LineError(8, "INSIDE_QUOTED_FIELD", opened_on.format(7)),  # the quote reopened on line 7
        BatchRow(9, "r8", "m_abcdef", 1, "EUR", "after again"),
    ]


def test_an_over_long_line_that_opens_a_quote_still_opens_it_whatever_the_chunking() -> None:
    small = BatchParser(BatchLimits(amount_limit=100, max_line_bytes=64))
    data = file('r1,m_abcdef,1,EUR,"' + "x" * 500, "r2,m_abcdef,1,EUR,inside", 'r3,m_abcdef,1,EUR,closes here"')
    expected = [
        LineError(2, "LINE_TOO_LONG", "line is longer than 64 bytes"),
        LineError(3, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2),
        LineError(4, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2),
    ]
    for chunk in (1, 10, 63, 64, 65, 100, len(data)):
        assert parse(data, small, chunk=chunk) == expected


def test_an_over_long_line_inside_a_quote_that_closes_it_and_opens_another_is_tracked_whatever_the_chunking() -> None:
    small = BatchParser(BatchLimits(amount_limit=100, max_line_bytes=64))
    data = file('r1,m_abcdef,1,EUR,"opens', 'closes",' + "y" * 200 + ',"reopens', "r3,m_abcdef,1,EUR,inside")
    expected = [
        LineError(2, "UNTERMINATED_QUOTE", UNTERMINATED),
        LineError(3, "LINE_TOO_LONG", "line is longer than 64 bytes"),
        LineError(4, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2.replace("line 2", "line 3")),
    ]
    for chunk in (1, 10, 64, 65, 100, len(data)):
        assert parse(data, small, chunk=chunk) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('r1,m_abcdef,1,EUR,x"', "a quote inside an unquoted field"),
        ('r1,m_abcdef,1,EUR,12" screen', "a quote inside an unquoted field"),
        ('r1,m_abcdef,1,EUR, "spaced"', "a quote inside an unquoted field"),
        ('r1,m_abcdef,1,EUR,"a"b', "text follows a closing quote"),
        ('r1,m_abcdef,1,EUR,"a" ', "text follows a closing quote"),
        ('"r1"x,m_abcdef,1,EUR,', "text follows a closing quote"),
    ],
)
def test_malformed_quotes_refuse_the_line_and_do_not_open_a_field(line: str, reason: str) -> None:
    items = parse(file(line, "r2,m_abcdef,1,EUR,next line"))
    assert [(i.line, i.code) for i in items[:1] if isinstance(i, LineError)] == [(2, "MALFORMED_CSV")]
    assert isinstance(items[0], LineError) and items[0].message.startswith(reason)
    assert items[1] == BatchRow(3, "r2", "m_abcdef", 1, "EUR", "next line")


@pytest.mark.parametrize(
    ("line", "description"),
    [
        ('r1,m_abcdef,1,EUR,"a, b, c"', "a, b, c"),
        ('r1,m_abcdef,1,EUR,"say ""hi"", then go"', 'say "hi", then go'),
        ('r1,m_abcdef,1,EUR,""', ""),
        ('r1,m_abcdef,1,EUR,""""', '"'),
        ('"r1","m_abcdef","1","EUR","quoted, all"', "quoted, all"),
    ],
)
def test_quoted_fields_may_hold_commas_and_doubled_quotes(line: str, description: str) -> None:
    assert parse(file(line)) == [BatchRow(2, "r1", "m_abcdef", 1, "EUR", description)]


# --- line ends and characters that break lines elsewhere ----------------------------------------


def test_a_file_with_cr_only_line_ends_is_refused_as_a_whole() -> None:
    items = parse(file("r1,m_abcdef,1,EUR,a", "r2,m_abcdef,1,EUR,b", newline="\r"))
    assert items == [
        FileError(
            "UNSUPPORTED_LINE_END", "lines must end with LF or CRLF; the first line holds a CR that does not end it"
        )
    ]


def test_a_lone_cr_is_not_a_line_end_and_refuses_its_line() -> None:
    items = parse(
        file("r1,m_abcdef,1,EUR,a\rr9,m_abcdef,99999999,EUR,b", 'r2,m_abcdef,1,EUR,"x\ry"', "r3,m_abcdef,1,EUR,ok")
    )
    reason = "line contains a CR that does not end it (lines end with LF or CRLF)"
    assert items == [
        LineError(2, "CONTROL_CHARACTER", reason),
        LineError(3, "CONTROL_CHARACTER", reason),
        BatchRow(4, "r3", "m_abcdef", 1, "EUR", "ok"),
    ]


def test_a_quote_after_a_lone_cr_opens_a_field_as_csv_readers_see_it() -> None:
    # Python's csv module ends a record at a lone CR, so '"x' after it opens a quoted field there.
    items = parse(file('r1,m_abcdef,1,EUR,a\r"x', "r9,m_abcdef,99999999,EUR,b", 'y"', "r3,m_abcdef,1,EUR,ok"))
    assert items == [
        LineError(2, "UNTERMINATED_QUOTE", UNTERMINATED),
        LineError(3, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2),
        LineError(4, "INSIDE_QUOTED_FIELD", INSIDE_LINE_2),
        BatchRow(5, "r3", "m_abcdef", 1, "EUR", "ok"),
    ]
    assert [
        len(r) for r in csv.reader(io.StringIO(file('r1,m_abcdef,1,EUR,a\r"x', "r9,x", 'y"').decode(), newline=""))
    ] == [
        5,
        5,
        1,
    ]


LINE_BREAKERS = sorted(
    chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and len(f"a{chr(c)}b".splitlines()) == 2
)


def test_every_character_str_splitlines_breaks_at_is_refused_inside_a_line() -> None:
    breakers = [c for c in LINE_BREAKERS if c != "\n"]
    assert {"\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"} == set(breakers)
    lines = [f'r{i},m_abcdef,1,EUR,"before{c}after"' for i, c in enumerate(breakers)]
    items = parse(file(*lines, "ok,m_abcdef,1,EUR,fine"))
    assert [(i.line, i.code) for i in items if isinstance(i, LineError)] == [
        (n, "CONTROL_CHARACTER") for n in range(2, 2 + len(breakers))
    ]
    assert items[-1] == BatchRow(2 + len(breakers), "ok", "m_abcdef", 1, "EUR", "fine")


def test_a_byte_order_mark_is_allowed_only_at_the_start_of_the_file() -> None:
    concatenated = file("r1,m_abcdef,1,EUR,a", bom=True) + file("r2,m_abcdef,1,EUR,b", bom=True)
    items = parse(concatenated + "r3,m_abcdef,1,EUR,\ufeffinside\n".encode())
    assert items == [
        BatchRow(2, "r1", "m_abcdef", 1, "EUR", "a"),
        LineError(3, "CONTROL_CHARACTER", "line contains a byte order mark (allowed only at the start of the file)"),
        BatchRow(4, "r2", "m_abcdef", 1, "EUR", "b"),
        LineError(5, "CONTROL_CHARACTER", "line contains a byte order mark (allowed only at the start of the file)"),
    ]


def test_nul_bytes_refuse_their_line_and_do_not_change_the_quote_state() -> None:
    items = parse(file("r1,m_abcdef,1,EUR,a\0b", 'r2,m_abcdef,1,EUR,"\0', '\0"', 'r4,m_abcdef,1,EUR,\0"x\0'))
    assert [(i.line, i.code) for i in items if isinstance(i, LineError)] == [
        (2, "CONTROL_CHARACTER"),
        (3, "UNTERMINATED_QUOTE"),
        (4, "INSIDE_QUOTED_FIELD"),
        (5, "CONTROL_CHARACTER"),
    ]


def test_the_contract_and_the_parser_refuse_the_same_description_characters() -> None:
    candidates = [chr(c) for c in (*range(0x3000), 0xFEFF, 0xFFFE, 0x1F600, 0x10FFFF) if chr(c) != "\n"]
    lines = [f'r{i},m_abcdef,1,EUR,"{c.replace(chr(34), 2 * chr(34))}"' for i, c in enumerate(candidates)]
    roomy = BatchParser(BatchLimits(amount_limit=1, max_lines=len(candidates)))
    items = parse(file(*lines), roomy, chunk=4096)
    base = {"reference": "r", "merchant_id": "m_abcdef", "amount": "1", "currency": "EUR"}
    for character, item in zip(candidates, items, strict=True):
        valid = validator(BATCH_LINE).is_valid({**base, "description": character})
        assert isinstance(item, BatchRow) == valid, (hex(ord(character)), item)


# --- properties: chunking, the quote state, the fast path ------------------------------------------

TOKENS = [
    "r1", "m_abcdef", "100", "EUR", "ok", "a b", ",", ",", '"', '""', "\n", "\n", "\r\n", "\r", "\0",
    "\u2028", "\x85", "\ufeff", "é", "4111 1111 1111 1111", "x" * 30,
]  # fmt: skip


@st.composite
def batch_files(draw: st.DrawFn) -> bytes:
    body = "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=80)))
    raw = (HEADER + "\n" + body).encode()
    if draw(st.booleans()):
        raw += draw(st.binary(max_size=4))  # invalid UTF-8 too
    return raw


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=300)
@given(batch_files(), st.lists(st.integers(0, 10_000), max_size=12))
def test_chunking_never_changes_the_result(data: bytes, cuts: list[int]) -> None:
    small = BatchParser(BatchLimits(amount_limit=10**6, max_line_bytes=48))
    whole = list(small.parse([data]))
    assert list(small.parse(split_at(data, cuts))) == whole
    assert list(small.parse([data[i : i + 1] for i in range(len(data))])) == whole


@pytest.mark.parametrize("ending", [b"\r\r\n", b"\r\n", b"x\r\n", b"\n"])
def test_a_line_at_the_length_limit_with_its_line_end_is_judged_alike_whatever_the_chunking(ending: bytes) -> None:
    """Regression (found by the chunking property): 48 bytes + CR CR LF was LINE_TOO_LONG whole and
    FIELD_COUNT when fed byte by byte, because the streamed prefix lost the byte the CR removal needed."""
    small = BatchParser(BatchLimits(amount_limit=10**6, max_line_bytes=48))
    data = HEADER.encode() + b"\nr1100100100100100," + b"x" * 30 + ending
    whole = list(small.parse([data]))
    assert list(small.parse([data[i : i + 1] for i in range(len(data))])) == whole
    too_long = ending in (b"\r\r\n", b"x\r\n")
    assert (whole[0].code == "LINE_TOO_LONG") is too_long, whole


def csv_inside_quotes_before(text: str, offset: int) -> bool:
    """Whether Python's csv module is inside a quoted field at ``offset`` (just after an LF): a marker put
    there starts a record of its own unless it lands inside a quoted field."""
    records = list(csv.reader(io.StringIO(text[:offset] + "\x01", newline="")))
    return records[-1] != ["\x01"]


@settings(max_examples=400)
@given(st.text(st.sampled_from(["a", ",", '"', "\r", "\n"]), max_size=60))
def test_the_quote_state_of_every_line_is_the_one_pythons_csv_module_reads(body: str) -> None:
    text = HEADER + "\n" + body
    items = parse(text.encode())
    starts = [0, *(i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < len(text))]
    assert len(items) == len(starts) - 1  # one result per data line (the header is line 1)
    for item, offset in zip(items, starts[1:], strict=True):
        inside = csv_inside_quotes_before(text, offset)
        assert (isinstance(item, LineError) and item.code == "INSIDE_QUOTED_FIELD") == inside, (item, offset)


field_text = st.text(
    st.sampled_from(["a", "Z", "0", "9", "_", "m", ",", '"', " ", "é", "\t", "\u2028", "-"]), max_size=8
)
valid_values = [
    st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
    st.from_regex(r"m_[a-z0-9]{6,32}", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{0,11}", fullmatch=True),
    st.sampled_from(["EUR", "JPY", "USD", "XXX", "eur"]),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=150),
]


@st.composite
def near_valid_lines(draw: st.DrawFn) -> str:
    """Lines of valid fields (each maybe quoted), some with one field, separator or ending broken."""
    out = []
    broken = draw(st.sampled_from([None, None, *range(5)]))
    for index, values in enumerate(valid_values):
        value = draw(field_text if index == broken else values)
        quoted = draw(st.sampled_from([False, False, True]))
        out.append('"' + value.replace('"', '""') + '"' if quoted else value)
    separator = draw(st.sampled_from([",", ",", ",", ",", ";"]))
    return separator.join(out) + draw(st.sampled_from(["", "", "", "", ",", ",x", '"']))


@settings(max_examples=500)
@given(near_valid_lines())
def test_any_line_the_fast_path_accepts_the_field_by_field_path_accepts_identically(text: str) -> None:
    fast = PARSER.fast_fields(text)
    slow = PARSER.fields(2, text)
    if fast is not None:
        assert slow == fast
    if isinstance(slow, tuple):  # and what the field-by-field path reads, Python's csv module reads too
        assert next(csv.reader([text], strict=True)) == list(slow)


def test_a_contract_without_one_refused_character_class_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = load_schema(BATCH_LINE)
    del schema["properties"]["description"]["not"]
    monkeypatch.setattr("lambdas.shared.batch_csv.load_schema", lambda name: schema)
    with pytest.raises(ValueError, match="expected one column refusing a character class"):
        BatchParser(LIMITS)
