"""pipeline.artifact: one digest over the stack's files, and the evidence that the policy gate passed it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import artifact
from pipeline.errors import PipelineError

NOW = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
# What terraform and the pipeline put next to a stack: never part of the artifact.
NOT_ARTIFACT = (
    ".terraform/providers/registry.terraform.io/hashicorp/aws/provider.bin",
    ".terraform/terraform.tfstate",
    "backend_override.tf.json",
    "provider_override.tf.json",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    "tfplan",
    ".terraform.lock.hcl",
    ".terraform.tfstate.lock.info",
    "assets/.terraform",  # a file of that name too (terraform's data dir is never an artifact)
)


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A synthesized stack directory: cdk.tf.json and two Lambda archives under assets/."""
    root = tmp_path / "stack"
    files = {
        "cdk.tf.json": '{"resource": {}}\n',
        "assets/payments/archive.zip": "payments zip",
        "assets/refunds/archive.zip": "refunds zip",
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def add_files(root: Path, relatives: tuple[str, ...]) -> None:
    for relative in relatives:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(f"not the artifact: {relative}")


def test_the_digest_is_sha256_over_each_file_hash_and_relative_path_sorted(stack: Path) -> None:
    names = ["assets/payments/archive.zip", "assets/refunds/archive.zip", "cdk.tf.json"]
    hashes = [hashlib.sha256((stack / name).read_bytes()).hexdigest() for name in names]
    expected = hashlib.sha256("".join(f"{sha}  {name}\n" for sha, name in zip(hashes, names, strict=True)).encode())

    found = artifact.digest(stack)

    assert found.sha256 == expected.hexdigest()
    assert found.files == tuple(zip(names, hashes, strict=True))
    assert found.short == expected.hexdigest()[:12]


def test_terraform_and_pipeline_additions_are_not_part_of_the_artifact(stack: Path) -> None:
    before = artifact.digest(stack)
    add_files(stack, NOT_ARTIFACT)

    assert artifact.digest(stack) == before
    assert [p.as_posix() for p in artifact.artifact_files(stack)] == [
        "assets/payments/archive.zip",
        "assets/refunds/archive.zip",
        "cdk.tf.json",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "assets/refunds/archive.zip").write_text("refunds zip, rebuilt"),
        lambda root: (root / "cdk.tf.json").write_text('{"resource": {"x": {}}}\n'),
        lambda root: (root / "assets/refunds/archive.zip").rename(root / "assets/refunds/other.zip"),
        lambda root: (root / "extra.tf.json").write_text("{}"),
        lambda root: (root / "assets/payments/archive.zip").unlink(),
    ],
    ids=["asset-content", "stack-content", "asset-renamed", "file-added", "asset-removed"],
)
def test_any_change_to_the_artifact_changes_the_digest(stack: Path, change: Callable[[Path], object]) -> None:
    before = artifact.digest(stack).sha256
    change(stack)
    assert artifact.digest(stack).sha256 != before


def test_a_directory_without_cdk_tf_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    with pytest.raises(PipelineError) as caught:
        artifact.digest(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'cdk.tf.json'} does not exist: synthesize the stack first (`make synth`)."
    )


def test_recorded_evidence_names_the_digest_the_inputs_and_the_time(stack: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"planned": true}')
    out = tmp_path / "policy"

    evidence = artifact.record_evidence(out, stack, [stack / "cdk.tf.json", plan], NOW)

    written = json.loads((out / "evidence.json").read_text())
    assert written == {
        "artifact_sha256": artifact.digest(stack).sha256,
        "stack_dir": str(stack),
        "inputs": [
            [str(stack / "cdk.tf.json"), hashlib.sha256((stack / "cdk.tf.json").read_bytes()).hexdigest()],
            [str(plan), hashlib.sha256(b'{"planned": true}').hexdigest()],
        ],
        "passed_at": "2026-03-01T12:30:15+00:00",
    }
    assert evidence.artifact_sha256 == written["artifact_sha256"]
    assert (out / "evidence.json").read_text() == evidence.to_json()


def test_forgetting_evidence_removes_it_and_is_idempotent(stack: Path, tmp_path: Path) -> None:
    out = tmp_path / "policy"
    artifact.record_evidence(out, stack, [stack / "cdk.tf.json"], NOW)
    artifact.forget_evidence(out)
    assert not (out / "evidence.json").exists()
    artifact.forget_evidence(out)
    artifact.forget_evidence(tmp_path / "never-created")


def test_evidence_for_the_unchanged_artifact_is_accepted(stack: Path, tmp_path: Path) -> None:
    artifact.record_evidence(tmp_path, stack, [stack / "cdk.tf.json"], NOW)
    add_files(stack, NOT_ARTIFACT)  # terraform working in the stack dir does not void the evidence
    assert artifact.require_evidence(tmp_path / "evidence.json", stack) == artifact.digest(stack)


