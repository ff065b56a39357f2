"""Streaming batch CSV parser: bytes in, rows or per-line errors out; memory does not grow with the file.

Format (contracts/schemas/batch_line.schema.json): UTF-8 with or without BOM, CRLF or LF line ends,
a header line naming the columns in order, one record per line (no quoted newlines). Field rules
are compiled from the same contract. The parser never raises on input: bad bytes become errors.
Duplicate detection is the only state kept across lines: a fixed-capacity table of 64-bit reference
fingerprints sized from ``max_lines`` (pages mapped lazily), so its memory is bounded whatever the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import mmap
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from contracts import BATCH_LINE, load_schema
from lambdas.shared.money import CURRENCY_EXPONENTS
from lambdas.shared.pan import contains_pan

BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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

    def to_csv_line(self) -> str:
        """This row as one CSV line without the line end (what the parser reads back to the same values)."""
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(
            [self.reference, self.merchant_id, str(self.amount), self.currency, self.description]
        )
        return out.getvalue()


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


def _lines(chunks: Iterable[bytes], limits: BatchLimits) -> Iterator[bytes | FileError]:
    """Split byte chunks on LF (a preceding CR is removed later); enforce the size limits.

    A line longer than ``max_line_bytes`` is dropped while it streams past (memory stays bounded)
    and reported as an over-long placeholder, whatever the chunking.
    """
    too_long = b"\xff" * (limits.max_line_bytes + 1)
    buffer = b""
    total = 0
    skipping = False
    for chunk in chunks:
        total += len(chunk)
        if total > limits.max_bytes:
            yield FileError("FILE_TOO_LARGE", f"file is larger than {limits.max_bytes} bytes")
            return
        if skipping:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            skipping = False
            yield too_long
            chunk = chunk[end + 1 :]
        buffer += chunk
        if b"\n" in chunk:
            parts = buffer.split(b"\n")
            buffer = parts.pop()
            yield from parts
        if len(buffer) > limits.max_line_bytes:
            buffer = b""
            skipping = True
    if skipping:
        yield too_long
    elif buffer:
        yield buffer


class BatchParser:
    """Parses one batch file; field rules come from the batch_line contract."""

    def __init__(self, limits: BatchLimits) -> None:
        schema = load_schema(BATCH_LINE)
        self.limits = limits
        self.columns: tuple[str, ...] = tuple(schema["x-csv-columns"])
        self.header = ",".join(self.columns)
        props = schema["properties"]
        self._checks = [
            (index, name, re.compile(props[name]["pattern"]).search if "pattern" in props[name] else None)
            for index, name in enumerate(self.columns)
        ]
        self._max_length = {name: props[name].get("maxLength") for name in self.columns}
        # Fast path for the common line (no quotes, every field valid), built from the same rules;
        # anything it does not match goes through the field-by-field checks for a precise error.
        fields = []
        for name in self.columns:
            rule = props[name]
            if "pattern" in rule:
                fields.append(f"({rule['pattern'].removeprefix('^').removesuffix('$')})")
            else:
                fields.append(f'([^,"\\x00-\\x1f\\x7f]{{0,{rule.get("maxLength", 10_000)}}})')
        self._fast = re.compile(",".join(fields)).fullmatch

    def parse(self, chunks: Iterable[bytes]) -> Iterator[Item]:
        """Rows and line errors in file order; a FileError ends the stream."""
        seen = ReferenceSet(self.limits.max_lines)
        number = 0
        data_lines = 0
        for raw in _lines(chunks, self.limits):
            if isinstance(raw, FileError):
                yield raw
                return
            number += 1
            if number == 1:
                header = raw.removeprefix(BOM).removesuffix(b"\r")
                if header != self.header.encode():
                    yield FileError("HEADER_MISMATCH", f"the first line must be: {self.header}", line=1)
                    return
                continue
            data_lines += 1
            if data_lines > self.limits.max_lines:
                yield FileError("TOO_MANY_LINES", f"file has more than {self.limits.max_lines} data lines", line=number)
                return
            yield self._line(number, raw.removesuffix(b"\r"), seen)
        if number == 0:
            yield FileError("EMPTY_FILE", "the file is empty")

    def _line(self, number: int, raw: bytes, seen: ReferenceSet) -> BatchRow | LineError:
        if len(raw) > self.limits.max_line_bytes:
            return LineError(number, "LINE_TOO_LONG", f"line is longer than {self.limits.max_line_bytes} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return LineError(number, "INVALID_ENCODING", "line is not valid UTF-8")
        if self._holds_pan(text):
            return LineError(number, "CARD_DATA_REFUSED", "line contains a card number; use payment method tokens")
        fast = self._fast(text)
        if fast is not None:
            return self._row(number, fast.groups(), seen)
        if not text:
            return LineError(number, "EMPTY_LINE", "line is empty")
        if _CONTROL.search(text):
            return LineError(number, "CONTROL_CHARACTER", "line contains a control character")
        if '"' in text:
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error:
                return LineError(number, "MALFORMED_CSV", "line is not valid CSV")
        else:
            fields = text.split(",")
        if len(fields) != len(self.columns):
            return LineError(number, "FIELD_COUNT", f"line has {len(fields)} fields, expected {len(self.columns)}")
        for index, name, search in self._checks:
            value = fields[index]
            if search is not None and search(value) is None:
                return LineError(number, "INVALID_FIELD", f"{name} is not valid")
            limit = self._max_length[name]
            if limit is not None and len(value) > limit:
                return LineError(number, "INVALID_FIELD", f"{name} is longer than {limit} characters")
        return self._row(number, fields, seen)

    @staticmethod
    def _holds_pan(text: str) -> bool:
        return contains_pan(text)

    def _row(self, number: int, fields: Sequence[str], seen: ReferenceSet) -> BatchRow | LineError:
        """Rules across fields: known currency, amount within the limit, reference unique in the file."""
        reference, merchant_id, amount_text, currency, description = fields
        if currency not in CURRENCY_EXPONENTS:
            return LineError(number, "UNSUPPORTED_CURRENCY", "currency is not a supported ISO 4217 code")
        amount = int(amount_text)
        if amount > self.limits.amount_limit:
            return LineError(number, "AMOUNT_OVER_LIMIT", "amount is above the configured limit")
        if not seen.add(reference):
            return LineError(number, "DUPLICATE_REFERENCE", "reference already used earlier in this file")
        return BatchRow(number, reference, merchant_id, amount, currency, description)
