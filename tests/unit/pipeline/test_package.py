"""Lambda archives: the right files, byte-identical on every run, rewritten only when their inputs change."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pipeline.dependencies import Layer
from pipeline.errors import PipelineError
from pipeline.files import sha256_file
from pipeline.package import MANIFEST, build, load_manifest
from pipeline.zipwriter import deflate, write_zip

FUNCTIONS = {"api": "lambdas.api.handler.handler", "worker": "lambdas.worker.handler.handler"}
CodeWriter = Callable[[Path, Mapping[str, str]], None]


@pytest.fixture
def layer(tmp_path: Path) -> Layer:
    path = tmp_path / "layer.zip"
    write_zip(path, [deflate("dep/__init__.py", b"VERSION = 1\n"), deflate("dep-1.0.dist-info/METADATA", b"x")])
    return Layer("key", path, sha256_file(path), "dep==1.0\n")


@pytest.fixture
def repo(scratch_repo: Path, function_code: CodeWriter) -> Path:
    function_code(scratch_repo, FUNCTIONS)
    return scratch_repo


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


def test_each_archive_holds_dependencies_its_code_shared_code_and_contracts(
    repo: Path, layer: Layer, tmp_path: Path
) -> None:
    (repo / "lambdas/api/__pycache__").mkdir()
    (repo / "lambdas/api/__pycache__/handler.cpython-312.pyc").write_bytes(b"\0")
    (repo / "lambdas/shared/old.pyc").write_bytes(b"\0")
    (repo / "lambdas/README.md").write_text("not part of any function")
    build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)
    assert names(tmp_path / "dist/api.zip") == [
        "contracts/__init__.py",
        "contracts/schemas/payment.schema.json",
        "dep-1.0.dist-info/METADATA",
        "dep/__init__.py",
        "lambdas/__init__.py",
        "lambdas/api/__init__.py",
        "lambdas/api/handler.py",
        "lambdas/shared/__init__.py",
        "lambdas/shared/runtime.py",
    ]
    assert "lambdas/worker/handler.py" in names(tmp_path / "dist/worker.zip")
    assert "lambdas/api/handler.py" not in names(tmp_path / "dist/worker.zip")


def test_two_runs_give_byte_identical_archives_and_manifests(repo: Path, layer: Layer, tmp_path: Path) -> None:
    build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "one", layer=layer)
    (repo / "lambdas/api/handler.py").touch()  # a newer mtime must not matter
    build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "two", layer=layer)
    for name in ("api.zip", "worker.zip", MANIFEST):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_manifest_records_hashes_lambda_compares(repo: Path, layer: Layer, tmp_path: Path) -> None:
    outcome = build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)
    document = json.loads((tmp_path / "dist" / MANIFEST).read_text())
    assert document["dependencies"] == {"key": "key", "layer_sha256": layer.sha256}
    record = document["archives"]["api"]
    archive = tmp_path / "dist/api.zip"
    digest = hashlib.sha256(archive.read_bytes()).digest()
    assert record["file"] == "api.zip"
    assert record["sha256"] == digest.hex()
    assert record["source_code_hash"] == base64.b64encode(digest).decode()
    assert record["size"] == archive.stat().st_size
    assert record["files"] == len(names(archive)) == 9
    assert load_manifest(tmp_path / "dist" / MANIFEST) == outcome.archives
    assert outcome.written == ("api", "worker") and outcome.unchanged == ()


def test_unchanged_inputs_rewrite_nothing_and_do_not_read_the_layer(repo: Path, layer: Layer, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    stamps = {p.name: p.stat().st_mtime_ns for p in dist.iterdir()}
    layer.path.unlink()  # proves the warm path never opens it
    outcome = build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    assert outcome.written == () and outcome.unchanged == ("api", "worker")
    assert {p.name: p.stat().st_mtime_ns for p in dist.iterdir()} == stamps


def test_a_function_change_rewrites_only_that_archive(repo: Path, layer: Layer, tmp_path: Path) -> None:
    build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)
    (repo / "lambdas/worker/handler.py").write_text("def handler(event, context):\n    return 2\n")
    assert build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer).written == ("worker",)


def test_a_shared_or_contract_change_rewrites_every_archive(repo: Path, layer: Layer, tmp_path: Path) -> None:
    build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)
    (repo / "contracts/schemas/refund.schema.json").write_text("{}")
    assert build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=layer).written == ("api", "worker")


def test_a_tampered_archive_or_an_unreadable_manifest_is_rebuilt(repo: Path, layer: Layer, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    original = (dist / "api.zip").read_bytes()
    (dist / "api.zip").write_bytes(b"tampered")
    assert build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer).written == ("api",)
    assert (dist / "api.zip").read_bytes() == original
    for broken in ("not json", '{"format": 0, "archives": {}}', '{"format": 1}', "[]"):
        (dist / MANIFEST).write_text(broken)
        assert build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer).written == ("api", "worker")


def test_an_executable_code_file_keeps_its_execute_bit(repo: Path, layer: Layer, tmp_path: Path) -> None:
    script = repo / "lambdas/api/bootstrap.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o775)
    build({"api": FUNCTIONS["api"]}, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)
    with zipfile.ZipFile(tmp_path / "dist/api.zip") as zf:
        assert zf.getinfo("lambdas/api/bootstrap.sh").external_attr >> 16 == 0o100755
        assert zf.getinfo("lambdas/api/handler.py").external_attr >> 16 == 0o100644


def test_a_function_that_was_removed_loses_its_archive(repo: Path, layer: Layer, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    (dist / "unrelated.zip").write_bytes(b"kept")
    build({"api": FUNCTIONS["api"]}, repo_root=repo, out_dir=dist, layer=layer)
    assert sorted(p.name for p in dist.iterdir()) == ["api.zip", MANIFEST, "unrelated.zip"]
    assert list(json.loads((dist / MANIFEST).read_text())["archives"]) == ["api"]


def test_stale_entries_that_are_not_identifiers_are_never_deleted(repo: Path, layer: Layer, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    document = json.loads((dist / MANIFEST).read_text())
    document["archives"]["../escape"] = dict(document["archives"]["api"], file="../escape.zip")
    (dist / MANIFEST).write_text(json.dumps(document))
    (tmp_path / "escape.zip").write_bytes(b"outside")
    build(FUNCTIONS, repo_root=repo, out_dir=dist, layer=layer)
    assert (tmp_path / "escape.zip").exists()


@pytest.mark.parametrize(
    ("functions", "message"),
    [
        ({"missing": "lambdas.missing.handler.handler"}, "lambdas/missing/ does not exist"),
        ({"not-a-key": "lambdas.x.handler.handler"}, "is not a Python identifier"),
        ({"api": "lambdas.api.main.handler"}, "needs lambdas/api/main.py, which is not in its archive"),
    ],
)
def test_configuration_mistakes_are_reported_in_one_sentence(
    repo: Path, layer: Layer, tmp_path: Path, functions: dict[str, str], message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        build(functions, repo_root=repo, out_dir=tmp_path / "dist", layer=layer)


def test_code_that_shadows_a_dependency_file_is_refused(repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "clash.zip"
    write_zip(path, [deflate("contracts/__init__.py", b"")])
    clash = Layer("k", path, sha256_file(path), "")
    with pytest.raises(PipelineError, match=r"contracts/__init__\.py is both project code and a dependency"):
        build(FUNCTIONS, repo_root=repo, out_dir=tmp_path / "dist", layer=clash)
