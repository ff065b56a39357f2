"""pipeline.build.artifact: one digest over the stack's files, and the evidence that the policy gate passed it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.build import artifact
from pipeline.build.dependencies import Target, prepare_layer
from pipeline.build.package import build
from pipeline.core.errors import PipelineError
from pipeline.core.runner import run
from pipeline.core.settings import from_environ
from stacks.constants import FUNCTION_HANDLERS, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME

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
# What else may lie in a stack directory: a file browser's or an editor's files, the asset folder of a
# function an earlier synth had (cdktf never removes it). Never part of the artifact either.
STRAY = (
    ".DS_Store",
    "assets/.DS_Store",
    ".cdk.tf.json.swp",
    "cdk.tf.json~",
    "assets/payments/archive.zip.orig",
    "assets/old-function_archive_1A2B3C4D/0123456789ABCDEF/old_function.zip",
    "notes.txt",
)
STACK_JSON = json.dumps(
    {
        "resource": {
            "aws_lambda_function": {
                "payments": {"filename": "assets/payments/archive.zip"},
                "refunds": {"filename": "assets/refunds/archive.zip", "description": "not assets/ a path"},
            }
        }
    }
)


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """A synthesized stack directory: cdk.tf.json and two Lambda archives under assets/."""
    root = tmp_path / "stack"
    files = {
        "cdk.tf.json": STACK_JSON,
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
        lambda root: (root / "cdk.tf.json").write_text(STACK_JSON.replace("}}}}", '}, "x": {}}}}')),
        lambda root: (root / "extra.tf.json").write_text("{}"),
        lambda root: (root / "main.tf").write_text(""),
    ],
    ids=["asset-content", "stack-content", "configuration-added", "hcl-configuration-added"],
)
def test_any_change_to_the_artifact_changes_the_digest(stack: Path, change: Callable[[Path], object]) -> None:
    before = artifact.digest(stack).sha256
    change(stack)
    assert artifact.digest(stack).sha256 != before


def test_files_that_are_neither_configuration_nor_named_assets_are_not_part_of_the_artifact(
    stack: Path, tmp_path: Path
) -> None:
    before = artifact.digest(stack)
    add_files(stack, STRAY)

    assert artifact.digest(stack) == before
    copied = artifact.copy_artifact(stack, tmp_path / "copy", before)
    assert copied == before
    assert sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*")) == [
        "assets",
        "assets/payments",
        "assets/payments/archive.zip",
        "assets/refunds",
        "assets/refunds/archive.zip",
        "cdk.tf.json",
    ]


def test_an_asset_named_inside_a_list_is_part_of_the_artifact(stack: Path) -> None:
    # HCL's JSON syntax allows a list of objects for a block, and arguments such as layers are lists.
    add_files(stack, ("assets/layer/0A1B/layer.zip",))
    listed = '}, "layered": [{"layers": ["assets/layer/0A1B/layer.zip"]}]}}}'
    (stack / "cdk.tf.json").write_text(STACK_JSON.replace("}}}}", listed))
    assert "assets/layer/0A1B/layer.zip" in [p.as_posix() for p in artifact.artifact_files(stack)]


def test_a_directory_asset_brings_every_file_under_it(stack: Path) -> None:
    add_files(stack, ("assets/site/0A1B/index.html", "assets/site/0A1B/css/app.css"))
    (stack / "cdk.tf.json").write_text(STACK_JSON.replace("}}}}", '}, "site": {"source": "assets/site/0A1B/"}}}}'))
    assert [p.as_posix() for p in artifact.artifact_files(stack)] == [
        "assets/payments/archive.zip",
        "assets/refunds/archive.zip",
        "assets/site/0A1B/css/app.css",
        "assets/site/0A1B/index.html",
        "cdk.tf.json",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "assets/payments/archive.zip").unlink(),
        lambda root: (root / "assets/refunds/archive.zip").rename(root / "assets/refunds/other.zip"),
    ],
    ids=["asset-removed", "asset-renamed"],
)
def test_a_named_asset_that_is_missing_is_not_part_of_the_artifact(
    stack: Path, change: Callable[[Path], object]
) -> None:
    before = artifact.digest(stack)
    change(stack)
    after = artifact.digest(stack)
    assert after.sha256 != before.sha256
    assert [name for name, _ in after.files] == [name for name, _ in before.files if (stack / name).is_file()]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (STACK_JSON.replace("assets/refunds", "assets/../../x"), "names the asset assets/../../x/archive.zip, outside"),
        ("{not json", "cdk.tf.json is not JSON"),
    ],
    ids=["asset-outside", "not-json"],
)
def test_a_stack_naming_an_asset_outside_it_or_not_json_is_refused(stack: Path, content: str, message: str) -> None:
    (stack / "cdk.tf.json").write_text(content)
    with pytest.raises(PipelineError, match=re.escape(message)):
        artifact.digest(stack)


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


# --- the same commit gives the same artifact ---------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[3]
# Issue 10, item 8, and more of what lies around in a developer's checkout.
PLANTED = {
    "lambdas/shared/.env": "PSP_SECRET=sk_live_51HqLyjWDarjtT1zdp7dcXpTq\n",
    "lambdas/api_handler/notes.txt.swp": "b0VIM 9.0 swap file",
    "lambdas/api_handler/scratch.py": "DEBUG = True\n",
    "lambdas/shared/money.py~": "backup\n",
    "lambdas/.DS_Store": "Bud1",
    "lambdas/shared/__pycache__/money.cpython-312.pyc": "stale bytecode",
    "contracts/schemas/draft.schema.json": "{}",
    "cdktf.out/stacks/paygate/.DS_Store": "Bud1",  # before synth: the stack dir is not cleaned by cdktf
    "cdktf.out/stacks/paygate/assets/old-function_archive_0BADF00D/0123/old.zip": "a function since removed",
}


SYNTH_EACH = """
import os, runpy, sys
for clone in sys.argv[1:]:
    os.chdir(clone)
    os.environ["PAYGATE_OUTDIR"] = os.path.join(clone, "cdktf.out")  # node's working directory stays the first
    try:
        runpy.run_path("main.py", run_name="__main__")
    except SystemExit as done:
        if done.code:
            raise
