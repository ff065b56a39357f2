"""LocalStack's own Python 3.13 virtualenv, installed from the committed lock; rebuilt only when the lock changes."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.files import sha256_file
from pipeline.runner import run
from pipeline.settings import Settings
from pipeline.toolchain import find_localstack_python

LOCK_FILE = Path("localstack/requirements.lock")
STAMP_NAME = ".synced"  # inside the venv, so deleting the venv also forgets that it was synced
# Bump when the install recipe changes, so existing virtualenvs are rebuilt.
RECIPE = "1"


@dataclass(frozen=True)
class Venv:
    """Where LocalStack's virtualenv lives and whether this call (re)built it."""

    path: Path
    rebuilt: bool
    seconds: float

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def venv_dir(settings: Settings) -> Path:
    return settings.localstack_dir / "venv"


def venv_python(settings: Settings) -> Path:
    return venv_dir(settings) / "bin" / "python"


def stamp_text(lock: Path) -> str:
    """What the stamp holds: the recipe and the sha256 of the lock the venv was synced from."""
    return f"recipe {RECIPE}\nlock sha256 {sha256_file(lock)}\n"


def is_current(settings: Settings, lock: Path) -> bool:
    """Whether the venv exists, its interpreter is there and it was synced from this exact lock."""
    stamp = venv_dir(settings) / STAMP_NAME
    return venv_python(settings).is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == stamp_text(lock)


def ensure(settings: Settings, lock: Path | None = None) -> Venv:
    """Create or refresh the venv from the lock (hashes required) unless it is current."""
    lock = lock or settings.repo_root / LOCK_FILE
    if not lock.is_file():
        raise PipelineError(f"{lock} is missing: it is committed; regenerate it with `make localstack-lock`.")
    target = venv_dir(settings)
    started = time.monotonic()
    if is_current(settings, lock):
        return Venv(target, False, time.monotonic() - started)
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
        [settings.uv, "pip", "sync", "--quiet", "--require-hashes", "--python", target / "bin" / "python", lock],
        env=env,
        cwd=settings.repo_root,
        check="installing LocalStack into its virtualenv",
    )
    (target / STAMP_NAME).write_text(stamp_text(lock), encoding="utf-8")
    return Venv(target, True, time.monotonic() - started)


def require(settings: Settings) -> Path:
    """The venv's interpreter, or a sentence saying how to create it."""
    python = venv_python(settings)
    if not python.is_file():
        raise PipelineError(f"LocalStack's virtualenv is missing ({python}): run `make localstack-venv`.")
    return python