def test_missing_evidence_is_refused_with_the_command_to_run(stack: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.json"
    with pytest.raises(PipelineError) as caught:
        artifact.require_evidence(evidence, stack)
    assert str(caught.value) == (
        f"no policy evidence at {evidence}: the artifact has not passed the policy gate (`make policy`)."
    )


@pytest.mark.parametrize("text", ["not json", '{"stack_dir": "x"}', '["artifact_sha256"]', '"artifact_sha256"', "null"])
def test_corrupt_evidence_is_refused(stack: Path, tmp_path: Path, text: str) -> None:
    evidence = tmp_path / "evidence.json"
    evidence.write_text(text)
    with pytest.raises(PipelineError) as caught:
        artifact.require_evidence(evidence, stack)
    message = str(caught.value)
    assert message.startswith(f"{evidence} is not policy evidence (")
    assert message.endswith("): run `make policy` again.")


def test_a_changed_artifact_is_refused_naming_both_digests(stack: Path, tmp_path: Path) -> None:
    passed = artifact.record_evidence(tmp_path, stack, [stack / "cdk.tf.json"], NOW).artifact_sha256
    (stack / "assets/payments/archive.zip").write_text("payments zip, changed after the gate")
    now = artifact.digest(stack)
    with pytest.raises(PipelineError) as caught:
        artifact.require_evidence(tmp_path / "evidence.json", stack)
    assert str(caught.value) == (
        f"the artifact in {stack} (sha256 {now.short}) is not the one the policy gate passed "
        f"({passed[:12]}): run `make policy` on it before deploying."
    )


def test_evidence_for_another_stack_dir_with_the_same_files_is_accepted(stack: Path, tmp_path: Path) -> None:
    artifact.record_evidence(tmp_path, stack, [stack / "cdk.tf.json"], NOW)
    copy = artifact.copy_artifact(stack, tmp_path / "elsewhere", artifact.digest(stack))
    assert artifact.require_evidence(tmp_path / "evidence.json", tmp_path / "elsewhere") == copy


def test_copy_holds_the_artifact_files_only_and_replaces_an_old_copy(stack: Path, tmp_path: Path) -> None:
    add_files(stack, NOT_ARTIFACT)
    target = tmp_path / "run" / "stack"
    add_files(target, ("stale.tf.json", "terraform.tfstate"))

    copied = artifact.copy_artifact(stack, target, artifact.digest(stack))

    assert copied == artifact.digest(stack)
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "assets/payments/archive.zip",
        "assets/refunds/archive.zip",
        "cdk.tf.json",
    ]
    assert (target / "assets/refunds/archive.zip").read_text() == "refunds zip"
    assert not (target / "assets/refunds/archive.zip").is_symlink()
    assert (stack / "tfplan").is_file(), "the source stack stays as it was"


def test_copy_into_a_new_directory_creates_it(stack: Path, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert artifact.copy_artifact(stack, target, artifact.digest(stack)).sha256 == artifact.digest(stack).sha256
    assert (target / "cdk.tf.json").is_file()


def test_a_copy_that_is_not_the_checked_artifact_is_refused(stack: Path, tmp_path: Path) -> None:
    checked = artifact.digest(stack)
    (stack / "cdk.tf.json").write_text('{"rewritten": true}')  # a re-synth between the check and the copy

    with pytest.raises(PipelineError, match=r"is not the checked artifact \(" + checked.short):
        artifact.copy_artifact(stack, tmp_path / "copy", checked)


def test_files_are_ordered_by_the_text_of_their_relative_path_not_by_path_parts(stack: Path) -> None:
    """`assets-manifest.json` sorts before `assets/...` as text ('-' < '/'); a parts-wise sort puts it after."""
    (stack / "assets-manifest.json").write_text("{}")
    names = ["assets-manifest.json", "assets/payments/archive.zip", "assets/refunds/archive.zip", "cdk.tf.json"]
    hashes = [hashlib.sha256((stack / name).read_bytes()).hexdigest() for name in names]
    expected = hashlib.sha256("".join(f"{sha}  {name}\n" for sha, name in zip(hashes, names, strict=True)).encode())

    found = artifact.digest(stack)

    assert [name for name, _ in found.files] == names
    assert found.sha256 == expected.hexdigest()


def test_the_evidence_file_is_indented_json_with_sorted_keys(stack: Path, tmp_path: Path) -> None:
    """Reviewers diff evidence files: one key per line, in a fixed order, ending in a newline."""
    evidence = artifact.record_evidence(tmp_path, stack, [], NOW)
    assert (tmp_path / "evidence.json").read_text() == (
        "{\n"
        f'  "artifact_sha256": "{evidence.artifact_sha256}",\n'
        '  "inputs": [],\n'
        '  "passed_at": "2026-03-01T12:30:15+00:00",\n'
        f'  "stack_dir": "{stack}"\n'
        "}\n"
    )
