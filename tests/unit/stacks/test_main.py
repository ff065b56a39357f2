"""main.py: the entry point refuses a bad configuration with exit code 2 and a message naming the setting."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

MAIN = Path(__file__).resolve().parents[3] / "main.py"


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """main.py loaded from the repository root, run against a clean PAYGATE_* environment."""
    import os

    for name in list(os.environ):
        if name.startswith("PAYGATE_"):
            monkeypatch.delenv(name)
    spec = importlib.util.spec_from_file_location("paygate_main", MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_environment_exits_2_naming_the_variable(main: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main() == 2
    assert capsys.readouterr().err == (
        "paygate: configuration error: PAYGATE_ENVIRONMENT is required (the environment suffix, e.g. 'dev')\n"
    )


def test_invalid_setting_exits_2_naming_the_setting(
    main: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "Prod_1")
    assert main.main() == 2
    assert capsys.readouterr().err.startswith("paygate: configuration error: environment 'Prod_1' is invalid")


def test_an_undeclared_environment_exits_2_listing_the_declared_ones(
    main: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "qa")
    assert main.main() == 2
    assert capsys.readouterr().err == (
        "paygate: configuration error: environment 'qa' is not declared: there is no environments/qa.toml "
        "(declared: dev, localstack, production, staging); add the file to declare it\n"
    )


def test_an_invalid_override_exits_2_naming_the_variable_and_the_key(
    main: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("PAYGATE_STATE_REGION", "moon-1")
    assert main.main() == 2
    assert capsys.readouterr().err.startswith(
        "paygate: configuration error: PAYGATE_STATE_REGION (overriding environments/production.toml state.region): "
        "state region 'moon-1'"
    )


def test_invalid_flag_exits_2_naming_the_variable(
    main: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "dev")
    monkeypatch.setenv("PAYGATE_DELETION_PROTECTION", "maybe")
    assert main.main() == 2
    assert "PAYGATE_DELETION_PROTECTION='maybe' is not a boolean" in capsys.readouterr().err


def test_missing_archive_exits_2_naming_the_archive(
    main: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "dev")
    monkeypatch.setenv("PAYGATE_ARTIFACTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("PAYGATE_OUTDIR", str(tmp_path / "out"))

    assert main.main() == 2
    header, err = capsys.readouterr().err.splitlines()
    assert header.startswith("paygate: environment dev from environments/dev.toml: kind localstack")
    assert err.startswith(f"paygate: configuration error: Lambda archive {tmp_path / 'empty'}/")
    assert ".zip is missing: run `make package` before synthesizing" in err
    assert list((tmp_path / "out").rglob("*.json")) == []  # nothing half-synthesized


def test_a_declared_environment_synthesizes_from_its_file_and_reports_the_overrides(
    main: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    artifacts_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PAYGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("PAYGATE_REGION", "us-west-2")
    monkeypatch.setenv("PAYGATE_ARTIFACTS_DIR", str(artifacts_dir))
    monkeypatch.setenv("PAYGATE_OUTDIR", str(tmp_path / "out"))

    assert main.main() == 0
    stack = json.loads((tmp_path / "out" / "stacks" / "paygate" / "cdk.tf.json").read_text())
    assert stack["terraform"]["backend"]["s3"] == {
        "bucket": "paygate-terraform-state-222222222222",
        "key": "production/paygate.tfstate",
        "region": "eu-west-1",
        "encrypt": True,
        "use_lockfile": True,
    }
    assert stack["provider"]["aws"] == [{"region": "us-west-2", "allowed_account_ids": ["222222222222"]}]
    assert len(stack["resource"]["aws_lambda_function"]) == 5
    assert capsys.readouterr().err.splitlines() == [
        "paygate: environment production from environments/production.toml: kind aws, account 222222222222, "
        "region us-west-2, deletion protection on",
        "paygate: PAYGATE_REGION overrides environments/production.toml region ('eu-west-1' -> 'us-west-2')",
        "paygate: the artifact of 'production' differs from what environments/production.toml alone gives: it is "
        "not reproducible from the commit (evidence verification re-synthesizes without overrides)",
    ]
