"""Deterministic Lambda archives: the dependency layer plus one function's code, and a manifest of them all.

Each ``<key>.zip`` holds the ``lambda`` dependency group (exported from uv.lock, see
:mod:`pipeline.build.dependencies`), ``lambdas/__init__.py``, ``lambdas/<key>/**``, ``lambdas/shared/**``
and ``contracts/**``: of those paths, **exactly the files git tracks** (``git ls-files``: the index,
so a new file counts once ``git add``-ed), never bytecode. Whatever else lies in the working tree is
left out: untracked or ignored files (``.env``, editor swap and backup files, ``.DS_Store``, an
untracked ``.py``), ``__pycache__``, symlinks. A tracked file is read from the working tree (so an
edit is packaged before it is committed, and the package step names such files); its mode is git's
(0755 for ``100755``, else 0644), not the file system's, so umask and ``core.fileMode`` do not matter.
Refused with a clear error: a directory that is not inside a git work tree (there is no silent
fallback to the file system: run from a clone), a tracked symlink or submodule, a tracked file
missing from the work tree or reached through a symlink. An archive whose inputs are unchanged
(same layer, same code files) is not rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.build.dependencies import Layer, layer_entries
from pipeline.core.errors import PipelineError
from pipeline.core.files import sha256_file, write_if_changed
from pipeline.core.runner import run
from pipeline.build.zipwriter import COMPRESS_LEVEL, EXEC_MODE, FILE_MODE, Entry, deflate, write_zip

FORMAT = 1
MANIFEST = "manifest.json"
SHARED_CODE = ("lambdas/shared", "contracts")
PACKAGE_MARKER = "lambdas/__init__.py"
SOURCE_PATHS = ("lambdas", "contracts")  # what `git ls-files` is asked about; code_files picks from it


@dataclass(frozen=True)
class Archive:
    """Manifest record of one function archive."""

    file: str
    sha256: str
    source_code_hash: str  # base64 sha256, what Lambda's source_code_hash compares
    size: int
    files: int
    inputs_sha256: str


@dataclass(frozen=True)
class Outcome:
    archives: dict[str, Archive]
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    modified: tuple[str, ...] = ()  # packaged tracked files whose content differs from git's index


@dataclass(frozen=True)
class CodeFile:
    name: str
    mode: int
    content: bytes


@dataclass(frozen=True)
class Sources:
    """The tracked files under the archives' paths (archive name -> file), and those whose working-tree
    content differs from git's index (edited, not yet staged: packaged as they are, named in the output)."""

    files: Mapping[str, CodeFile]
    modified: tuple[str, ...]


# git ls-files --stage modes: a regular file, an executable one (anything else is refused).
GIT_FILE_MODES = {"100644": FILE_MODE, "100755": EXEC_MODE}
GIT_LINK_MODES = {"120000": "a symlink", "160000": "a submodule"}


def _git_blob_id(content: bytes, length: int) -> str:
    """The object id git gives ``content`` as a blob (SHA-1, or SHA-256 for 64-digit ids)."""
    algorithm = hashlib.sha256 if length == 64 else hashlib.sha1
    return algorithm(b"blob %d\0" % len(content) + content).hexdigest()


def _excluded(name: str) -> bool:
    return "__pycache__" in name.split("/") or name.endswith((".pyc", ".pyo"))


def tracked_sources(repo_root: Path, *, env: Mapping[str, str], git: str = "git") -> Sources:
    """Every file git tracks under ``lambdas/`` and ``contracts/`` of ``repo_root`` (working-tree content,
    git's mode), bytecode excepted.

    Raises :class:`PipelineError` when ``repo_root`` is not inside a git work tree, or a tracked path is
    a symlink or submodule, is missing from the work tree, or is reached through a symlink.
    """
    inside = run([git, "rev-parse", "--is-inside-work-tree"], env=env, cwd=repo_root)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise PipelineError(
            f"{repo_root} is not a git checkout ({inside.output or 'git rev-parse answered nothing'}): the Lambda "
            "archives hold exactly the files git tracks, so package from a clone of the repository."
        )
    listing = run([git, "ls-files", "--stage", "-z", "--", *SOURCE_PATHS], env=env, cwd=repo_root, check="git ls-files")
    root = repo_root.resolve()
    files: dict[str, CodeFile] = {}
    modified: list[str] = []
    for record in listing.stdout.split("\0"):
        if not record:
            continue
        info, _, name = record.partition("\t")
        mode, blob, _stage = info.split(" ")
        if _excluded(name) or name in files:  # a conflicted path is listed once per stage
            continue
        if mode not in GIT_FILE_MODES:
            kind = GIT_LINK_MODES.get(mode, f"of git mode {mode}")
            raise PipelineError(f"{name} is {kind} in git: a Lambda archive holds regular files only.")
        path = repo_root / name
        if not path.is_file() or path.is_symlink() or not path.resolve().is_relative_to(root):
            raise PipelineError(
                f"{name} is tracked but not a regular file inside {repo_root} (missing, a symlink or reached "
                "through one): restore it (`git checkout -- <path>`) or remove it from git (`git rm`)."
            )
        content = path.read_bytes()
        if _git_blob_id(content, len(blob)) != blob:
            modified.append(name)
        files[name] = CodeFile(name, GIT_FILE_MODES[mode], content)
    return Sources(files, tuple(sorted(modified)))


