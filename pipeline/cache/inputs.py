"""The content key of a step's inputs: what must be equal for a recorded result to be reused.

A key covers, in this order (each line hashed into one sha256):

- every file ``git ls-files --cached --others --exclude-standard`` lists under the repository root (what
  a fresh clone holds, plus files not yet added; ignored ones are build output), by path, executable bit
  and the sha256 of its bytes (a symlink by its target); of the ``excluded`` paths (folders, files or
  patterns, relative to the root) the step is known not to read, only the names (a folder's listing is
  read, e.g. by coverage.py looking for never-imported source files, but no content);
- with ``include_head``, the commit ``HEAD`` names (a step that clones the repository reads its commit,
  not the work tree);
- ``extra_files`` outside git's view (e.g. the rendered ``build/terraform.tfrc``), by content, or "missing";
- the version line of each tool in ``tools`` (``python`` is this interpreter's ``sys.version``);
- the environment variables whose names start with one of ``ENV_PREFIXES``, by name and value.

An mtime-only change (``touch``) keeps the key; any byte changed in an input changes it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file

# Variables the harness, Terraform, the AWS SDK, jsii, Checkov, LocalStack and hypothesis read.
ENV_PREFIXES = ("PAYGATE_", "TF_", "AWS_", "JSII_", "CHECKOV", "LOCALSTACK_", "HYPOTHESIS", "PYTEST", "COVERAGE_")
# The interpreter, and the executables the unit suites run (their version output is part of the key).
DEFAULT_TOOLS = ("python", "terraform", "node", "git")
# Per-process values that name no input (where this run writes its coverage data).
IGNORED_VARIABLES = frozenset({"COVERAGE_FILE", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER"})


@dataclass(frozen=True)
class InputsKey:
    """A step's key: ``sha256`` (hex) over ``files`` input files, the HEAD commit ("" if not included), tools
    and environment."""

    sha256: str
    files: int
    head: str
    tools: tuple[str, ...]

    def describe(self) -> str:
        commit = f", HEAD {self.head[:12]}" if self.head else ""
        return f"inputs {self.sha256[:16]} ({self.files} files{commit})"


def _git(root: Path, *args: str) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise PipelineError("git is not on PATH: the inputs key lists the files git sees.")
    done = subprocess.run([git, "-C", str(root), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise PipelineError(f"git {' '.join(args)} failed in {root}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def is_excluded(path: str, excluded: Sequence[str]) -> bool:
    """Whether the repository-relative ``path`` is one of ``excluded``: a file, a folder (everything under it)
    or an ``fnmatch`` pattern (``tests/unit/lambdas/test_*.py``)."""
    return any(
        path == e or path.startswith(e.rstrip("/") + "/") or ("*" in e and fnmatch.fnmatchcase(path, e))
        for e in excluded
    )


def input_files(root: Path) -> list[str]:
    """Sorted repository-relative paths of the files a step may read (tracked or untracked, not ignored)."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split(b"\0")
    paths = {p.decode() for p in listed if p}
    # A tracked file deleted in the work tree is listed by --cached but is no input any more.
    return sorted(p for p in paths if os.path.lexists(root / p))


def _file_line(root: Path, relative: str) -> str:
    path = root / relative
    if path.is_symlink():
        return f"{relative}\0link\0{path.readlink()}"
    mode = "x" if os.access(path, os.X_OK) else "-"
    return f"{relative}\0{mode}\0{sha256_file(path)}"


def tool_version(tool: str, environ: Mapping[str, str]) -> str:
    """The version line of ``tool`` (``python``: ``sys.version``), or "<tool>: not found"."""
    if tool == "python":
        return f"python {sys.version}"
    found = shutil.which(tool, path=environ.get("PATH"))
    if found is None:
        return f"{tool}: not found"
    done = subprocess.run([found, "--version"], capture_output=True, text=True, check=False, env=dict(environ))
    lines = (done.stdout or done.stderr).strip().splitlines()
    return f"{tool} {found} {lines[0] if lines else ''}"


def inputs_key(
    root: Path,
    environ: Mapping[str, str],
    *,
    excluded: Sequence[str] = (),
    extra_files: Sequence[Path] = (),
    tools: Sequence[str] = DEFAULT_TOOLS,
    include_head: bool = False,
) -> InputsKey:
    """The key of the inputs under ``root`` (see the module docstring); git must see ``root`` as a work tree."""
    digest = hashlib.sha256()
    files = 0
    for relative in input_files(root):
        if is_excluded(relative, excluded):
            digest.update(f"{relative}\0name only\n".encode())
        else:
            digest.update(_file_line(root, relative).encode() + b"\n")
            files += 1
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD").decode().strip() if include_head else ""
    digest.update(f"HEAD\0{head}\n".encode())
    for extra in extra_files:
        line = sha256_file(extra) if extra.is_file() else "missing"
        digest.update(f"extra\0{extra}\0{line}\n".encode())
    versions = tuple(tool_version(t, environ) for t in tools)
    for version in versions:
        digest.update(f"tool\0{version}\n".encode())
    for name in sorted(environ):
        if name.startswith(ENV_PREFIXES) and name not in IGNORED_VARIABLES:
            digest.update(f"env\0{name}\0{environ[name]}\n".encode())
    return InputsKey(digest.hexdigest(), files, head, versions)
