"""Find the prerequisites (Python 3.12, terraform >= 1.10, the AWS provider mirror) or say what is missing."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.runner import run
from pipeline.core.settings import Settings

PYTHON_VERSION = (3, 12)
LOCALSTACK_PYTHON_VERSION = (3, 13)  # localstack-core 2026.3.0 uses 3.13-only features
TERRAFORM_MIN_VERSION = (1, 10)  # the S3 backend's native lockfile (use_lockfile) needs 1.10
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
AWS_PROVIDER_VERSION = "5.100.0"  # what cdktf-cdktf-provider-aws 20.1.0 pins in required_providers
PROBE_TIMEOUT_SECONDS = 30

MISSING_PYTHON = (
    "Python 3.12 was not found: set PAYGATE_PYTHON to a python3.12 interpreter, "
    "or install it with `pyenv install 3.12`, or put python3.12 on PATH."
)
MISSING_LOCALSTACK_PYTHON = (
    "Python 3.13 (for LocalStack) was not found: set PAYGATE_LOCALSTACK_PYTHON to a python3.13 interpreter, "
    "or install it with `pyenv install 3.13`, or put python3.13 on PATH."
)
MISSING_TERRAFORM = "terraform was not found on PATH: install Terraform >= 1.10 (the S3 backend lockfile needs it)."


class MissingPrerequisite(PipelineError):
    """A prerequisite is missing; the message is the sentence to show."""


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str
    source: str  # which rule found it: "PAYGATE_PYTHON", "pyenv prefix 3.12" or "PATH"


@dataclass(frozen=True)
class Terraform:
    path: Path
    version: str


@dataclass(frozen=True)
class ProviderSource:
    """Where terraform gets hashicorp/aws: a filesystem mirror root, or the registry when ``mirror`` is None."""

    mirror: Path | None
    source: str  # "TF_PROVIDER_MIRROR", "detected" or "registry"
    searched: tuple[Path, ...] = ()

    def describe(self) -> str:
        if self.mirror is None and not self.searched:
            return "registry.terraform.io"
        if self.mirror is None:
            searched = ", ".join(str(p) for p in self.searched)
            return (
                f"no filesystem mirror holding hashicorp/aws {AWS_PROVIDER_VERSION} was found "
                f"(searched {searched}); terraform will download it from registry.terraform.io"
            )
        return f"filesystem mirror {self.mirror} ({self.source})"


def python_version(executable: Path, settings: Settings) -> str | None:
    """``major.minor.micro`` of an interpreter, or None when it does not run."""
    result = run(
        [executable, "-c", "import platform; print(platform.python_version())"],
        env=settings.child_env(),
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    version = result.stdout.strip()
    return version if result.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*", version) else None


def _is_wanted(version: str | None, wanted: tuple[int, int] = PYTHON_VERSION) -> bool:
    return version is not None and tuple(int(p) for p in version.split(".")[:2]) == wanted


def _pyenv_candidate(settings: Settings, version: tuple[int, int] = PYTHON_VERSION) -> Path | None:
    pyenv = shutil.which("pyenv", path=settings.path)
    if pyenv is None:
        return None
    wanted = ".".join(str(p) for p in version)
    result = run([pyenv, "prefix", wanted], env=settings.child_env(), timeout=PROBE_TIMEOUT_SECONDS)
    prefix = result.stdout.strip().splitlines()
    if result.returncode != 0 or not prefix:
        return None
    return Path(prefix[0]) / "bin" / f"python{wanted}"


def _find_interpreter(
    settings: Settings, explicit: Path | None, variable: str, version: tuple[int, int], missing: str
) -> Interpreter:
    """``variable`` (``explicit``) if set, else ``pyenv prefix <version>``, else ``python<version>`` on PATH."""
    wanted = ".".join(str(p) for p in version)
    if explicit is not None:
        found = shutil.which(explicit, path=settings.path)
        found_version = python_version(Path(found), settings) if found else None
        if found is None or not _is_wanted(found_version, version):
            raise MissingPrerequisite(
                f"{variable}={explicit} is not a working Python {wanted} interpreter: "
                f"point it at python{wanted} or unset it."
            )
        return Interpreter(Path(found), str(found_version), variable)
    candidates: list[tuple[Path | None, str]] = [
        (_pyenv_candidate(settings, version), f"pyenv prefix {wanted}"),
        (_which(f"python{wanted}", settings), "PATH"),
    ]
    for candidate, source in candidates:
        if candidate is None:
            continue
        found_version = python_version(candidate, settings)
        if _is_wanted(found_version, version):
            return Interpreter(candidate, str(found_version), source)
    raise MissingPrerequisite(missing)


def find_python(settings: Settings) -> Interpreter:
    """Resolve Python 3.12: ``PAYGATE_PYTHON``, then ``pyenv prefix 3.12``, then ``python3.12`` on PATH."""
    return _find_interpreter(settings, settings.python, "PAYGATE_PYTHON", PYTHON_VERSION, MISSING_PYTHON)


def find_localstack_python(settings: Settings) -> Interpreter:
    """Resolve LocalStack's Python 3.13: ``PAYGATE_LOCALSTACK_PYTHON``, ``pyenv prefix 3.13``, ``python3.13``."""
    return _find_interpreter(
        settings,
        settings.localstack_python,
        "PAYGATE_LOCALSTACK_PYTHON",
        LOCALSTACK_PYTHON_VERSION,
        MISSING_LOCALSTACK_PYTHON,
    )


