"""Prerequisite detection: each missing thing is one clear sentence; the resolution order is the documented one."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.core.settings import Settings
from pipeline.core.toolchain import (
    AWS_PROVIDER,
    AWS_PROVIDER_VERSION,
    MISSING_PYTHON,
    MISSING_TERRAFORM,
    MissingPrerequisite,
    ProviderSource,
    diagnose,
    find_provider_source,
    find_python,
    find_terraform,
    holds_aws_provider,
)

PY = Path(sys.executable)  # the venv's Python 3.12
SettingsFactory = Callable[..., Settings]
ExecutableFactory = Callable[[str, str], Path]


def python_reporting(make_executable: ExecutableFactory, name: str, version: str) -> Path:
    return make_executable(name, f"echo {version}\n")


def prefix_with_python(tmp_path: Path, name: str, interpreter: Path) -> Path:
    prefix = tmp_path / name
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").symlink_to(interpreter)
    return prefix


def fake_mirror(root: Path) -> Path:
    (root / AWS_PROVIDER / AWS_PROVIDER_VERSION / "linux_amd64").mkdir(parents=True)
    return root


# --- Python 3.12 -------------------------------------------------------------------------------------


def test_paygate_python_wins_when_it_is_3_12(make_settings: SettingsFactory) -> None:
    found = find_python(make_settings(PAYGATE_PYTHON=str(PY)))
    assert (found.path, found.source) == (PY, "PAYGATE_PYTHON")
    assert found.version.startswith("3.12.")


def test_paygate_python_may_be_a_name_on_path(make_settings: SettingsFactory, tmp_path: Path) -> None:
    bin_dir = tmp_path / "pybin"
    bin_dir.mkdir()
    (bin_dir / "py312").symlink_to(PY)
    found = find_python(make_settings(PAYGATE_PYTHON="py312", PATH=str(bin_dir)))
    assert found.path == bin_dir / "py312"


@pytest.mark.parametrize("reported", ["3.11.7", "not-a-version"])
def test_paygate_python_of_another_version_is_refused_not_skipped(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, reported: str
) -> None:
    wrong = python_reporting(make_executable, "python", reported)
    with pytest.raises(MissingPrerequisite) as caught:
        find_python(make_settings(PAYGATE_PYTHON=str(wrong)))
    assert str(caught.value) == (
        f"PAYGATE_PYTHON={wrong} is not a working Python 3.12 interpreter: point it at python3.12 or unset it."
    )


def test_paygate_python_that_does_not_exist_is_refused(make_settings: SettingsFactory, tmp_path: Path) -> None:
    with pytest.raises(MissingPrerequisite, match=r"is not a working Python 3\.12 interpreter"):
        find_python(make_settings(PAYGATE_PYTHON=str(tmp_path / "nope")))


def test_pyenv_prefix_comes_before_path(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    prefix = prefix_with_python(tmp_path, "pyenv-3.12", PY)
    make_executable("pyenv", f'[ "$1 $2" = "prefix 3.12" ] && echo {prefix}\n')
    python_reporting(make_executable, "python3.12", "3.12.0")  # would also qualify, but comes later
    found = find_python(make_settings(PATH=str(tmp_path / "bin")))
    assert (found.path, found.source) == (prefix / "bin" / "python3.12", "pyenv prefix 3.12")


@pytest.mark.parametrize(
    "pyenv_body",
    [
        "echo 'pyenv: version `3.12` not installed' >&2; exit 1\n",  # pyenv without 3.12
        "exit 0\n",  # pyenv printing nothing
        "echo {prefix}\n",  # pyenv naming an interpreter that is not 3.12
    ],
)
def test_python312_on_path_is_the_last_resort(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path, pyenv_body: str
) -> None:
    wrong = python_reporting(make_executable, "python-wrong", "3.11.7")
    prefix = prefix_with_python(tmp_path, "pyenv-wrong", wrong)
    make_executable("pyenv", pyenv_body.format(prefix=prefix))
    (tmp_path / "bin" / "python3.12").symlink_to(PY)
    found = find_python(make_settings(PATH=str(tmp_path / "bin")))
    assert (found.path, found.source) == (tmp_path / "bin" / "python3.12", "PATH")


def test_no_python312_anywhere_is_one_sentence(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    # Like a pyenv shim for a version that is not selected: present on PATH, fails to run.
    make_executable("python3.12", "echo 'pyenv: python3.12: command not found' >&2; exit 127\n")
    with pytest.raises(MissingPrerequisite) as caught:
        find_python(make_settings(PATH=str(tmp_path / "bin")))
    assert str(caught.value) == MISSING_PYTHON


# --- terraform ---------------------------------------------------------------------------------------


def test_real_terraform_is_recent_enough(make_settings: SettingsFactory, terraform_binary: Path) -> None:
    found = find_terraform(make_settings(PATH=str(terraform_binary.parent)))
    assert found.path == terraform_binary
    assert tuple(int(p) for p in found.version.split(".")[:2]) >= (1, 10)


def test_missing_terraform_is_one_sentence(make_settings: SettingsFactory, tmp_path: Path) -> None:
    with pytest.raises(MissingPrerequisite) as caught:
        find_terraform(make_settings(PATH=str(tmp_path)))
    assert str(caught.value) == MISSING_TERRAFORM


@pytest.mark.parametrize(("output", "shown"), [('{"terraform_version": "1.9.8"}', "1.9.8"), ("garbage", "unknown")])
def test_old_or_unreadable_terraform_is_refused(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path, output: str, shown: str
) -> None:
    make_executable("terraform", f"echo '{output}'\n")
    with pytest.raises(MissingPrerequisite) as caught:
        find_terraform(make_settings(PATH=str(tmp_path / "bin")))
    assert f"is version {shown}, older than 1.10" in str(caught.value)


def test_prerelease_of_a_new_enough_terraform_is_accepted(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    make_executable("terraform", """echo '{"terraform_version": "1.10.0-beta1"}'\n""")
    assert find_terraform(make_settings(PATH=str(tmp_path / "bin"))).version == "1.10.0-beta1"


# --- provider mirror ---------------------------------------------------------------------------------


def test_mirror_setting_is_used_when_it_holds_the_provider(make_settings: SettingsFactory, tmp_path: Path) -> None:
    mirror = fake_mirror(tmp_path / "mirror")
    source = find_provider_source(make_settings(TF_PROVIDER_MIRROR=str(mirror)))
    assert (source.mirror, source.source) == (mirror, "TF_PROVIDER_MIRROR")
    assert source.describe() == f"filesystem mirror {mirror} (TF_PROVIDER_MIRROR)"


def test_mirror_setting_without_the_provider_is_refused(make_settings: SettingsFactory, tmp_path: Path) -> None:
    with pytest.raises(MissingPrerequisite) as caught:
        find_provider_source(make_settings(TF_PROVIDER_MIRROR=str(tmp_path)))
    assert str(caught.value) == (
        f"TF_PROVIDER_MIRROR={tmp_path} does not contain registry.terraform.io/hashicorp/aws/5.100.0/: "
        "point it at the mirror root or unset it."
    )


def test_first_candidate_holding_the_provider_is_detected(make_settings: SettingsFactory, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    first, second = fake_mirror(tmp_path / "first"), fake_mirror(tmp_path / "second")
    settings = dataclasses.replace(make_settings(), mirror_candidates=(empty, first, second))
    source = find_provider_source(settings)
    assert (source.mirror, source.source) == (first, "detected")


def test_no_mirror_falls_back_to_the_registry_and_says_so(make_settings: SettingsFactory, tmp_path: Path) -> None:
    candidates = (tmp_path / "a", tmp_path / "b")
    source = find_provider_source(dataclasses.replace(make_settings(), mirror_candidates=candidates))
    assert (source.mirror, source.source) == (None, "registry")
    assert source.describe() == (
        f"no filesystem mirror holding hashicorp/aws 5.100.0 was found (searched {tmp_path / 'a'}, "
        f"{tmp_path / 'b'}); terraform will download it from registry.terraform.io"
    )


def test_an_explicit_registry_source_describes_itself() -> None:
    assert ProviderSource(None, "registry").describe() == "registry.terraform.io"


def test_a_mirror_needs_the_pinned_version(tmp_path: Path) -> None:
    (tmp_path / AWS_PROVIDER / "5.99.1").mkdir(parents=True)
    assert not holds_aws_provider(tmp_path)
    assert holds_aws_provider(fake_mirror(tmp_path))


# --- doctor report -----------------------------------------------------------------------------------


def test_diagnose_reports_this_machine_without_problems(machine_settings: Settings) -> None:
    report = diagnose(machine_settings)
    assert report.problems == ()
    assert [line.split(":")[0] for line in report.lines] == ["python", "terraform", "provider"]


def test_diagnose_collects_every_missing_prerequisite(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(
        PATH=str(tmp_path), PAYGATE_PYTHON=str(tmp_path / "nope"), TF_PROVIDER_MIRROR=str(tmp_path)
    )
    report = diagnose(settings)
    assert report.lines == ()
    assert len(report.problems) == 3
    assert report.problems[1] == MISSING_TERRAFORM