def code_files(sources: Sources, function: str) -> list[CodeFile]:
    """The function's own code, the shared code and the contracts, sorted by archive name."""
    prefixes = tuple(f"{path}/" for path in (f"lambdas/{function}", *SHARED_CODE))
    chosen = [item for name, item in sources.files.items() if name == PACKAGE_MARKER or name.startswith(prefixes)]
    if not any(item.name.startswith(prefixes[0]) for item in chosen):
        raise PipelineError(
            f"lambdas/{function}/ holds no file git tracks: FUNCTION_HANDLERS names a function without code "
            "(a new function's files must be added to git: `git add lambdas/<function>`)."
        )
    return sorted(chosen, key=lambda item: item.name)


def inputs_hash(layer: Layer, files: list[CodeFile]) -> str:
    """sha256 over everything that decides an archive's bytes."""
    digest = hashlib.sha256(f"format {FORMAT} level {COMPRESS_LEVEL} layer {layer.sha256}\n".encode())
    for item in files:
        digest.update(f"{item.name}\0{item.mode:o}\0{hashlib.sha256(item.content).hexdigest()}\n".encode())
    return digest.hexdigest()


def _check_handler(function: str, handler: str, names: set[str]) -> None:
    module = handler.rpartition(".")[0].replace(".", "/") + ".py"
    if module not in names:
        raise PipelineError(f"the handler {handler} of {function} needs {module}, which is not in its archive.")


def _archive(function: str, handler: str, files: list[CodeFile], shared: list[Entry], out: Path) -> int:
    code = [deflate(item.name, item.content, item.mode) for item in files]
    clashes = sorted({entry.name for entry in code} & {entry.name for entry in shared})
    if clashes:
        raise PipelineError(f"{function}: {clashes[0]} is both project code and a dependency file; rename one.")
    _check_handler(function, handler, {item.name for item in files})
    tmp = out.with_name(f".{out.name}.tmp")
    write_zip(tmp, [*shared, *code])
    tmp.replace(out)
    return len(code) + len(shared)


def _record(out: Path, files: int, inputs: str) -> Archive:
    digest = bytes.fromhex(sha256_file(out))
    return Archive(out.name, digest.hex(), base64.b64encode(digest).decode(), out.stat().st_size, files, inputs)


def load_manifest(path: Path) -> dict[str, Archive]:
    """Archive records of a previous run (empty when absent, unreadable or of another format)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return {}
        return {key: Archive(**record) for key, record in data["archives"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _unchanged(previous: Archive | None, out: Path, inputs: str) -> bool:
    return (
        previous is not None
        and previous.inputs_sha256 == inputs
        and out.is_file()
        and sha256_file(out) == previous.sha256
    )


def build(
    functions: Mapping[str, str], *, repo_root: Path, out_dir: Path, layer: Layer, env: Mapping[str, str]
) -> Outcome:
    """Write ``<key>.zip`` for every function (key -> handler) and ``manifest.json`` into ``out_dir``.

    ``env`` is the environment git runs with (:meth:`pipeline.settings.Settings.child_env`). Raises
    :class:`PipelineError` as :func:`tracked_sources` does, and for a function key that is not an
    identifier, a handler module its archive lacks, or code that shadows a dependency file.
    """
    sources = tracked_sources(repo_root, env=env)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    previous = load_manifest(manifest_path)
    shared: list[Entry] | None = None  # loaded only when some archive must be written
    archives: dict[str, Archive] = {}
    written: list[str] = []
    unchanged: list[str] = []
    for function in sorted(functions):
        if not function.isidentifier():
            raise PipelineError(f"function key {function!r} is not a Python identifier (it names a package).")
        files = code_files(sources, function)
        inputs = inputs_hash(layer, files)
        out = out_dir / f"{function}.zip"
        if _unchanged(previous.get(function), out, inputs):
            archives[function] = previous[function]
            unchanged.append(function)
            continue
        if shared is None:
            shared = layer_entries(layer)
        count = _archive(function, functions[function], files, shared, out)
        archives[function] = _record(out, count, inputs)
        written.append(function)
    for stale in sorted(set(previous) - set(archives)):
        if stale.isidentifier():  # only names this module wrote; never a path from the file
            (out_dir / f"{stale}.zip").unlink(missing_ok=True)
    document = {
        "format": FORMAT,
        "dependencies": {"key": layer.key, "layer_sha256": layer.sha256},
        "archives": {key: asdict(record) for key, record in archives.items()},
    }
    write_if_changed(manifest_path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return Outcome(archives, tuple(written), tuple(unchanged), sources.modified)
