"""Streaming batch CSV parser: bytes in, rows or per-line errors out; memory does not grow with the file.

Format (contracts/schemas/batch_line.schema.json): UTF-8 with or without BOM, a header line naming
the columns in order, then **one record per physical line**. Lines end with LF or CRLF; a CR that
does not end a line is refused (Python's csv module and some editors take it for a line break).
Fields follow RFC 4180 within a line: a field may be quoted (``"a, b"``; a quote inside it is
doubled, ``"say ""hi"" now"``); a quote inside an unquoted field (``a"b``) and text after a closing
quote (``"a"b``) make the line ``MALFORMED_CSV``.

**A quoted field never spans lines.** RFC 4180 would let a line break inside quotes continue the
record on the next line; here the line whose quoted field is still open at its end is refused
(``UNTERMINATED_QUOTE``), and so is every following line until that field closes
(``INSIDE_QUOTED_FIELD``, naming the line the quote opened on): no record is ever made from text
inside a quoted field, and every error carries its physical line number (the header is line 1).
The quote state is tracked across lines with the RFC 4180 tokenizer (the states of Python's csv
module, which reads the same quotes the same way), in O(1) memory: a quote that never closes
refuses the rest of the file line by line without buffering it. Why not multi-line records: a
description may not hold a line break anyway (contract), so such a record could never be accepted,
and one record per line keeps accepted + refused = data lines.

Field rules are compiled from the same contract. The parser never raises on input: bad bytes become
errors. Besides the quote state, duplicate detection is the only state kept across lines: a
fixed-capacity table of 64-bit reference fingerprints sized from ``max_lines`` (pages mapped
lazily), so its memory is bounded whatever the file.
"""

from __future__ import annotations

import hashlib
import mmap
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from contracts import BATCH_LINE, load_schema
from lambdas.shared.money import CURRENCY_EXPONENTS
from lambdas.shared.pan import contains_pan

BOM = b"\xef\xbb\xbf"
_CHARACTER_CLASS = re.compile(r"\[[^\[\]]+\]")
_CONTROL_REASON = "line contains a control character"
_FORBIDDEN_REASONS = {
    "\r": "line contains a CR that does not end it (lines end with LF or CRLF)",
    "\x85": "line contains a line separator (U+0085)",
    "\u2028": "line contains a line separator (U+2028)",
    "\u2029": "line contains a paragraph separator (U+2029)",
    "\ufeff": "line contains a byte order mark (allowed only at the start of the file)",
}


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Configured bounds of one batch file."""

    amount_limit: int
    max_bytes: int = 200 * 1024 * 1024
    max_lines: int = 1_000_000
    max_line_bytes: int = 2048


class ReferenceSet:
    """Fixed-capacity open-addressing set of 64-bit BLAKE2b fingerprints (8 bytes a slot, half full at most).

    Two different references share a fingerprint with probability ~n^2/2^65 (about 3e-8 for a
    million lines): such a line would be reported as a duplicate, never silently accepted twice.
    """

    def __init__(self, max_items: int) -> None:
        capacity = 1 << max(4, (2 * max_items).bit_length())
        # An anonymous mapping is zero-filled lazily by the OS: creating the table costs nothing up
        # front and memory grows only with the slots touched, bounded by max_items.
        self._table = memoryview(mmap.mmap(-1, 8 * capacity)).cast("Q")
        self._mask = capacity - 1

    def add(self, reference: str) -> bool:
        """Record ``reference``; False when it was already there."""
        fingerprint = int.from_bytes(hashlib.blake2b(reference.encode(), digest_size=8).digest()) | 1
        table, mask = self._table, self._mask
        slot = fingerprint & mask
        while True:
            held = table[slot]
            if held == 0:
                table[slot] = fingerprint
                return True
            if held == fingerprint:
                return False
            slot = (slot + 1) & mask


@dataclass(frozen=True, slots=True)
class BatchRow:
    """An accepted data line (``line`` counts the header as line 1)."""

    line: int
    reference: str
    merchant_id: str
    amount: int
    currency: str
    description: str


@dataclass(frozen=True, slots=True)
class LineError:
    """A refused data line; ``message`` never repeats the line's content."""

    line: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FileError:
    """The whole file is refused; parsing stops here."""

    code: str
    message: str
    line: int | None = None


