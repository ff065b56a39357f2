"""Deterministic zips: sorted entries, fixed time and modes, readable by every zip reader, raw entries reusable."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.build import zipwriter
from pipeline.build.zipwriter import (
    EXEC_MODE,
    FILE_MODE,
    Entry,
    ZipFormatError,
    deflate,
    mode_for,
    read_entries,
    write_zip,
)

names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="\\"), min_size=1)


def entries_of(files: dict[str, bytes]) -> list[Entry]:
    return [deflate(name, content) for name, content in files.items()]


def test_entries_are_sorted_with_fixed_time_and_unix_modes(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    write_zip(
        archive, [deflate("b/run.sh", b"#!/bin/sh\n", EXEC_MODE), deflate("a.txt", b"x"), deflate("c/empty", b"")]
    )
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        assert zf.testzip() is None
        assert [i.filename for i in infos] == ["a.txt", "b/run.sh", "c/empty"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert [i.external_attr >> 16 for i in infos] == [0o100644, 0o100755, 0o100644]
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert {i.create_system for i in infos} == {3}
        assert zf.read("b/run.sh") == b"#!/bin/sh\n" and zf.read("c/empty") == b""


def test_system_unzip_accepts_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    write_zip(archive, entries_of({"pkg/__init__.py": b"", "pkg/data.json": b"{}" * 1000}))
    result = subprocess.run(["unzip", "-tq", str(archive)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_non_ascii_names_are_flagged_utf8(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    write_zip(archive, entries_of({"données/é.json": b"{}"}))
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["données/é.json"]
        assert zf.infolist()[0].flag_bits & 0x800
    assert [e.name for e in read_entries(archive)] == ["données/é.json"]


@settings(max_examples=40, deadline=None)
@given(files=st.dictionaries(names, st.binary(max_size=2048), max_size=12), executable=st.booleans())
def test_any_files_round_trip_and_rewrite_byte_identically(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], executable: bool
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    mode = EXEC_MODE if executable else FILE_MODE
    first, second, copy = directory / "1.zip", directory / "2.zip", directory / "3.zip"
    write_zip(first, [deflate(n, c, mode) for n, c in files.items()])
    write_zip(second, [deflate(n, c, mode) for n, c in reversed(files.items())])
    write_zip(copy, read_entries(first))
    assert first.read_bytes() == second.read_bytes() == copy.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert zf.testzip() is None
        assert {i.filename: zf.read(i) for i in zf.infolist()} == files


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ZipFormatError, match="duplicate archive entry x"):
        write_zip(tmp_path / "a.zip", [deflate("x", b"1"), deflate("x", b"2")])


def test_more_entries_than_a_plain_zip_holds_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipwriter, "MAX_ENTRIES", 2)
    with pytest.raises(ZipFormatError, match="3 entries"):
        write_zip(tmp_path / "a.zip", entries_of({"a": b"", "b": b"", "c": b""}))


@pytest.mark.parametrize(
    ("limit", "content"),
    [
        (50, b"a" * 100),  # one entry larger than the limit
        (32, b"x" * 10),  # small entry, but the central directory would start past the limit
    ],
)
def test_archives_over_4_gib_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, content: bytes
) -> None:
    monkeypatch.setattr(zipwriter, "MAX_OFFSET", limit)  # 4 GiB is not written in a unit test
    with pytest.raises(ZipFormatError, match="exceed 4 GiB"):
        write_zip(tmp_path / "a.zip", [deflate("a", content)])


def test_only_archives_of_this_module_are_read(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("stored.txt", b"x")  # stored, not deflated
    with pytest.raises(ZipFormatError, match="entry this module did not write"):
        read_entries(foreign)
    commented = tmp_path / "commented.zip"
    with zipfile.ZipFile(commented, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a", b"x")
        zf.comment = b"a comment moves the end record"
    with pytest.raises(ZipFormatError, match="was not written by this module"):
        read_entries(commented)
    tiny = tmp_path / "tiny.zip"
    tiny.write_bytes(b"PK")
    with pytest.raises(ZipFormatError):
        read_entries(tiny)


@pytest.mark.parametrize(
    ("permissions", "mode"), [(0o644, FILE_MODE), (0o600, FILE_MODE), (0o700, EXEC_MODE), (0o751, EXEC_MODE)]
)
def test_modes_are_normalised(permissions: int, mode: int) -> None:
    assert mode_for(permissions) == mode