def _which(name: str, settings: Settings) -> Path | None:
    found = shutil.which(name, path=settings.path)
    return Path(found) if found else None


def _version_tuple(version: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def find_terraform(settings: Settings) -> Terraform:
    """terraform on PATH, at least 1.10."""
    path = _which("terraform", settings)
    if path is None:
        raise MissingPrerequisite(MISSING_TERRAFORM)
    result = run([path, "version", "-json"], env=settings.child_env(), timeout=PROBE_TIMEOUT_SECONDS)
    try:
        version = str(json.loads(result.stdout)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        version = "unknown"
    if _version_tuple(version) < TERRAFORM_MIN_VERSION:
        raise MissingPrerequisite(
            f"terraform at {path} is version {version}, older than 1.10: install Terraform >= 1.10 "
            "(the S3 backend lockfile needs it)."
        )
    return Terraform(path, version)


def holds_aws_provider(root: Path) -> bool:
    """Whether ``root`` is an unpacked filesystem mirror holding hashicorp/aws at the pinned version."""
    return (root / AWS_PROVIDER / AWS_PROVIDER_VERSION).is_dir()


def find_provider_source(settings: Settings) -> ProviderSource:
    """``TF_PROVIDER_MIRROR`` if set (it must hold the provider), else the first candidate holding it, else registry."""
    if settings.provider_mirror is not None:
        if not holds_aws_provider(settings.provider_mirror):
            raise MissingPrerequisite(
                f"TF_PROVIDER_MIRROR={settings.provider_mirror} does not contain "
                f"{AWS_PROVIDER}/{AWS_PROVIDER_VERSION}/: point it at the mirror root or unset it."
            )
        return ProviderSource(settings.provider_mirror, "TF_PROVIDER_MIRROR")
    for candidate in settings.mirror_candidates:
        if holds_aws_provider(candidate):
            return ProviderSource(candidate, "detected", settings.mirror_candidates)
    return ProviderSource(None, "registry", settings.mirror_candidates)


@dataclass(frozen=True)
class Report:
    """What ``doctor`` found: one line per prerequisite, and the sentences for what is missing."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]


def diagnose(settings: Settings) -> Report:
    """Check every prerequisite (not stopping at the first missing one)."""
    lines: list[str] = []
    problems: list[str] = []
    try:
        python = find_python(settings)
        lines.append(f"python:    {python.path} ({python.version}, from {python.source})")
    except MissingPrerequisite as exc:
        problems.append(str(exc))
    try:
        terraform = find_terraform(settings)
        lines.append(f"terraform: {terraform.path} ({terraform.version})")
    except MissingPrerequisite as exc:
        problems.append(str(exc))
    try:
        provider = find_provider_source(settings)
        lines.append(f"provider:  hashicorp/aws {AWS_PROVIDER_VERSION} from {provider.describe()}")
    except MissingPrerequisite as exc:
        problems.append(str(exc))
    return Report(tuple(lines), tuple(problems))
