"""Fixtures for the pipeline harness tests: settings on a scratch repo, executables, a tiny wheel, real tools."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import textwrap
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from pipeline.core.runner import run
from pipeline.core.settings import Settings, from_environ
from pipeline.core.toolchain import find_provider_source

REPO_ROOT = Path(__file__).resolve().parents[3]
UV = REPO_ROOT / "build" / "tools" / "bin" / "uv"
PYTHON = Path(sys.executable)  # the project venv's interpreter: Python 3.12
SettingsFactory = Callable[..., Settings]
ExecutableFactory = Callable[[str, str], Path]


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


@pytest.fixture
def make_settings(scratch_repo: Path, tmp_path: Path) -> SettingsFactory:
    """Settings from an explicit environment: this machine's PATH, the bootstrap uv, caches under tmp, plus ``env``."""
    assert UV.is_file(), f"{UV} is missing: run `make venv` (it bootstraps uv)"

    def factory(**env: str) -> Settings:
        environ = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path / "home"),
            "PAYGATE_UV": str(UV),
            "PAYGATE_CACHE_DIR": str(tmp_path / "cache"),
            **env,
        }
        return from_environ(environ, scratch_repo)

    return factory


@pytest.fixture
def machine_settings(tmp_path: Path) -> Settings:
    """Settings as the CLI builds them on this machine (its PATH, pyenv, mirror), rooted at the repository."""
    environ = {**os.environ, "PAYGATE_UV": str(UV), "PAYGATE_CACHE_DIR": str(tmp_path / "cache")}
    environ.pop("UV_CACHE_DIR", None)
    return from_environ(environ, REPO_ROOT)


@pytest.fixture
def make_executable(tmp_path: Path) -> ExecutableFactory:
    """Write a shell script standing in for a program in a state this machine does not have (old, broken)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def factory(name: str, body: str) -> Path:
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
        path.chmod(0o755)
        return path

    return factory


@pytest.fixture(scope="session")
def terraform_binary() -> Path:
    """The real terraform (a prerequisite `make doctor` checks; its absence fails the tests, never skips them)."""
    found = shutil.which("terraform")
    assert found, "terraform is not on PATH: these tests run the real terraform (see `make doctor`)"
    return Path(found)


@pytest.fixture(scope="session")
def provider_mirror() -> Path:
    """This machine's unpacked provider mirror, found the way `doctor` finds it."""
    source = find_provider_source(from_environ(dict(os.environ), REPO_ROOT))
    assert source.mirror is not None, f"these tests need the provider mirror: {source.describe()}"
    return source.mirror


def wheel_bytes(name: str, version: str, files: Mapping[str, bytes], scripts: Mapping[str, str]) -> bytes:
    """A minimal valid ``py3-none-any`` wheel holding ``files`` and console ``scripts``."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        lines = "".join(f"{script} = {target}\n" for script, target in scripts.items())
        contents[f"{dist_info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()

    def record_line(path: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{path},sha256={digest},{len(data)}\n"

    record = "".join(record_line(path, data) for path, data in contents.items()) + f"{dist_info}/RECORD,,\n"
    contents[f"{dist_info}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for member, data in contents.items():
            wheel.writestr(member, data)
    return buffer.getvalue()


def write_uv_project(root: Path, settings: Settings, *, dependencies: bool = True) -> None:
    """A locked uv project whose ``lambda`` group is one local wheel (``tiny-dep``, with a console script) or empty."""
    wheels = root / "wheels"
    wheels.mkdir(exist_ok=True)
    module = {"tiny_dep/__init__.py": b"def main() -> int:\n    return 0\n"}
    wheel = wheel_bytes("tiny_dep", "1.0", module, {"tiny": "tiny_dep:main"})
    (wheels / "tiny_dep-1.0-py3-none-any.whl").write_bytes(wheel)
    group = '["tiny-dep"]' if dependencies else "[]"
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "fixture"
            version = "0"
            requires-python = ">=3.12"
            dependencies = []

            [dependency-groups]
            lambda = {group}

            [tool.uv.sources]
            tiny-dep = {{ path = "wheels/tiny_dep-1.0-py3-none-any.whl" }}
            """
        )
    )
    run([settings.uv, "lock", "--offline", "--python", PYTHON], env=settings.child_env(), cwd=root, check="uv lock")


def git_env(**overrides: str) -> dict[str, str]:
    """An environment for git without the user's or the system's git configuration (HOME points nowhere)."""
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    env |= {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "test"}
    return env | {"GIT_COMMITTER_EMAIL": "t@example.invalid", **overrides}


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with :func:`git_env`."""
    return run(["git", *args], env=git_env(), cwd=root, check=f"git {args[0]}").stdout


def write_function_code(root: Path, functions: Mapping[str, str]) -> None:
    """``lambdas/<key>/handler.py`` for every function, plus shared code and a contract, added to git
    (the archives hold tracked files only)."""
    files = {
        "lambdas/__init__.py": "",
        "lambdas/shared/__init__.py": "",
        "lambdas/shared/runtime.py": "SHARED = 1\n",
        "contracts/__init__.py": "",
        "contracts/schemas/payment.schema.json": '{"type": "object"}\n',
    }
    for key in functions:
        files[f"lambdas/{key}/__init__.py"] = ""
        files[f"lambdas/{key}/handler.py"] = f"def handler(event, context):\n    return {key!r}\n"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "init", "--quiet")
    git(root, "add", "--", *files)


@pytest.fixture
def uv_project() -> Callable[..., None]:
    return write_uv_project


@pytest.fixture
def function_code() -> Callable[[Path, Mapping[str, str]], None]:
    return write_function_code


@pytest.fixture
def run_git() -> Callable[..., str]:
    """``run_git(root, *args)``: git in ``root``, without the user's git configuration."""
    return git


@pytest.fixture
def git_environ() -> dict[str, str]:
    """The environment :func:`run_git` uses (what the package step gets from the settings)."""
    return git_env()


@pytest.fixture
def sqs_stack(tmp_path: Path) -> Path:
    """A copy of the tiny synthesized stack (provider + one aws_sqs_queue) in a scratch dir."""
    stack = tmp_path / "stack"
    shutil.copytree(Path(__file__).parent / "fixtures" / "sqs_stack", stack)
    return stack
