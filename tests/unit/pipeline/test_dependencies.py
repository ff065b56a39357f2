"""The Lambda dependency layer: exported from the lock, installed for Lambda once, compressed once."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.build.dependencies import (
    Target,
    cache_key,
    compress_tree,
    export_requirements,
    install,
    layer_entries,
    prepare_layer,
)
from pipeline.build.zipwriter import EXEC_MODE, FILE_MODE
from pipeline.core.files import sha256_file
from pipeline.core.runner import CommandFailed
from pipeline.core.settings import Settings

PY = Path(sys.executable)
LAMBDA = Target.for_lambda("python3.12", "x86_64")
SettingsFactory = Callable[..., Settings]
TINY_WHEEL = "./wheels/tiny_dep-1.0-py3-none-any.whl"


@pytest.fixture
def offline(make_settings: SettingsFactory) -> Settings:
    return make_settings(UV_OFFLINE="1")


def test_lambda_targets_follow_runtime_and_architecture() -> None:
    assert Target.for_lambda("python3.12", "x86_64") == Target("x86_64-manylinux2014", "3.12")
    assert Target.for_lambda("python3.13", "arm64") == Target("aarch64-manylinux2014", "3.13")


def test_cache_key_changes_with_anything_that_changes_the_installed_files() -> None:
    key = cache_key("boto3==1.35.49\n", LAMBDA)
    assert key == cache_key("boto3==1.35.49\n", LAMBDA)
    assert len(key) == 64
    others = {
        cache_key("boto3==1.35.50\n", LAMBDA),
        cache_key("boto3==1.35.49\n", Target("aarch64-manylinux2014", "3.12")),
        cache_key("boto3==1.35.49\n", Target("x86_64-manylinux2014", "3.13")),
    }
    assert key not in others and len(others) == 3


def wheel_hash(root: Path) -> str:
    return hashlib.sha256((root / TINY_WHEEL).read_bytes()).hexdigest()


def test_export_gives_the_pinned_lambda_group_only_with_the_locked_hashes(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline)
    assert export_requirements(offline) == f"{TINY_WHEEL} \\\n    --hash=sha256:{wheel_hash(scratch_repo)}\n"


def test_export_without_a_lock_file_fails_clearly(offline: Settings, scratch_repo: Path) -> None:
    (scratch_repo / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\n')
    with pytest.raises(CommandFailed, match=r"^uv export failed"):
        export_requirements(offline)


def test_empty_requirements_install_nothing_and_run_nothing(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_UV=str(tmp_path / "no-uv"))  # would fail if it were run
    install("# nothing\n\n", LAMBDA, settings=settings, python=PY, dest=tmp_path / "deps")
    assert list((tmp_path / "deps").iterdir()) == []


def test_compress_tree_leaves_out_scripts_uv_lock_and_bytecode(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": 0o644,
        "pkg/tool.sh": 0o755,
        "pkg/__pycache__/mod.cpython-312.pyc": 0o644,
        "pkg/stray.pyc": 0o644,
        "bin/console-script": 0o755,
        ".lock": 0o644,
        "pkg-1.0.dist-info/direct_url.json": 0o644,
        "pkg-1.0.dist-info/uv_cache.json": 0o644,
        "pkg-1.0.dist-info/RECORD": 0o644,
    }
    for relative, mode in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(relative)
        path.chmod(mode)
    (tmp_path / "pkg-1.0.dist-info/RECORD").write_text(
        "".join(f"{name},sha256=x,1\n" for name in files if not name.startswith(".")).replace(
            "RECORD,sha256=x,1", "RECORD,,"
        )
    )
    entries = compress_tree(tmp_path)
    assert sorted((e.name, e.mode) for e in entries) == [
        ("pkg-1.0.dist-info/RECORD", FILE_MODE),
        ("pkg/__init__.py", FILE_MODE),
        ("pkg/tool.sh", EXEC_MODE),
    ]
    [record_entry] = [e for e in entries if e.name.endswith("RECORD")]
    record = zlib.decompress(record_entry.data, -zlib.MAX_WBITS).decode()
    assert record == "pkg/__init__.py,sha256=x,1\npkg/tool.sh,sha256=x,1\npkg-1.0.dist-info/RECORD,,\n"


def test_layer_holds_the_installed_packages_without_console_scripts(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline)
    layer = prepare_layer(offline, LAMBDA, PY)
    assert layer.path == offline.cache_dir / "lambda-deps" / f"{layer.key}.zip"
    assert layer.key == cache_key(f"{TINY_WHEEL} \\\n    --hash=sha256:{wheel_hash(scratch_repo)}\n", LAMBDA)
    assert layer.sha256 == sha256_file(layer.path)
    with zipfile.ZipFile(layer.path) as zf:
        names = zf.namelist()
    assert "tiny_dep/__init__.py" in names
    assert "tiny_dep-1.0.dist-info/METADATA" in names
    assert not [
        n for n in names if n.startswith(("bin/", ".")) or n.endswith((".pyc", "direct_url.json", "cache.json"))
    ]
    assert [e.name for e in layer_entries(layer)] == names
    assert sorted(p.name for p in layer.path.parent.iterdir()) == [layer.path.name]  # no staging left


def test_the_same_lock_gives_the_same_layer_at_another_path_and_time(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None], tmp_path: Path
) -> None:
    uv_project(scratch_repo, offline)
    other = tmp_path / "elsewhere" / "clone"
    shutil.copytree(scratch_repo, other)  # the same wheel and lock, newer mtimes, another absolute path
    os.utime(other / TINY_WHEEL, (2_000_000_000, 2_000_000_000))
    elsewhere = dataclasses.replace(offline, repo_root=other, cache_dir=tmp_path / "other-cache")
    first, second = prepare_layer(offline, LAMBDA, PY), prepare_layer(elsewhere, LAMBDA, PY)
    assert first.path != second.path
    assert first.path.read_bytes() == second.path.read_bytes()
    with zipfile.ZipFile(first.path) as zf:
        record = zf.read("tiny_dep-1.0.dist-info/RECORD").decode()
    assert "direct_url.json" not in record and "bin/" not in record and "tiny_dep/__init__.py," in record


def test_a_wheel_whose_hash_the_lock_does_not_name_is_refused(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline)
    wheel = scratch_repo / TINY_WHEEL
    with zipfile.ZipFile(wheel, "a") as archive:  # same name and version, other bytes
        archive.writestr("tiny_dep/extra.py", "INJECTED = True\n")
    with pytest.raises(CommandFailed, match=r"^installing the Lambda dependencies failed"):
        prepare_layer(offline, LAMBDA, PY)


def test_warm_layer_is_reused_without_installing_again(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline)
    first = prepare_layer(offline, LAMBDA, PY)
    stamp = first.path.stat().st_mtime_ns
    (scratch_repo / "wheels" / "tiny_dep-1.0-py3-none-any.whl").unlink()  # an install would now fail
    second = prepare_layer(offline, LAMBDA, PY)
    assert second == first
    assert second.path.stat().st_mtime_ns == stamp


def test_failed_install_leaves_no_cache_entry(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline)
    (scratch_repo / "wheels" / "tiny_dep-1.0-py3-none-any.whl").unlink()
    with pytest.raises(CommandFailed, match=r"^installing the Lambda dependencies failed"):
        prepare_layer(offline, LAMBDA, PY)
    assert list((offline.cache_dir / "lambda-deps").iterdir()) == []


def test_empty_lambda_group_gives_an_empty_layer(
    offline: Settings, scratch_repo: Path, uv_project: Callable[..., None]
) -> None:
    uv_project(scratch_repo, offline, dependencies=False)
    assert layer_entries(prepare_layer(offline, LAMBDA, PY)) == []
