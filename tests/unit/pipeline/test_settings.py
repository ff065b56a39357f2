"""Settings are built once from an explicit environment; children get caches outside the home folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pipeline.core.settings import DEFAULT_MIRROR_CANDIDATES, from_environ


def test_defaults_resolve_under_the_repository(tmp_path: Path) -> None:
    settings = from_environ({}, tmp_path)
    assert settings.repo_root == tmp_path.resolve()
    assert settings.uv == tmp_path / "build/tools/bin/uv"
    assert settings.cache_dir == tmp_path / "build/cache"
    assert settings.uv_cache_dir == tmp_path / "build/cache/uv"
    assert settings.python is None and settings.provider_mirror is None
    assert settings.mirror_candidates == DEFAULT_MIRROR_CANDIDATES
    assert settings.path == os.defpath


def test_every_setting_is_read_from_its_variable(tmp_path: Path) -> None:
    environ = {
        "PAYGATE_REPO_ROOT": "sub",
        "PAYGATE_PYTHON": "/opt/py/bin/python3.12",
        "TF_PROVIDER_MIRROR": "mirror",
        "PAYGATE_TF_MIRROR_CANDIDATES": f"/a{os.pathsep}{os.pathsep}/b",
        "PAYGATE_UV": "/usr/bin/uv",
        "PAYGATE_CACHE_DIR": "/var/cache/paygate",
        "UV_CACHE_DIR": "/var/cache/uv",
        "PAYGATE_LOCALSTACK_PYTHON": "python3.13",
        "PAYGATE_LOCALSTACK_DIR": "ls",
        "PATH": "/bin",
    }
    settings = from_environ(environ, tmp_path)
    root = tmp_path.resolve() / "sub"
    assert settings.repo_root == root
    assert settings.python == Path("/opt/py/bin/python3.12")
    assert settings.provider_mirror == root / "mirror"
    assert settings.mirror_candidates == (Path("/a"), Path("/b"), *DEFAULT_MIRROR_CANDIDATES)
    assert (settings.uv, settings.cache_dir, settings.uv_cache_dir) == (
        Path("/usr/bin/uv"),
        Path("/var/cache/paygate"),
        Path("/var/cache/uv"),
    )
    assert settings.path == "/bin"
    assert (settings.localstack_python, settings.localstack_dir) == (Path("python3.13"), root / "ls")


def test_a_bare_interpreter_name_is_kept_for_a_path_lookup(tmp_path: Path) -> None:
    assert from_environ({"PAYGATE_PYTHON": "python3.12"}, tmp_path).python == Path("python3.12")


def test_settings_are_frozen_and_do_not_follow_later_environment_changes(tmp_path: Path) -> None:
    environ = {"PATH": "/bin"}
    settings = from_environ(environ, tmp_path)
    environ["PATH"] = "/changed"
    assert settings.path == "/bin"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.python = Path("x")  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.environ["PATH"] = "/x"  # type: ignore[index]
    assert "environ" not in repr(settings)


def test_child_environment_keeps_caches_out_of_home_and_applies_overrides(tmp_path: Path) -> None:
    settings = from_environ({"PATH": "/bin", "UV_PYTHON_DOWNLOADS": "automatic"}, tmp_path)
    env = settings.child_env(TF_CLI_CONFIG_FILE="/x.tfrc")
    assert env["PATH"] == "/bin"
    assert env["UV_CACHE_DIR"] == str(tmp_path / "build/cache/uv")
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert env["TF_CLI_CONFIG_FILE"] == "/x.tfrc"
