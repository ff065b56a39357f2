"""One unit suite (a pytest process): run it, or reuse the JUnit report and coverage data of a passing run on
the same inputs.

The cache entry is ``<cache>/<name>/<inputs sha256>/`` holding ``junit.xml`` and ``coverage`` (coverage.py's
data file). Only a run that passed, and whose inputs did not change while it ran, is recorded. Every
``<testsuite>`` of the JUnit report carries two properties, copied into the signed evidence with the report:
``paygate.inputs_sha256`` (the key) and ``paygate.result`` (``ran`` on this run, ``reused`` from a run on
the same inputs). The suite runs with ``tests.input_guard``, which fails it if it reads an excluded path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline.cache.inputs import InputsKey, inputs_key
from pipeline.core.errors import PipelineError

KEY_PROPERTY = "paygate.inputs_sha256"
RESULT_PROPERTY = "paygate.result"
GUARD_PLUGIN = "tests.input_guard"
# What a calling make passes its sub-makes (flags such as -n or -j, its jobserver) and, in the environment, the
# variables set on its command line (`make test`'s UNIT_NICE=10, a user's ENV=production): a suite's tests run make
# themselves and must see the Makefile as a user does, so the suite runs without them.
MAKE_VARIABLES = frozenset({"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"})
KEEP_ENTRIES = 4  # recorded runs kept per suite (the newest), e.g. both sides of a branch switch


@dataclass(frozen=True)
class SuiteRequest:
    """A pytest process: its ``name``, ``tests`` (pytest arguments), where its JUnit report and coverage data
    go, the cache root (``None``: always run), the repository paths it never reads (``excluded``), inputs git
    does not list (``extra_files``) and whether it reads the commit HEAD names (``include_head``: it clones)."""

    name: str
    tests: Sequence[str]
    junit: Path
    coverage: Path
    cache: Path | None
    excluded: Sequence[str] = ()
    extra_files: Sequence[Path] = ()
    include_head: bool = False


def _annotate(junit: Path, key: str, result: str) -> None:
    """Set the two properties on every ``<testsuite>`` of ``junit``."""
    tree = ET.parse(junit)
    root = tree.getroot()
    for suite in [root] if root.tag == "testsuite" else list(root.iter("testsuite")):
        properties = suite.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            suite.insert(0, properties)
        for prop in list(properties.findall("property")):
            if prop.get("name") in (KEY_PROPERTY, RESULT_PROPERTY):
                properties.remove(prop)
        ET.SubElement(properties, "property", name=KEY_PROPERTY, value=key)
        ET.SubElement(properties, "property", name=RESULT_PROPERTY, value=result)
    tree.write(junit, encoding="utf-8", xml_declaration=True)


def without_make(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less the calling make's variables and the command-line variables its ``MAKEFLAGS`` lists.

    GNU make puts ``-- NAME=value ...`` (spaces in a value escaped with a backslash) at the end of ``MAKEFLAGS``
    and exports each of those variables to its recipes (GNU make manual, 5.7.3 "Communicating Options to a
    Sub-make"). A variable the caller's own environment holds, and no make command line set, is kept.
    """
    flags = environ.get("MAKEFLAGS", "")
    assignments = flags[3:] if flags.startswith("-- ") else flags.partition(" -- ")[2]
    names = {re.split(r"[:+?!]*=", word, maxsplit=1)[0] for word in re.split(r"(?<!\\) ", assignments) if "=" in word}
    return {name: value for name, value in environ.items() if name not in MAKE_VARIABLES | names}


def _key(request: SuiteRequest, root: Path, environ: Mapping[str, str]) -> InputsKey:
    return inputs_key(
        root, environ, excluded=request.excluded, extra_files=request.extra_files, include_head=request.include_head
    )


def run_suite(request: SuiteRequest, root: Path, environ: Mapping[str, str], out: TextIO) -> int:
    """Reuse or run the suite; the pytest exit status (0 when reused).

    The suite runs, and is keyed, in ``environ`` less the calling make's variables (``without_make``).
    """
    started = time.monotonic()
    environ = without_make(environ)
    key = _key(request, root, environ)
    entry = request.cache / request.name / key.sha256 if request.cache else None
    request.junit.parent.mkdir(parents=True, exist_ok=True)
    request.coverage.parent.mkdir(parents=True, exist_ok=True)
    if entry is not None and (entry / "junit.xml").is_file() and (entry / "coverage").is_file():
        shutil.copyfile(entry / "junit.xml", request.junit)
        shutil.copyfile(entry / "coverage", request.coverage)
        _annotate(request.junit, key.sha256, "reused")
        print(
            f"{request.name}: reused the passing run on the same {key.describe()} ({time.monotonic() - started:.1f} s)",
            file=out,
        )
        return 0
    env = {
        **environ,
        "COVERAGE_FILE": str(request.coverage),
        "PAYGATE_INPUT_GUARD_ROOT": str(root),
        "PAYGATE_INPUT_GUARD_EXCLUDED": os.pathsep.join(request.excluded),
    }
    command = [sys.executable, "-m", "pytest", *request.tests, "-p", GUARD_PLUGIN, f"--junitxml={request.junit}"]
    print(f"{request.name}: running ({key.describe()}): {' '.join(command[1:])}", file=out, flush=True)
    status = subprocess.run(command, cwd=root, env=env, check=False).returncode
    if status != 0 or entry is None:
        return status
    if not request.junit.is_file() or not request.coverage.is_file():
        raise PipelineError(f"{request.name}: pytest wrote no JUnit report or coverage data.")
    _annotate(request.junit, key.sha256, "ran")
    after = _key(request, root, environ)
    if after.sha256 != key.sha256:
        print(f"{request.name}: inputs changed while it ran; result not recorded.", file=out)
        return status
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(request.junit, tmp / "junit.xml")
    shutil.copyfile(request.coverage, tmp / "coverage")
    shutil.rmtree(entry, ignore_errors=True)
    tmp.replace(entry)
    _prune(entry.parent, KEEP_ENTRIES)
    print(f"{request.name}: passed in {time.monotonic() - started:.1f} s; recorded for {key.describe()}", file=out)
    return status


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest entries of ``folder``."""
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=os.path.getmtime)
    for stale in entries[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)


def merge_junit(parts: Sequence[Path], out_path: Path) -> None:
    """One JUnit report (``<testsuites>``) holding every ``<testsuite>`` of ``parts``, in order."""
    merged = ET.Element("testsuites", name=out_path.stem)
    for part in parts:
        if not part.is_file():
            raise PipelineError(f"no JUnit report at {part}")
        root = ET.parse(part).getroot()
        merged.extend([root] if root.tag == "testsuite" else list(root.iter("testsuite")))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(merged).write(out_path, encoding="utf-8", xml_declaration=True)
