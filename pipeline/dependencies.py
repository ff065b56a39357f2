"""Third-party packages of the Lambda archives: exported from uv.lock, installed and compressed once per lock.

The ``lambda`` dependency group is exported as pinned requirements, installed for the Lambda
platform into a cache directory named after the sha256 of those requirements (and the target),
then compressed once into a *layer* archive whose entries every function archive copies.
A warm run therefore neither reinstalls nor recompresses anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.files import sha256_file
from pipeline.runner import run
from pipeline.settings import Settings
from pipeline.zipwriter import Entry, deflate, mode_for, read_entries, write_zip

GROUP = "lambda"
# Bump when the install command or the layer layout changes, so old cache entries are not reused.
RECIPE = "1"
EXPORT_ARGS = (
    "export", "--frozen", "--only-group", GROUP, "--no-emit-project",
    "--no-hashes", "--no-header", "--no-annotate", "--format", "requirements.txt",
)  # fmt: skip
# Installed files that must not reach the archive: console scripts (their shebang names this
# machine's interpreter) and uv's own lock file.
SKIPPED_TOP_LEVEL = frozenset({"bin"})
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
            "--only-binary", ":all:", "--no-deps", "--no-compile", "--link-mode", "copy",
            "--requirement", requirements_file,
        ],
        env=settings.child_env(),
        cwd=settings.repo_root,  # exported local paths are relative to the project
        check="installing the Lambda dependencies",
    )  # fmt: skip


def _skipped(relative: Path) -> bool:
    top = relative.parts[0]
    return top in SKIPPED_TOP_LEVEL or top.startswith(".") or "__pycache__" in relative.parts


def compress_tree(directory: Path) -> list[Entry]:
    """Compress every installed file (except scripts, uv's lock and bytecode) with its path as the name."""
    entries = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not _skipped(relative) and path.suffix != ".pyc":
            entries.append(deflate(relative.as_posix(), path.read_bytes(), mode_for(path.stat().st_mode)))
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
