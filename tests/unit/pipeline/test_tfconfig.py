"""The terraform CLI config: mirror-only for hashicorp/aws when a mirror exists, the registry otherwise."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.core.toolchain import ProviderSource
from pipeline.terraform.tfconfig import render

TEMPLATES = Path(__file__).resolve().parents[3] / "terraform"


def test_mirror_config_names_the_mirror_and_keeps_aws_away_from_the_registry() -> None:
    text = render(ProviderSource(Path("/opt/tf-plugins"), "detected"), TEMPLATES)
    assert 'path    = "/opt/tf-plugins"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'exclude = ["registry.terraform.io/hashicorp/aws"]' in text
    assert "@MIRROR@" not in text


def test_mirror_path_is_quoted_as_a_string_literal() -> None:
    text = render(ProviderSource(Path('/odd "dir"\\x'), "detected"), TEMPLATES)
    assert r'path    = "/odd \"dir\"\\x"' in text


def test_without_a_mirror_the_registry_config_is_used_as_is() -> None:
    text = render(ProviderSource(None, "registry"), TEMPLATES)
    assert text == (TEMPLATES / "registry.tfrc").read_text()
    assert "direct {}" in text and "filesystem_mirror" not in text


def test_rendered_mirror_config_lets_init_install_the_provider_offline(
    tmp_path: Path, sqs_stack: Path, provider_mirror: Path, terraform_binary: Path, machine_settings: Settings
) -> None:
    config = tmp_path / "terraform.tfrc"
    config.write_text(render(ProviderSource(provider_mirror, "detected"), TEMPLATES))
    env = machine_settings.child_env(TF_CLI_CONFIG_FILE=str(config))
    result = run([terraform_binary, "init", "-backend=false", "-input=false", "-no-color"], env=env, cwd=sqs_stack)
    assert result.returncode == 0, result.output
    assert "Installing hashicorp/aws v5.100.0" in result.stdout
