"""Deterministic zip archives built from pre-compressed entries.

Every entry gets the same timestamp (1980-01-01 00:00, the zip epoch), Unix permissions 0644 or
0755, and raw DEFLATE data at one fixed level, so the same inputs give the same bytes. Entries
are compressed once (:func:`deflate`) and can be copied between archives without recompressing
(:func:`read_entries`), which is what keeps packaging of several functions sharing a large
dependency set fast. Why not the standard library's ``zipfile``: it recompresses every entry of every
archive; ``benchmarks/bench_zipwriter.py`` measured four function archives from the 2,523-file layer in
0.11 s here against 3.46 s with ``zipfile`` (30x, identical file contents; results in
``benchmarks/results/zipwriter.txt``). Keep this writer only while that ratio holds. Plain zip (no ZIP64): at most 65,535 entries and 4 GiB, far above Lambda's
limits.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

COMPRESS_LEVEL = 6
FILE_MODE = 0o644
EXEC_MODE = 0o755
DOS_TIME = 0  # 00:00:00
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
DEFLATED = 8
VERSION = 20  # 2.0: deflate
MADE_BY_UNIX = 3 << 8
UTF8_FLAG = 0x800
MAX_ENTRIES = 0xFFFF
MAX_OFFSET = 0xFFFFFFFF

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_LOCAL_SIG = 0x04034B50
_CENTRAL_SIG = 0x02014B50
_END_SIG = 0x06054B50


class ZipFormatError(ValueError):
    """The archive cannot be written (too large) or was not written by this module."""


@dataclass(frozen=True)
class Entry:
    """One compressed file ready to be written: name inside the archive, mode, CRC, sizes, raw deflate data."""

    name: str
    mode: int
    crc: int
    size: int
    data: bytes


def mode_for(permissions: int) -> int:
    """0755 if any execute bit is set, else 0644."""
    return EXEC_MODE if permissions & 0o111 else FILE_MODE


def deflate(name: str, content: bytes, mode: int = FILE_MODE) -> Entry:
    """Compress ``content`` as raw DEFLATE at the fixed level."""
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(content) + compressor.flush()
    return Entry(name, mode, zlib.crc32(content), len(content), data)


def _name_bytes(name: str) -> tuple[bytes, int]:
    try:
        return name.encode("ascii"), 0
    except UnicodeEncodeError:
        return name.encode("utf-8"), UTF8_FLAG


def write_zip(path: Path, entries: Iterable[Entry]) -> None:
    """Write ``entries`` sorted by name; duplicate names are an error."""
    ordered = sorted(entries, key=lambda e: e.name)
    for previous, current in itertools.pairwise(ordered):
        if previous.name == current.name:
            raise ZipFormatError(f"duplicate archive entry {current.name}")
    if len(ordered) > MAX_ENTRIES:
        raise ZipFormatError(f"{len(ordered)} entries is more than a plain zip holds ({MAX_ENTRIES})")
    central = bytearray()
    offset = 0
    with path.open("wb") as out:
        for entry in ordered:
            name, flags = _name_bytes(entry.name)
            if offset > MAX_OFFSET or len(entry.data) > MAX_OFFSET or entry.size > MAX_OFFSET:
                raise ZipFormatError(f"archive {path} would exceed 4 GiB")
            fields = (flags, DEFLATED, DOS_TIME, DOS_DATE, entry.crc, len(entry.data), entry.size, len(name))
            out.write(_LOCAL.pack(_LOCAL_SIG, VERSION, *fields, 0))
            out.write(name)
            out.write(entry.data)
            central += _CENTRAL.pack(
                _CENTRAL_SIG, MADE_BY_UNIX | VERSION, VERSION, *fields, 0, 0, 0, 0,
                ((0o100000 | entry.mode) << 16), offset,
            )  # fmt: skip
            central += name
            offset += _LOCAL.size + len(name) + len(entry.data)
        if offset > MAX_OFFSET:
            raise ZipFormatError(f"archive {path} would exceed 4 GiB")
        out.write(central)
        out.write(_END.pack(_END_SIG, 0, 0, len(ordered), len(ordered), len(central), offset, 0))


def read_entries(path: Path) -> list[Entry]:
    """Load the entries of an archive written by :func:`write_zip`, still compressed."""
    blob = path.read_bytes()
    end = len(blob) - _END.size  # write_zip adds no archive comment: the end record is last
    if end < 0 or _END.unpack_from(blob, end)[0] != _END_SIG:
        raise ZipFormatError(f"{path} was not written by this module")
    _, _, _, _, count, _, cd_offset, _ = _END.unpack_from(blob, end)
    entries: list[Entry] = []
    position = cd_offset
    for _ in range(count):
        fields = _CENTRAL.unpack_from(blob, position)
        if fields[0] != _CENTRAL_SIG or fields[4] != DEFLATED:
            raise ZipFormatError(f"{path} has an entry this module did not write")
        crc, csize, size, name_len, extra_len, comment_len = fields[7:13]
        attributes, local_offset = fields[15], fields[16]
        flags = fields[3]
        raw_name = blob[position + _CENTRAL.size : position + _CENTRAL.size + name_len]
        name = raw_name.decode("utf-8" if flags & UTF8_FLAG else "ascii")
        local_name_len, local_extra_len = _LOCAL.unpack_from(blob, local_offset)[9:11]
        start = local_offset + _LOCAL.size + local_name_len + local_extra_len
        entries.append(Entry(name, (attributes >> 16) & 0o7777, crc, size, blob[start : start + csize]))
        position += _CENTRAL.size + name_len + extra_len + comment_len
    return entries