Item = BatchRow | LineError | FileError


def file_too_large(limits: BatchLimits) -> FileError:
    """The refusal of a file over ``limits.max_bytes``: the same code and text whether the object's size in the
    S3 event or the bytes read while streaming showed it."""
    return FileError("FILE_TOO_LARGE", f"file is larger than {limits.max_bytes} bytes")


# One field of a line, RFC 4180: quoted (a quote inside doubled) or unquoted (no quote, no comma).
_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"]*)')


def _split(text: str) -> list[str] | str:
    """The fields of one line with quotes (RFC 4180 within a line), or why it is malformed."""
    fields: list[str] = []
    position, end = 0, len(text)
    while True:
        match = _FIELD.match(text, position)
        assert match is not None  # the unquoted alternative matches the empty string
        quoted, plain = match.groups()
        fields.append(plain if quoted is None else quoted.replace('""', '"'))
        position = match.end()
        if position == end:
            return fields
        if text[position] == ",":
            position += 1
        elif quoted is not None:
            return "text follows a closing quote (quote the whole field, double a quote inside it)"
        elif plain:
            return "a quote inside an unquoted field (quote the whole field, double a quote inside it)"
        else:
            return "a quoted field is not closed on its line"


def _quote_error(number: int, open_at_start: int) -> LineError:
    if open_at_start:
        return LineError(
            number,
            "INSIDE_QUOTED_FIELD",
            f"line is inside the quoted field opened on line {open_at_start} (a quoted field cannot span lines)",
        )
    return LineError(
        number, "UNTERMINATED_QUOTE", "a quoted field opens on this line and is not closed before the line ends"
    )


# States of the RFC 4180 tokenizer, named as in Python's csv module (Modules/_csv.c). Only the quote
# state matters across lines: a line starts in START_FIELD, or in IN_QUOTED_FIELD when a quoted field
# was left open by an earlier line.
START_FIELD, IN_FIELD, IN_QUOTED_FIELD, QUOTE_IN_QUOTED_FIELD = range(4)
_QUOTE, _COMMA, _CR = 0x22, 0x2C, 0x0D
_UNQUOTED_FIELD_END = re.compile(rb"[,\r]")
# A line the tokenizer, started in START_FIELD, leaves outside quotes (the same states in one regex, so
# a line with quotes costs one match): fields separated by comma or CR, each unquoted (no quote first)
# or quoted, a quote inside doubled, then (malformed) text not starting with a quote.
_TOKENIZED_FIELD = rb'(?:"(?:[^"]|"")*"(?:[^",\r][^,\r]*)?|[^",\r][^,\r]*)?'
_CLOSED_LINE = re.compile(rb"(?:%s[,\r])*%s" % (_TOKENIZED_FIELD, _TOKENIZED_FIELD)).fullmatch


def _scan(data: bytes, state: int) -> tuple[int, bool]:
    """Run the tokenizer over ``data`` (no LF in it) from ``state``: the state after it, and whether a
    quoted field opened in it.

    Bytes, not text: in UTF-8 the quote, comma and CR bytes never occur inside a multi-byte character,
    so this is exact whatever the encoding errors, and it resumes anywhere (chunk boundaries). Outside
    quotes a CR separates fields as Python's csv module does (it ends the record there), so the quote
    state agrees with that module's on every input, a lone CR included; such a line is refused anyway.
    """
    opened = False
    position, end = 0, len(data)
    while position < end:
        if state == IN_QUOTED_FIELD:
            position = data.find(b'"', position)
            if position < 0:
                return state, opened
            position += 1
            state = QUOTE_IN_QUOTED_FIELD
        elif state == START_FIELD:
            if data[position] == _QUOTE:
                position += 1
                state = IN_QUOTED_FIELD
                opened = True
            else:
                state = IN_FIELD
        elif state == IN_FIELD:
            found = _UNQUOTED_FIELD_END.search(data, position)
            if found is None:
                return state, opened
            position = found.end()
            state = START_FIELD
        else:  # QUOTE_IN_QUOTED_FIELD: a doubled quote, the field's end, or (malformed) more text
            byte = data[position]
            if byte == _QUOTE:
                position += 1
                state = IN_QUOTED_FIELD
            elif byte in (_COMMA, _CR):
                position += 1
                state = START_FIELD
            else:
                state = IN_FIELD
    return state, opened


