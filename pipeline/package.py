"""Deterministic Lambda archives: the dependency layer plus one function's code, and a manifest of them all.

Each ``<key>.zip`` holds the ``lambda`` dependency group, ``lambdas/__init__.py``,
``lambdas/<key>/**``, ``lambdas/shared/**`` and ``contracts/**`` (never bytecode). An archive
whose inputs are unchanged (same layer, same code files) is not rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.dependencies import Layer, layer_entries
from pipeline.errors import PipelineError
from pipeline.files import sha256_file, write_if_changed
from pipeline.zipwriter import COMPRESS_LEVEL, Entry, deflate, mode_for, write_zip

FORMAT = 1
MANIFEST = "manifest.json"
SHARED_CODE = ("lambdas/shared", "contracts")
PACKAGE_MARKER = "lambdas/__init__.py"


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


@dataclass(frozen=True)
class CodeFile:
    name: str
    mode: int
    content: bytes


def _tree(repo_root: Path, relative: str) -> Iterator[Path]:
    base = repo_root / relative
    if base.is_file():
        yield base
        return
    for path in base.rglob("*"):
        parts = path.relative_to(repo_root).parts
        if path.is_file() and "__pycache__" not in parts and path.suffix not in {".pyc", ".pyo"}:
            yield path


def code_files(repo_root: Path, function: str) -> list[CodeFile]:
    """The function's own code, the shared code and the contracts, sorted by archive name."""
    if not (repo_root / "lambdas" / function).is_dir():
        raise PipelineError(f"lambdas/{function}/ does not exist: FUNCTION_HANDLERS names a function without code.")
    found: dict[str, Path] = {}
    for relative in (PACKAGE_MARKER, f"lambdas/{function}", *SHARED_CODE):
        for path in _tree(repo_root, relative):
            found[path.relative_to(repo_root).as_posix()] = path
    return [CodeFile(name, mode_for(path.stat().st_mode), path.read_bytes()) for name, path in sorted(found.items())]


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


def build(functions: Mapping[str, str], *, repo_root: Path, out_dir: Path, layer: Layer) -> Outcome:
    """Write ``<key>.zip`` for every function (key -> handler) and ``manifest.json`` into ``out_dir``."""
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
        files = code_files(repo_root, function)
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
    return Outcome(archives, tuple(written), tuple(unchanged))
