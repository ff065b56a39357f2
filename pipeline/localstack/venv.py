"""LocalStack's own Python 3.13 virtualenv, installed from the committed lock; rebuilt only when the lock changes.

The project package is installed into it too (``--no-deps``), for its LocalStack plugins
(``localstack_ext/``, entry points in ``pyproject.toml``); it is reinstalled alone, in about a second,
when ``pyproject.toml`` or ``localstack_ext/`` change.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file
from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.core.toolchain import find_localstack_python

LOCK_FILE = Path("localstack/requirements.lock")
STAMP_NAME = ".synced"  # inside the venv, so deleting the venv also forgets that it was synced
# Bump when the install recipe changes, so existing virtualenvs are rebuilt.
RECIPE = "2"
# What LocalStack loads from the project package: a change to these reinstalls it into the venv.
PROJECT_FILES = ("pyproject.toml",)
PLUGIN_PACKAGE = "localstack_ext"


@dataclass(frozen=True)
class Venv:
    """Where LocalStack's virtualenv lives and whether this call (re)built it."""

    path: Path
    rebuilt: bool
    seconds: float
    project_installed: bool = False

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def venv_dir(settings: Settings) -> Path:
    return settings.localstack_dir / "venv"


def venv_python(settings: Settings) -> Path:
    return venv_dir(settings) / "bin" / "python"


def lock_stamp(lock: Path) -> str:
    """The first part of the stamp: the recipe and the sha256 of the lock the venv was synced from."""
    return f"recipe {RECIPE}\nlock sha256 {sha256_file(lock)}\n"


def project_digest(project: Path) -> str:
    """sha256 over ``pyproject.toml`` and every file of ``localstack_ext/`` (paths and contents)."""
    digest = hashlib.sha256()
    files = [project / name for name in PROJECT_FILES]
    files += sorted(
        path for path in (project / PLUGIN_PACKAGE).rglob("*") if path.is_file() and "__pycache__" not in path.parts
    )
    for path in files:
        digest.update(path.relative_to(project).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def stamp_text(lock: Path, project: Path) -> str:
    """What the stamp holds: the lock part and the digest of the project package installed from ``project``."""
    return f"{lock_stamp(lock)}project sha256 {project_digest(project)}\n"


def _stamp(settings: Settings) -> str | None:
    stamp = venv_dir(settings) / STAMP_NAME
    return stamp.read_text(encoding="utf-8") if venv_python(settings).is_file() and stamp.is_file() else None


def is_current(settings: Settings, lock: Path, project: Path | None = None) -> bool:
    """Whether the venv exists and was synced from this exact lock and this project package."""
    return _stamp(settings) == stamp_text(lock, project or settings.repo_root)


def ensure(settings: Settings, lock: Path | None = None, project: Path | None = None) -> Venv:
    """Create or refresh the venv from the lock (hashes required) unless it is current; install the project.

    ``project`` (default: the repository) is installed ``--no-deps`` after a sync, and alone when only
    it changed since the last one.
    """
    lock = lock or settings.repo_root / LOCK_FILE
    project = project or settings.repo_root
    if not lock.is_file():
        raise PipelineError(f"{lock} is missing: it is committed; regenerate it with `make localstack-lock`.")
    target = venv_dir(settings)
    started = time.monotonic()
    if is_current(settings, lock, project):
        return Venv(target, False, time.monotonic() - started)
    stamp = _stamp(settings)
    if stamp is not None and stamp.startswith(lock_stamp(lock)):
        _install_project(settings, project)
        (target / STAMP_NAME).write_text(stamp_text(lock, project), encoding="utf-8")
        return Venv(target, False, time.monotonic() - started, project_installed=True)
    interpreter = find_localstack_python(settings)
    shutil.rmtree(target, ignore_errors=True)
    env = settings.child_env()
    run(
        [settings.uv, "venv", "--quiet", "--python", interpreter.path, target],
        env=env,
        cwd=settings.repo_root,
        check="creating LocalStack's virtualenv",
    )
    run(
        # Not --compile-bytecode: measured in `make test` from a fresh clone, compiling this venv cost 23-32 CPU s
        # and saved ~2 s per LocalStack start (~10 starts), although this machine sets PYTHONDONTWRITEBYTECODE=1.
        [settings.uv, "pip", "sync", "--quiet", "--require-hashes", "--python", target / "bin" / "python", lock],
        env=env,
        cwd=settings.repo_root,
        check="installing LocalStack into its virtualenv",
    )
    _install_project(settings, project)
    (target / STAMP_NAME).write_text(stamp_text(lock, project), encoding="utf-8")
    return Venv(target, True, time.monotonic() - started, project_installed=True)


def _install_project(settings: Settings, project: Path) -> None:
    """Install (or reinstall) the project package alone: LocalStack finds its plugins' entry points there."""
    if not (project / "pyproject.toml").is_file():
        raise PipelineError(
            f"{project} has no pyproject.toml: it is not the project to install into LocalStack's venv."
        )
    # --offline: hatchling (the build backend) is in the uv cache since `make venv` built the project.
    argv: list[str | Path] = [settings.uv, "pip", "install", "--quiet", "--offline", "--no-deps", "--reinstall"]
    run(
        [*argv, "--python", venv_python(settings), project],
        env=settings.child_env(),
        cwd=settings.repo_root,
        check="installing the project's LocalStack plugins into LocalStack's virtualenv (run `make venv` first)",
    )


def require(settings: Settings) -> Path:
    """The venv's interpreter, or a sentence saying how to create it."""
    python = venv_python(settings)
    if not python.is_file():
        raise PipelineError(f"LocalStack's virtualenv is missing ({python}): run `make localstack-venv`.")
    return python