@dataclass(frozen=True, slots=True)
class _QuotedLine:
    """A physical line that starts or ends inside a quoted field (line numbers; 0 = not inside)."""

    raw: bytes
    open_at_start: int  # the line the quoted field open when this line starts was opened on
    open_at_end: int  # the line the quoted field still open when this line ends was opened on


class _PhysicalLines:
    """Splits byte chunks into physical lines on LF (a preceding CR is removed later), tracks the quote
    state across them, and enforces the size limits.

    A line that starts or ends inside a quoted field comes as a :class:`_QuotedLine`, every other line
    as its bytes. A line longer than ``max_line_bytes`` that does not end in the chunk it started in
    comes as its first ``max_line_bytes + 2`` bytes: the rest streams past through the tokenizer only
    (memory stays bounded, the quote state stays exact). Of a line that long only the length is looked
    at, and of the header its first ``max_line_bytes + 1`` bytes, so the chunking never changes a result.
    """

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self.number = 0  # lines finished so far
        self.open_since = 0  # the line the quoted field open at the current position was opened on (0: none)

    def split(self, chunks: Iterable[bytes]) -> Iterator[bytes | _QuotedLine | FileError]:
        limit = self.limits.max_line_bytes
        buffer = b""
        total = 0
        long_prefix: bytes | None = None  # the start of an over-long line while its rest streams past
        long_state = START_FIELD
        long_opened = False
        for chunk in chunks:
            total += len(chunk)
            if total > self.limits.max_bytes:
                yield file_too_large(self.limits)
                return
            if long_prefix is not None:
                end = chunk.find(b"\n")
                long_state, opened = _scan(chunk if end < 0 else chunk[:end], long_state)
                long_opened |= opened
                if end < 0:
                    continue
                yield self._ended(long_prefix, long_state, long_opened)
                long_prefix = None
                chunk = chunk[end + 1 :]
            buffer += chunk
            cut = buffer.rfind(b"\n")
            if cut >= 0:
                if self.open_since or buffer.find(b'"', 0, cut) >= 0:
                    yield from self._complete(buffer[:cut])
                else:  # the common case: no quote in these lines, none open before them
                    parts = buffer[:cut].split(b"\n")
                    self.number += len(parts)
                    yield from parts
                buffer = buffer[cut + 1 :]
            # limit + 1: a line of exactly ``limit`` bytes may still hold the CR of its CRLF here; the prefix
            # keeps one byte more than the limit after that CR is removed, as the whole line would.
            if len(buffer) > limit + 1:
                long_prefix = buffer[: limit + 2]
                long_state, long_opened = _scan(buffer, IN_QUOTED_FIELD if self.open_since else START_FIELD)
                buffer = b""
        if long_prefix is not None:
            yield self._ended(long_prefix, long_state, long_opened)
        elif buffer:
            yield self._line(buffer)

    def _complete(self, region: bytes) -> Iterator[bytes | _QuotedLine]:
        """The lines of ``region`` (LF-separated, each complete): runs without a quote outside quotes in
        bulk, the others one by one."""
        position, size = 0, len(region)
        while position <= size:
            if not self.open_since:
                quote = region.find(b'"', position)
                if quote < 0:
                    parts = region[position:].split(b"\n")
                    self.number += len(parts)
                    yield from parts
                    return
                before = region.rfind(b"\n", position, quote)
                if before >= 0:
                    parts = region[position:before].split(b"\n")
                    self.number += len(parts)
                    yield from parts
                    position = before + 1
            end = region.find(b"\n", position)
            end = size if end < 0 else end
            yield self._line(region[position:end])
            position = end + 1

    def _line(self, part: bytes) -> bytes | _QuotedLine:
        """One complete line that may hold a quote or start inside one."""
        if not self.open_since:
            self.number += 1
            if b'"' not in part or _CLOSED_LINE(part) is not None:
                return part
            self.open_since = self.number  # a quoted field opens here and is still open at the line end
            return _QuotedLine(part, 0, self.number)
        state, opened = _scan(part, IN_QUOTED_FIELD)
        return self._ended(part, state, opened)

    def _ended(self, raw: bytes, state: int, opened: bool) -> bytes | _QuotedLine:
        """The next line as it is yielded, given the tokenizer's state at its end."""
        self.number += 1
        open_at_start = self.open_since
        self.open_since = (self.number if opened else open_at_start) if state == IN_QUOTED_FIELD else 0
        if open_at_start or self.open_since:
            return _QuotedLine(raw, open_at_start, self.open_since)
        return raw


