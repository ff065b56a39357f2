"""Batch CSV parser: streaming, never raises on bytes, per-line errors, round-trips accepted lines."""

from __future__ import annotations

import csv
import io

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
        again = parse((HEADER + "\n" + item.to_csv_line() + "\n").encode())
        assert len(again) == 1
        assert isinstance(again[0], BatchRow)
        assert (again[0].reference, again[0].amount, again[0].description) == (
            item.reference,
            item.amount,
            item.description,
        )
        assert again[0].to_csv_line() == item.to_csv_line()
