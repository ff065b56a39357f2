"""Frozen settings of a pipeline run, built once from the environment by the CLI entry point."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

# Where terraform (and distribution packages) usually put an unpacked provider mirror.
DEFAULT_MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path("/usr/share/terraform/plugins"),
    Path("/usr/local/share/terraform/plugins"),
)


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline step may know about the machine; nothing below the CLI reads ``os.environ``."""

    repo_root: Path
    environ: Mapping[str, str] = field(repr=False)
    python: Path | None = None
    localstack_python: Path | None = None
    provider_mirror: Path | None = None
    mirror_candidates: tuple[Path, ...] = DEFAULT_MIRROR_CANDIDATES
    uv: Path = Path("build/tools/bin/uv")
    cache_dir: Path = Path("build/cache")
    uv_cache_dir: Path = Path("build/cache/uv")
    checkov: Path = Path(".venv/bin/checkov")
    localstack_dir: Path = Path("build/localstack")
    signing_key: Path | None = None  # PEM ed25519 private key of the evidence (pipeline.evidence.signing)

    @property
    def path(self) -> str:
        """Search path for executables (the ``PATH`` the pipeline was started with)."""
        return self.environ.get("PATH", os.defpath)

    def child_env(self, **overrides: str) -> dict[str, str]:
        """Environment for a subprocess: the caller's, with caches kept out of the home folder."""
        env = dict(self.environ)
        env["UV_CACHE_DIR"] = str(self.uv_cache_dir)
        env["UV_PYTHON_DOWNLOADS"] = "never"
        env["CHECKPOINT_DISABLE"] = "1"
        env["TF_IN_AUTOMATION"] = "1"
        env.update(overrides)
        return env


def from_environ(environ: Mapping[str, str], cwd: Path) -> Settings:
    """Build settings from the environment (the CLI passes ``os.environ``); relative paths resolve from ``cwd``.

    Read: ``PAYGATE_REPO_ROOT`` (default: ``cwd``), ``PAYGATE_PYTHON``, ``TF_PROVIDER_MIRROR``,
    ``PAYGATE_TF_MIRROR_CANDIDATES`` (``os.pathsep``-separated, searched before the defaults),
    ``PAYGATE_UV`` (default ``build/tools/bin/uv``), ``PAYGATE_CACHE_DIR`` (default ``build/cache``),
    ``UV_CACHE_DIR`` (default ``<cache dir>/uv``), ``PAYGATE_CHECKOV`` (default ``.venv/bin/checkov``),
    ``PAYGATE_LOCALSTACK_PYTHON`` (a Python 3.13 for LocalStack's virtualenv), ``PAYGATE_LOCALSTACK_DIR``
    (default ``build/localstack``: its virtualenv, run directory and state file), ``PAYGATE_SIGNING_KEY`` (a PEM
    ed25519 private key that signs evidence and audit records; unset: a throwaway local key).
    """
    root = (cwd / environ.get("PAYGATE_REPO_ROOT", ".")).resolve()

    def path(name: str, default: str | Path) -> Path:
        return root / (environ.get(name) or default)

    def optional(name: str) -> Path | None:
        value = environ.get(name)
        return root / value if value else None

    def executable(name: str) -> Path | None:
        # A bare name ("python3.12") is looked up on PATH later; anything with a slash is a path.
        value = environ.get(name)
        if not value:
            return None
        return root / value if os.sep in value else Path(value)

    extra = tuple(Path(p) for p in environ.get("PAYGATE_TF_MIRROR_CANDIDATES", "").split(os.pathsep) if p)
    cache_dir = path("PAYGATE_CACHE_DIR", "build/cache")
    return Settings(
        repo_root=root,
        environ=MappingProxyType(dict(environ)),
        python=executable("PAYGATE_PYTHON"),
        localstack_python=executable("PAYGATE_LOCALSTACK_PYTHON"),
        provider_mirror=optional("TF_PROVIDER_MIRROR"),
        mirror_candidates=extra + DEFAULT_MIRROR_CANDIDATES,
        uv=path("PAYGATE_UV", "build/tools/bin/uv"),
        cache_dir=cache_dir,
        uv_cache_dir=path("UV_CACHE_DIR", cache_dir / "uv"),
        checkov=path("PAYGATE_CHECKOV", ".venv/bin/checkov"),
        localstack_dir=path("PAYGATE_LOCALSTACK_DIR", "build/localstack"),
        signing_key=optional("PAYGATE_SIGNING_KEY"),
    )