class BatchParser:
    """Parses one batch file; field rules come from the batch_line contract.

    ``merchant_id``: the merchant the file belongs to (its folder, lambdas/shared/merchants.py): a line naming
    another merchant is refused (MERCHANT_MISMATCH, with its line number). None: lines are not held to one.
    """

    def __init__(self, limits: BatchLimits, *, merchant_id: str | None = None) -> None:
        schema = load_schema(BATCH_LINE)
        self.limits = limits
        self.merchant_id = merchant_id
        self.columns: tuple[str, ...] = tuple(schema["x-csv-columns"])
        self.header = ",".join(self.columns)
        props = schema["properties"]
        self._checks = [
            (
                index,
                name,
                re.compile(props[name]["pattern"]).search if "pattern" in props[name] else None,
                props[name].get("maxLength"),
            )
            for index, name in enumerate(self.columns)
        ]
        # The characters no field may hold (the free-text column's "not" class; the other columns only
        # take ASCII letters, digits and punctuation), refused for the whole line with a precise reason.
        forbidden = [props[name]["not"]["pattern"] for name in self.columns if "not" in props[name]]
        if len(forbidden) != 1 or not _CHARACTER_CLASS.fullmatch(forbidden[0]):
            raise ValueError("batch_line: expected one column refusing a character class ('not': {'pattern': '[...]'})")
        self._forbidden = re.compile(forbidden[0]).search
        # Fast paths for the common lines (every field valid; no quote, or only the free text quoted
        # without a quote inside), built from the same rules; anything they do not match goes through
        # the field-by-field checks for a precise error.
        fields, quoted = [], []
        for name in self.columns:
            rule = props[name]
            if "pattern" in rule:
                fields.append(f"({rule['pattern'].removeprefix('^').removesuffix('$')})")
                quoted.append(fields[-1])
            else:
                characters = f"{forbidden[0][1:-1]}]{{0,{rule.get('maxLength', 10_000)}}}"
                fields.append(f'([^,"{characters})')
                quoted.append(f'"([^"{characters})"')
        self._fast = re.compile(",".join(fields)).fullmatch
        self._fast_quoted = re.compile(",".join(quoted)).fullmatch

    def parse(self, chunks: Iterable[bytes]) -> Iterator[Item]:
        """Rows and line errors in file order, one per data line (line numbers are physical lines, the
        header is line 1); a FileError ends the stream."""
        lines = _PhysicalLines(self.limits).split(chunks)
        first = next(lines, None)
        refused = FileError("EMPTY_FILE", "the file is empty") if first is None else self._header(first)
        if refused is not None:
            yield refused
            return
        seen = ReferenceSet(self.limits.max_lines)
        last = self.limits.max_lines + 1
        check = self._line
        number = 1
        for line in lines:
            number += 1
            if line.__class__ is bytes:
                if number <= last:
                    yield check(number, line.removesuffix(b"\r"), seen)
                    continue
            elif isinstance(line, _QuotedLine):
                if number <= last:
                    raw = line.raw.removesuffix(b"\r")
                    yield check(number, raw, seen, line.open_at_start, line.open_at_end)
                    continue
            else:
                assert isinstance(line, FileError)
                yield line
                return
            yield FileError("TOO_MANY_LINES", f"file has more than {self.limits.max_lines} data lines", line=number)
            return

    def _header(self, line: bytes | _QuotedLine | FileError) -> FileError | None:
        if isinstance(line, FileError):
            return line
        raw = line.raw if isinstance(line, _QuotedLine) else line
        # An over-long line may come whole or as its start (chunking): look at the same bytes either way.
        header = raw[: self.limits.max_line_bytes + 1].removeprefix(BOM).removesuffix(b"\r")
        if header == self.header.encode():
            return None
        if b"\r" in header:
            return FileError(
                "UNSUPPORTED_LINE_END", "lines must end with LF or CRLF; the first line holds a CR that does not end it"
            )
        return FileError("HEADER_MISMATCH", f"the first line must be: {self.header}", line=1)

    def _line(
        self, number: int, raw: bytes, seen: ReferenceSet, open_at_start: int = 0, open_at_end: int = 0
    ) -> BatchRow | LineError:
        if len(raw) > self.limits.max_line_bytes:
            return LineError(number, "LINE_TOO_LONG", f"line is longer than {self.limits.max_line_bytes} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return LineError(number, "INVALID_ENCODING", "line is not valid UTF-8")
        if self._holds_pan(text):
            return LineError(number, "CARD_DATA_REFUSED", "line contains a card number; use payment method tokens")
        if open_at_start or open_at_end:
            return _quote_error(number, open_at_start)
        fast = self.fast_fields(text)
        if fast is not None:
            return self._row(number, fast, seen)
        fields = self.fields(number, text)
        if isinstance(fields, LineError):
            return fields
        return self._row(number, fields, seen)

    def fast_fields(self, text: str) -> tuple[str, ...] | None:
        """The fields of a line one of the fast paths accepts, else None (``text``: one line, no line end)."""
        fast = self._fast(text)
        if fast is None and '"' in text:
            fast = self._fast_quoted(text)
        return None if fast is None else fast.groups()

    def fields(self, number: int, text: str) -> tuple[str, ...] | LineError:
        """The field-by-field path: the line's fields (RFC 4180 within the line) checked against the
        contract one by one, or the first reason it is refused. ``text`` is one line without its line end."""
        if not text:
            return LineError(number, "EMPTY_LINE", "line is empty")
        bad = self._forbidden(text)
        if bad is not None:
            return LineError(number, "CONTROL_CHARACTER", _FORBIDDEN_REASONS.get(bad.group(), _CONTROL_REASON))
        fields = _split(text) if '"' in text else text.split(",")
        if isinstance(fields, str):
            return LineError(number, "MALFORMED_CSV", fields)
        if len(fields) != len(self.columns):
            return LineError(number, "FIELD_COUNT", f"line has {len(fields)} fields, expected {len(self.columns)}")
        for index, name, search, limit in self._checks:
            value = fields[index]
            if search is not None and search(value) is None:
                return LineError(number, "INVALID_FIELD", f"{name} is not valid")
            if limit is not None and len(value) > limit:
                return LineError(number, "INVALID_FIELD", f"{name} is longer than {limit} characters")
        return tuple(fields)

    @staticmethod
    def _holds_pan(text: str) -> bool:
        return contains_pan(text)

    def _row(self, number: int, fields: Sequence[str], seen: ReferenceSet) -> BatchRow | LineError:
        """Rules across fields: the file's merchant, known currency, amount within the limit, reference unique in
        the file (a refused line does not use up its reference)."""
        reference, merchant_id, amount_text, currency, description = fields
        if self.merchant_id is not None and merchant_id != self.merchant_id:
            return LineError(number, "MERCHANT_MISMATCH", "merchant_id is not the merchant of the file's folder")
        if currency not in CURRENCY_EXPONENTS:
            return LineError(number, "UNSUPPORTED_CURRENCY", "currency is not a supported ISO 4217 code")
        amount = int(amount_text)
        if amount > self.limits.amount_limit:
            return LineError(number, "AMOUNT_OVER_LIMIT", "amount is above the configured limit")
        if not seen.add(reference):
            return LineError(number, "DUPLICATE_REFERENCE", "reference already used earlier in this file")
        return BatchRow(number, reference, merchant_id, amount, currency, description)