"""


def clone_and_package(destination: Path, *, umask: int, environ: dict[str, str], plant: dict[str, str]) -> Path:
    """Clone the repository's HEAD to ``destination`` (under ``umask``), plant ``plant``, then package as
    `make package` does there (the real lock; the layer installed offline into a cache of its own)."""
    git_env = {"PATH": environ["PATH"], "HOME": str(destination.parent / "home"), "GIT_CONFIG_NOSYSTEM": "1"}
    previous = os.umask(umask)
    try:
        run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(destination)], env=git_env, check="clone")
    finally:
        os.umask(previous)
    run(["git", "checkout", "--quiet", "--detach", head_commit()], env=git_env, cwd=destination, check="checkout")
    for relative, text in plant.items():
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        (destination / relative).write_text(text)
    for path in (destination / "lambdas").rglob("*.py"):
        os.utime(path, (1_234_567_890, 1_234_567_890))
    settings = from_environ(
        {
            **environ,
            "PAYGATE_REPO_ROOT": str(destination),
            "PAYGATE_UV": str(REPO_ROOT / "build/tools/bin/uv"),
            "PAYGATE_CACHE_DIR": str(destination / "build/cache"),
            "UV_CACHE_DIR": str(REPO_ROOT / "build/cache/uv"),  # downloads only: the layer is installed anew
            "UV_OFFLINE": "1",
        },
        destination,
    )
    layer = prepare_layer(settings, Target.for_lambda(LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE), Path(sys.executable))
    build(
        FUNCTION_HANDLERS,
        repo_root=destination,
        out_dir=destination / "build/dist",
        layer=layer,
        env=settings.child_env(),
    )
    return destination


def synthesize(clones: list[Path], environ: dict[str, str]) -> None:
    """main.py in each clone, as `make synth` runs it (one process: the provider binding loads once)."""
    synth_env = {
        **environ,
        "PAYGATE_ENVIRONMENT": "dev",
        "PAYGATE_ARTIFACTS_DIR": "build/dist",
        "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(REPO_ROOT / "build/cache/jsii"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    run([sys.executable, "-c", SYNTH_EACH, *map(str, clones)], env=synth_env, check="synth", timeout=900)


def head_commit() -> str:
    environ = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
    return run(["git", "rev-parse", "HEAD"], env=environ, cwd=REPO_ROOT, check="git rev-parse").stdout.strip()


def test_the_same_commit_gives_the_same_archives_and_digest_in_a_dirty_clone_elsewhere(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PAYGATE_", "UV_", "LC_", "LANG", "GIT_"))}
    clean = clone_and_package(tmp_path / "clean", umask=0o022, environ={**base, "LC_ALL": "C.UTF-8"}, plant={})
    dirty = clone_and_package(
        tmp_path / "other" / "deeper" / "checkout",
        umask=0o077,
        environ={**base, "LANG": "tr_TR.UTF-8", "TZ": "Pacific/Kiritimati"},
        plant=PLANTED,
    )
    synthesize([clean, dirty], base)

    for name in ("api_handler.zip", "batch_processor.zip", "payment_processor.zip", "workflow_tasks.zip"):
        clean_zip, dirty_zip = (root / "build/dist" / name for root in (clean, dirty))
        assert clean_zip.read_bytes() == dirty_zip.read_bytes(), name
        assert b"sk_live_" not in dirty_zip.read_bytes() and b"b0VIM" not in dirty_zip.read_bytes()
    stacks = [root / "cdktf.out/stacks/paygate" for root in (clean, dirty)]
    assert artifact.digest(stacks[1]) == artifact.digest(stacks[0])
    assert (stacks[1] / ".DS_Store").is_file()  # it is there, and not part of the artifact


def test_files_are_ordered_by_the_text_of_their_relative_path_not_by_path_parts(stack: Path) -> None:
    """`assets-extra.tf.json` sorts before `assets/...` as text ('-' < '/'); a parts-wise sort puts it after."""
    (stack / "assets-extra.tf.json").write_text("{}")
    names = ["assets-extra.tf.json", "assets/payments/archive.zip", "assets/refunds/archive.zip", "cdk.tf.json"]
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
