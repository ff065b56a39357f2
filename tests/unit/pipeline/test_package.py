"""Lambda archives: exactly the tracked files, byte-identical on every run and in every clone, rewritten only
when their inputs change."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pipeline.build.dependencies import Layer
from pipeline.build.package import MANIFEST, Outcome, build, load_manifest
from pipeline.build.zipwriter import deflate, write_zip
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file

FUNCTIONS = {"api": "lambdas.api.handler.handler", "worker": "lambdas.worker.handler.handler"}
CodeWriter = Callable[[Path, Mapping[str, str]], None]
Git = Callable[..., str]
# What lies around in a developer's checkout and must never reach an archive (issue 10, item 8).
STRAY_FILES = {
    "lambdas/shared/.env": "PSP_SECRET=sk_live_51HqLyjWDarjtT1zdp7dc\n",
    "lambdas/api/notes.txt.swp": "b0VIM 9.0 swap",
    "lambdas/api/scratch.py": "DEBUG = True\n",  # untracked code
    "lambdas/shared/runtime.py~": "SHARED = 0\n",  # editor backup
    "lambdas/shared/#runtime.py#": "SHARED = -1\n",
    "lambdas/.DS_Store": "\0\0\0\1Bud1",
    "lambdas/api/__pycache__/handler.cpython-312.pyc": "\0",
    "lambdas/shared/runtime.pyc": "\0",
    "contracts/schemas/draft.schema.json": "{}",
    "lambdas/worker/debug.log": "ignored by .gitignore",
}


@pytest.fixture
def layer(tmp_path: Path) -> Layer:
    path = tmp_path / "layer.zip"
    write_zip(path, [deflate("dep/__init__.py", b"VERSION = 1\n"), deflate("dep-1.0.dist-info/METADATA", b"x")])
    return Layer("key", path, sha256_file(path), "dep==1.0\n")


@pytest.fixture
def repo(scratch_repo: Path, function_code: CodeWriter) -> Path:
    function_code(scratch_repo, FUNCTIONS)
    return scratch_repo


@pytest.fixture
def package(layer: Layer, git_environ: dict[str, str]) -> Callable[..., Outcome]:
    """``package(repo, out_dir, functions=FUNCTIONS)``: the build as `make package` runs it."""

    def run(repo: Path, out_dir: Path, functions: Mapping[str, str] = FUNCTIONS, deps: Layer = layer) -> Outcome:
        return build(functions, repo_root=repo, out_dir=out_dir, layer=deps, env=git_environ)

    return run


def plant(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


Package = Callable[..., Outcome]


def test_each_archive_holds_dependencies_its_code_shared_code_and_contracts(
    repo: Path, package: Package, tmp_path: Path
) -> None:
    package(repo, tmp_path / "dist")
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


def test_files_git_does_not_track_never_reach_an_archive(
    repo: Path, package: Package, run_git: Git, tmp_path: Path
) -> None:
    clean = package(repo, tmp_path / "clean")
    (repo / ".gitignore").write_text("*.log\n")
    plant(repo, STRAY_FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("KEY = 'sk_live_outside'\n")
    (repo / "lambdas/shared/linked.py").symlink_to(outside / "secret.py")
    (repo / "lambdas/api/linked_dir").symlink_to(outside, target_is_directory=True)
    assert "lambdas/worker/debug.log" in run_git(repo, "status", "--porcelain", "--ignored")

    dirty = package(repo, tmp_path / "dirty")

    for name in ("api.zip", "worker.zip", MANIFEST):
        assert (tmp_path / "clean" / name).read_bytes() == (tmp_path / "dirty" / name).read_bytes(), name
    assert dirty.archives == clean.archives and dirty.modified == ()
    for archive in ("api.zip", "worker.zip"):
        body = (tmp_path / "dirty" / archive).read_bytes()
        assert b"sk_live_" not in body and b"b0VIM" not in body
        assert not set(names(tmp_path / "dirty" / archive)) & {*STRAY_FILES, "lambdas/shared/linked.py"}


def test_a_file_counts_once_git_tracks_it(repo: Path, package: Package, run_git: Git, tmp_path: Path) -> None:
    plant(repo, {"lambdas/shared/money.py": "EXPONENT = 2\n"})
    package(repo, tmp_path / "dist")
    assert "lambdas/shared/money.py" not in names(tmp_path / "dist/api.zip")
    run_git(repo, "add", "lambdas/shared/money.py")
    assert package(repo, tmp_path / "dist").written == ("api", "worker")
    assert "lambdas/shared/money.py" in names(tmp_path / "dist/api.zip")


def test_an_edit_git_has_not_staged_is_packaged_and_named(
    repo: Path, package: Package, run_git: Git, tmp_path: Path
) -> None:
    (repo / "lambdas/api/handler.py").write_text("def handler(event, context):\n    return 'edited'\n")
    outcome = package(repo, tmp_path / "dist")
    assert outcome.modified == ("lambdas/api/handler.py",)
    with zipfile.ZipFile(tmp_path / "dist/api.zip") as zf:
        assert zf.read("lambdas/api/handler.py") == b"def handler(event, context):\n    return 'edited'\n"
    run_git(repo, "add", "lambdas/api/handler.py")
    assert package(repo, tmp_path / "dist").modified == ()


def test_file_modes_come_from_git_not_from_the_file_system(
    repo: Path, package: Package, run_git: Git, tmp_path: Path
) -> None:
    (repo / "lambdas/api/bootstrap.sh").write_text("#!/bin/sh\n")
    run_git(repo, "add", "lambdas/api/bootstrap.sh")
    run_git(repo, "update-index", "--chmod=+x", "lambdas/api/bootstrap.sh")
    package(repo, tmp_path / "one", {"api": FUNCTIONS["api"]})
    with zipfile.ZipFile(tmp_path / "one/api.zip") as zf:
        assert zf.getinfo("lambdas/api/bootstrap.sh").external_attr >> 16 == 0o100755
        assert zf.getinfo("lambdas/api/handler.py").external_attr >> 16 == 0o100644
    for path in (repo / "lambdas").rglob("*"):  # what another umask or a core.fileMode=false checkout leaves
        if path.is_file():
            path.chmod(0o700 if path.name == "handler.py" else 0o600)
    package(repo, tmp_path / "two", {"api": FUNCTIONS["api"]})
    assert (tmp_path / "one/api.zip").read_bytes() == (tmp_path / "two/api.zip").read_bytes()


def test_two_clones_at_different_paths_with_other_umask_and_mtimes_give_the_same_bytes(
    repo: Path, package: Package, run_git: Git, tmp_path: Path
) -> None:
    run_git(repo, "commit", "--quiet", "-m", "code")
    previous = os.umask(0o077)
    try:
        run_git(tmp_path, "clone", "--quiet", str(repo), str(tmp_path / "a"))
    finally:
        os.umask(0o002)
    try:
        run_git(tmp_path, "clone", "--quiet", str(repo), str(tmp_path / "deeper/path/b"))
    finally:
        os.umask(previous)
    for path in (tmp_path / "deeper/path/b/lambdas").rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    package(tmp_path / "a", tmp_path / "dist-a")
    package(tmp_path / "deeper/path/b", tmp_path / "dist-b")
    for name in ("api.zip", "worker.zip", MANIFEST):
        assert (tmp_path / "dist-a" / name).read_bytes() == (tmp_path / "dist-b" / name).read_bytes(), name


def test_outside_a_git_checkout_packaging_is_refused_not_guessed(
    function_code: CodeWriter, package: Package, tmp_path: Path
) -> None:
    copy = tmp_path / "exported"
    function_code(tmp_path / "repo", FUNCTIONS)
    shutil.copytree(tmp_path / "repo", copy, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(PipelineError, match=r"is not a git checkout .*package from a clone of the repository"):
        package(copy, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("case", ["tracked symlink", "replaced by a symlink", "deleted", "directory symlink"])
def test_a_tracked_path_that_is_not_a_regular_file_in_the_checkout_is_refused(
    repo: Path, package: Package, run_git: Git, tmp_path: Path, case: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "runtime.py").write_text("SHARED = 'outside'\n")
    runtime = repo / "lambdas/shared/runtime.py"
    if case == "tracked symlink":
        (repo / "lambdas/shared/link.py").symlink_to(outside / "runtime.py")
        run_git(repo, "add", "lambdas/shared/link.py")
        expected = "lambdas/shared/link.py is a symlink in git"
    elif case == "replaced by a symlink":
        runtime.unlink()
        runtime.symlink_to(outside / "runtime.py")
        expected = "lambdas/shared/runtime.py is tracked but not a regular file"
    elif case == "deleted":
        runtime.unlink()
        expected = "lambdas/shared/runtime.py is tracked but not a regular file"
    else:
        shutil.move(repo / "lambdas/shared", outside / "shared")
        (repo / "lambdas/shared").symlink_to(outside / "shared", target_is_directory=True)
        expected = "lambdas/shared/__init__.py is tracked but not a regular file"
    with pytest.raises(PipelineError, match=expected):
        package(repo, tmp_path / "dist")


def test_two_runs_give_byte_identical_archives_and_manifests(repo: Path, package: Package, tmp_path: Path) -> None:
    package(repo, tmp_path / "one")
    (repo / "lambdas/api/handler.py").touch()  # a newer mtime must not matter
    package(repo, tmp_path / "two")
    for name in ("api.zip", "worker.zip", MANIFEST):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_manifest_records_hashes_lambda_compares(repo: Path, layer: Layer, package: Package, tmp_path: Path) -> None:
    outcome = package(repo, tmp_path / "dist")
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


def test_unchanged_inputs_rewrite_nothing_and_do_not_read_the_layer(
    repo: Path, layer: Layer, package: Package, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    package(repo, dist)
    stamps = {p.name: p.stat().st_mtime_ns for p in dist.iterdir()}
    layer.path.unlink()  # proves the warm path never opens it
    outcome = package(repo, dist)
    assert outcome.written == () and outcome.unchanged == ("api", "worker")
    assert {p.name: p.stat().st_mtime_ns for p in dist.iterdir()} == stamps


def test_a_function_change_rewrites_only_that_archive(repo: Path, package: Package, tmp_path: Path) -> None:
    package(repo, tmp_path / "dist")
    (repo / "lambdas/worker/handler.py").write_text("def handler(event, context):\n    return 2\n")
    assert package(repo, tmp_path / "dist").written == ("worker",)


def test_a_shared_or_contract_change_rewrites_every_archive(
    repo: Path, package: Package, run_git: Git, tmp_path: Path
) -> None:
    package(repo, tmp_path / "dist")
    (repo / "contracts/schemas/refund.schema.json").write_text("{}")
    run_git(repo, "add", "contracts/schemas/refund.schema.json")
    assert package(repo, tmp_path / "dist").written == ("api", "worker")


def test_a_tampered_archive_or_an_unreadable_manifest_is_rebuilt(repo: Path, package: Package, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package(repo, dist)
    original = (dist / "api.zip").read_bytes()
    (dist / "api.zip").write_bytes(b"tampered")
    assert package(repo, dist).written == ("api",)
    assert (dist / "api.zip").read_bytes() == original
    for broken in ("not json", '{"format": 0, "archives": {}}', '{"format": 1}', "[]"):
        (dist / MANIFEST).write_text(broken)
        assert package(repo, dist).written == ("api", "worker")


def test_a_function_that_was_removed_loses_its_archive(repo: Path, package: Package, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package(repo, dist)
    (dist / "unrelated.zip").write_bytes(b"kept")
    package(repo, dist, {"api": FUNCTIONS["api"]})
    assert sorted(p.name for p in dist.iterdir()) == ["api.zip", MANIFEST, "unrelated.zip"]
    assert list(json.loads((dist / MANIFEST).read_text())["archives"]) == ["api"]


def test_stale_entries_that_are_not_identifiers_are_never_deleted(repo: Path, package: Package, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    package(repo, dist)
    document = json.loads((dist / MANIFEST).read_text())
    document["archives"]["../escape"] = dict(document["archives"]["api"], file="../escape.zip")
    (dist / MANIFEST).write_text(json.dumps(document))
    (tmp_path / "escape.zip").write_bytes(b"outside")
    package(repo, dist)
    assert (tmp_path / "escape.zip").exists()


@pytest.mark.parametrize(
    ("functions", "message"),
    [
        ({"missing": "lambdas.missing.handler.handler"}, "lambdas/missing/ holds no file git tracks"),
        ({"not-a-key": "lambdas.x.handler.handler"}, "is not a Python identifier"),
        ({"api": "lambdas.api.main.handler"}, "needs lambdas/api/main.py, which is not in its archive"),
    ],
)
def test_configuration_mistakes_are_reported_in_one_sentence(
    repo: Path, package: Package, tmp_path: Path, functions: dict[str, str], message: str
) -> None:
    with pytest.raises(PipelineError, match=message):
        package(repo, tmp_path / "dist", functions)


def test_code_that_shadows_a_dependency_file_is_refused(repo: Path, package: Package, tmp_path: Path) -> None:
    path = tmp_path / "clash.zip"
    write_zip(path, [deflate("contracts/__init__.py", b"")])
    clash = Layer("k", path, sha256_file(path), "")
    with pytest.raises(PipelineError, match=r"contracts/__init__\.py is both project code and a dependency"):
        package(repo, tmp_path / "dist", deps=clash)


def test_bytecode_stays_out_even_when_git_tracks_it(repo: Path, package: Package, run_git: Git, tmp_path: Path) -> None:
    plant(repo, {"lambdas/shared/__pycache__/runtime.cpython-312.pyc": "stale", "lambdas/shared/old.pyc": "stale"})
    run_git(repo, "add", "--force", "lambdas/shared")
    package(repo, tmp_path / "dist")
    assert not [name for name in names(tmp_path / "dist/api.zip") if name.endswith(".pyc")]
