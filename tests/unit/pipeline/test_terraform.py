"""Offline init + validate and the provider lock file, with the real terraform on a tiny stack.

The passing case runs once, through the CLI (test_cli.py): a validate costs ~3 s of provider schema loading.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.runner import CommandFailed
from pipeline.core.settings import Settings
from pipeline.core.toolchain import ProviderSource
from pipeline.terraform.tfconfig import render
from pipeline.terraform.validate import LOCK_HINT, lock, validate

REPO_ROOT = Path(__file__).resolve().parents[3]
COMMITTED_LOCK = REPO_ROOT / "terraform" / ".terraform.lock.hcl"


@pytest.fixture
def cli_config(tmp_path: Path, provider_mirror: Path) -> Path:
    path = tmp_path / "terraform.tfrc"
    path.write_text(render(ProviderSource(provider_mirror, "detected"), REPO_ROOT / "terraform"))
    return path


def edit_stack(stack: Path, change: str) -> None:
    document = json.loads((stack / "cdk.tf.json").read_text())
    if change == "unknown attribute":
        document["resource"]["aws_sqs_queue"]["payments"]["no_such_argument"] = True
    else:
        document["terraform"]["required_providers"]["aws"]["version"] = change
    (stack / "cdk.tf.json").write_text(json.dumps(document))


def test_invalid_stack_fails_naming_the_step_and_the_error(
    sqs_stack: Path, cli_config: Path, terraform_binary: Path, machine_settings: Settings
) -> None:
    edit_stack(sqs_stack, "unknown attribute")
    with pytest.raises(CommandFailed) as caught:
        validate(
            sqs_stack,
            lock_file=COMMITTED_LOCK,
            cli_config=cli_config,
            terraform=terraform_binary,
            settings=machine_settings,
        )
    assert str(caught.value).startswith(f"terraform validate in {sqs_stack} failed (exit 1)")
    assert 'No argument or block type is named "no_such_argument"' in str(caught.value)


def test_a_provider_version_the_lock_file_does_not_cover_points_at_tf_lock(
    sqs_stack: Path, cli_config: Path, terraform_binary: Path, machine_settings: Settings
) -> None:
    edit_stack(sqs_stack, "5.99.1")
    with pytest.raises(PipelineError) as caught:
        validate(
            sqs_stack,
            lock_file=COMMITTED_LOCK,
            cli_config=cli_config,
            terraform=terraform_binary,
            settings=machine_settings,
        )
    assert str(caught.value).startswith(f"terraform init in {sqs_stack} failed")
    assert str(caught.value).endswith(LOCK_HINT)


def test_an_init_failure_of_another_kind_is_reported_without_the_lock_hint(
    sqs_stack: Path, tmp_path: Path, terraform_binary: Path, machine_settings: Settings
) -> None:
    broken = tmp_path / "broken.tfrc"
    broken.write_text('provider_installation {\n  filesystem_mirror {\n    path = "/nonexistent"\n  }\n}\n')
    with pytest.raises(CommandFailed) as caught:
        validate(
            sqs_stack,
            lock_file=COMMITTED_LOCK,
            cli_config=broken,
            terraform=terraform_binary,
            settings=machine_settings,
        )
    assert str(caught.value).startswith(f"terraform init in {sqs_stack} failed")
    assert LOCK_HINT not in str(caught.value)


def test_missing_stack_or_lock_file_is_one_sentence(
    tmp_path: Path, sqs_stack: Path, machine_settings: Settings
) -> None:
    with pytest.raises(PipelineError, match=r"cdk.tf.json does not exist: synthesize the stack first \(`make synth`\)"):
        validate(
            tmp_path / "empty",
            lock_file=COMMITTED_LOCK,
            cli_config=tmp_path / "x",
            terraform=tmp_path / "tf",
            settings=machine_settings,
        )
    with pytest.raises(PipelineError, match="does not exist: generate it with `make tf-lock`"):
        validate(
            sqs_stack,
            lock_file=tmp_path / "none.hcl",
            cli_config=tmp_path / "x",
            terraform=tmp_path / "tf",
            settings=machine_settings,
        )


def test_the_committed_lock_file_is_what_tf_lock_generates_offline(
    tmp_path: Path, provider_mirror: Path, terraform_binary: Path, machine_settings: Settings
) -> None:
    out = tmp_path / "terraform" / ".terraform.lock.hcl"
    source = ProviderSource(provider_mirror, "detected")
    assert lock(out, source=source, platforms=["linux_amd64"], terraform=terraform_binary, settings=machine_settings)
    assert out.read_text() == COMMITTED_LOCK.read_text()
