"""Third-party packages of the Lambda archives: exported from uv.lock, installed and compressed once per lock.

The ``lambda`` dependency group is exported from uv.lock as pinned requirements with their hashes
(never from ``.venv`` or anything else in the tree), installed for the Lambda platform with
``--require-hashes`` (uv refuses a wheel whose hash the lock does not name) into a cache directory
named after the sha256 of those requirements (and the target), then compressed once into a *layer*
archive whose entries every function archive copies. A warm run therefore neither reinstalls nor
recompresses anything.

The layer holds what the wheels hold, nothing the installation adds that depends on the machine,
the checkout's path or the time: no console scripts (their shebang names this interpreter), no
bytecode (``--no-compile``), no uv lock file, no ``direct_url.json`` (the absolute path or URL a
package came from) or ``uv_cache.json`` (a timestamp), and each ``RECORD`` lists only the files kept.
Entries get the zip writer's fixed time and normalized modes, so the same lock gives the same layer
in every clone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.files import sha256_file
from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.build.zipwriter import Entry, deflate, mode_for, read_entries, write_zip

GROUP = "lambda"
# Bump when the install command or the layer layout changes, so old cache entries are not reused.
RECIPE = "2"
EXPORT_ARGS = (
    "export", "--frozen", "--only-group", GROUP, "--no-emit-project",
    "--no-header", "--no-annotate", "--format", "requirements.txt",
)  # fmt: skip
# Installed files that must not reach the archive: console scripts (their shebang names this
# machine's interpreter), uv's own lock file, and the installer's notes of where from and when.
SKIPPED_TOP_LEVEL = frozenset({"bin"})
SKIPPED_METADATA = frozenset({"direct_url.json", "uv_cache.json"})
PLATFORMS = {"x86_64": "x86_64-manylinux2014", "arm64": "aarch64-manylinux2014"}


@dataclass(frozen=True)
class Target:
    """The platform the packages are installed for (uv ``--python-platform`` / ``--python-version``)."""

    platform: str
    python_version: str

    @classmethod
    def for_lambda(cls, runtime: str, architecture: str) -> Target:
        """From the Lambda runtime (``python3.12``) and architecture (``x86_64`` or ``arm64``)."""
        return cls(PLATFORMS[architecture], runtime.removeprefix("python"))


@dataclass(frozen=True)
class Layer:
    """The compressed dependency entries shared by every function archive."""

    key: str
    path: Path
    sha256: str
    requirements: str


def export_requirements(settings: Settings) -> str:
    """Pinned requirements of the ``lambda`` group, read from uv.lock without re-locking."""
    result = run([settings.uv, *EXPORT_ARGS], env=settings.child_env(), cwd=settings.repo_root, check="uv export")
    return result.stdout


def cache_key(requirements: str, target: Target) -> str:
    """sha256 of everything that decides the installed files."""
    recipe = f"{RECIPE}\n{target.platform}\n{target.python_version}\n{requirements}"
    return hashlib.sha256(recipe.encode()).hexdigest()


def install(requirements: str, target: Target, *, settings: Settings, python: Path, dest: Path) -> None:
    """Install ``requirements`` (no dependency resolution beyond the lock) for ``target`` into ``dest``."""
    dest.mkdir(parents=True)
    if not any(line.strip() and not line.lstrip().startswith("#") for line in requirements.splitlines()):
        return
    requirements_file = dest.with_name(dest.name + ".txt")
    requirements_file.write_text(requirements, encoding="utf-8")
    run(
        [
            settings.uv, "pip", "install", "--target", dest, "--python", python,
            "--python-platform", target.platform, "--python-version", target.python_version,
            "--only-binary", ":all:", "--no-deps", "--no-compile", "--link-mode", "copy", "--require-hashes",
            "--requirement", requirements_file,
        ],
        env=settings.child_env(),
        cwd=settings.repo_root,  # exported local paths are relative to the project
        check="installing the Lambda dependencies",
    )  # fmt: skip


def _skipped(relative: Path) -> bool:
    top = relative.parts[0]
    if top in SKIPPED_TOP_LEVEL or top.startswith(".") or "__pycache__" in relative.parts:
        return True
    return relative.suffix == ".pyc" or (relative.parent.suffix == ".dist-info" and relative.name in SKIPPED_METADATA)


def _kept_record(record: bytes, kept: set[str]) -> bytes:
    """A dist-info ``RECORD`` (CSV: path, hash, size) without the lines of files the layer leaves out."""
    lines = record.decode("utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if line.split(",", 1)[0] in kept).encode()


def compress_tree(directory: Path) -> list[Entry]:
    """Compress every installed file (except scripts, uv's lock, bytecode and the installer's notes) with its
    path as the name; each ``RECORD`` keeps the lines of the files compressed."""
    files = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _skipped(relative):
            files[relative.as_posix()] = path
    entries = []
    for name, path in files.items():
        content = path.read_bytes()
        if name.endswith(".dist-info/RECORD"):
            content = _kept_record(content, set(files))
        entries.append(deflate(name, content, mode_for(path.stat().st_mode)))
    return entries


def prepare_layer(settings: Settings, target: Target, python: Path) -> Layer:
    """Export, install and compress the dependencies unless the cache already holds them."""
    requirements = export_requirements(settings)
    key = cache_key(requirements, target)
    root = settings.cache_dir / "lambda-deps"
    layer_path = root / f"{key}.zip"
    if not layer_path.is_file():
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f"{key}.tmp-{os.getpid()}"
        staged_layer = root / f"{staging.name}.zip"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            install(requirements, target, settings=settings, python=python, dest=staging)
            write_zip(staged_layer, compress_tree(staging))
            staged_layer.replace(layer_path)  # the layer's existence marks a complete cache entry
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            staging.with_name(staging.name + ".txt").unlink(missing_ok=True)
            staged_layer.unlink(missing_ok=True)
    return Layer(key, layer_path, sha256_file(layer_path), requirements)


def layer_entries(layer: Layer) -> list[Entry]:
    """The compressed entries of a prepared layer."""
    return read_entries(layer.path)
