"""Run Checkov (the PCI pack plus its built-in AWS checks) on a synthesized stack or a plan, as findings.

Checkov runs as a subprocess with ``--soft-fail``: the verdict is the gate's, not Checkov's exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.runner import run
from pipeline.core.settings import Settings
from pipeline.policy.plan_input import unset_read_backs

TERRAFORM_JSON = "terraform_json"
TERRAFORM_PLAN = "terraform_plan"
PACK_PREFIX = "CKV_PAY_"
CHECKOV_TIMEOUT_S = 300.0
# How Checkov reports a custom check it could not import (it logs and carries on without it).
LOAD_FAILURES = ("Cannot load external check", "Failed to load", "Error while loading")
RESULT_KEYS = {"passed_checks": "passed", "failed_checks": "failed", "skipped_checks": "skipped"}


@dataclass(frozen=True)
class Finding:
    """One check on one resource of one input."""

    check_id: str
    check_name: str
    resource: str  # <type>.<name> (module path included for plans)
    result: str  # passed | failed | skipped
    framework: str

    @property
    def in_pack(self) -> bool:
        return self.check_id.startswith(PACK_PREFIX)


@dataclass(frozen=True)
class Scan:
    """What one Checkov run over one input produced."""

    input: Path
    framework: str
    findings: tuple[Finding, ...]
    parse_errors: tuple[str, ...] = ()
    load_errors: tuple[str, ...] = ()

    @property
    def resources(self) -> frozenset[str]:
        return frozenset(f.resource for f in self.findings)

    @property
    def pack_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.in_pack)

    def problems(self) -> list[str]:
        """Reasons this scan cannot be trusted, whatever its findings say."""
        problems = [f"{self.input}: parse error in {path}" for path in self.parse_errors]
        problems += [f"{self.input}: a custom check failed to load: {line}" for line in self.load_errors]
        if not self.resources:
            problems.append(f"{self.input}: Checkov scanned 0 resources ({self.framework})")
        elif not self.pack_findings:
            problems.append(f"{self.input}: the policy pack produced no result (did the checks dir load?)")
        return problems


def framework_for(path: Path) -> str:
    """``terraform_plan`` for ``terraform show -json`` output, ``terraform_json`` for a ``*.tf.json`` config."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path} is not a readable JSON file: {exc}") from None
    if isinstance(doc, dict) and ("planned_values" in doc or "resource_changes" in doc):
        return TERRAFORM_PLAN
    if isinstance(doc, dict) and ("resource" in doc or "terraform" in doc):
        return TERRAFORM_JSON
    raise PipelineError(f"{path} is neither a Terraform JSON configuration nor a plan (terraform show -json).")


def resource_types(path: Path) -> dict[str, str]:
    """Resource name -> type of a ``*.tf.json`` file (Checkov drops the type from Python-check results there);
    data sources as ``data.<name>`` -> ``data.<type>``."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    resources = doc.get("resource", {}) if isinstance(doc, dict) else {}
    data = doc.get("data", {}) if isinstance(doc, dict) else {}
    types = {name: rtype for rtype, items in resources.items() if isinstance(items, dict) for name in items}
    types |= {f"data.{n}": f"data.{dtype}" for dtype, items in data.items() if isinstance(items, dict) for n in items}
    return types


def address(resource: str, types: Mapping[str, str]) -> str:
    """Checkov's resource id as ``<type>.<name>`` (``data.<type>.<name>``, as in a plan): ``resource.<name>``
    and ``data.<name>`` are resolved through ``types``."""
    if resource.startswith("resource."):
        name = resource.removeprefix("resource.")
        return f"{types[name]}.{name}" if name in types else resource
    if resource in types:
        return f"{types[resource]}.{resource.removeprefix('data.')}"
    return resource


# At exit CPython's final garbage collection walks every object still alive: Checkov's graph of the input and its
# check registries, 0.7-1.9 s of a 2.9-4.2 s run on one stack (about 20 runs in `make test`). The console script
# runs unchanged, under its own interpreter, with the heap frozen at exit (gc.freeze: frozen objects are not
# traversed, and nothing is left to collect by then).
FROZEN_EXIT = (
    "import atexit, gc, runpy, sys; atexit.register(gc.freeze); sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def launcher(checkov: Path) -> list[str | Path]:
    """How to start the ``checkov`` console script: ``[<its python>, -c, FROZEN_EXIT, <script>]`` when its first
    line is a shebang naming an executable Python interpreter, else ``[<script>]`` as it is."""
    try:
        with checkov.open("rb") as script:
            first = script.readline(512)
    except OSError:
        return [checkov]
    interpreter = Path(first[2:].strip().decode(errors="replace")) if first.startswith(b"#!") else None
    if interpreter is None or not interpreter.name.startswith("python") or not os.access(interpreter, os.X_OK):
        return [checkov]
    return [interpreter, "-c", FROZEN_EXIT, checkov]


def command(
    checkov: Path, target: Path, framework: str, checks_dir: Path, only: Sequence[str] = ()
) -> list[str | Path]:
    """The Checkov invocation for one file or directory (JSON on stdout, no vendor download, no own verdict)."""
    selection: list[str | Path] = ["--check", ",".join(only)] if only else []
    return [
        *launcher(checkov),
        "--directory" if target.is_dir() else "--file",
        target,
        *selection,
        "--framework",
        framework,
        "--external-checks-dir",
        checks_dir,
        "--output",
        "json",
        "--compact",
        "--soft-fail",
        "--skip-download",
        "--download-external-modules",
        "false",
    ]


def _reports(stdout: str) -> list[dict[str, Any]]:
    text = stdout.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PipelineError(f"Checkov printed no JSON report: {exc}: {text[:300]}") from None
    if isinstance(doc, dict):
        doc = [doc]
    return [r for r in doc if isinstance(r, dict) and "check_type" in r]


def parse(stdout: str, stderr: str, *, target: Path, framework: str) -> dict[Path, Scan]:
    """Turn Checkov's JSON report (and its log on stderr) into one :class:`Scan` per scanned file.

    For a single file the result has one entry, keyed by ``target``; for a directory, by each file.
    """
    findings: dict[Path, list[Finding]] = {}
    parse_errors: list[str] = []
    types: dict[Path, dict[str, str]] = {}
    for report in _reports(stdout):
        if report["check_type"] != framework:
            continue
        results = report.get("results", {})
        for key, outcome in RESULT_KEYS.items():
            for item in results.get(key, []):
                path = target / str(item["file_path"]).lstrip("/") if target.is_dir() else target
                if framework == TERRAFORM_JSON and path not in types:
                    types[path] = resource_types(path)
                resource = address(str(item["resource"]), types.get(path, {}))
                finding = Finding(item["check_id"], item.get("check_name", ""), resource, outcome, framework)
                findings.setdefault(path, []).append(finding)
        parse_errors += [str(p) for p in results.get("parsing_errors", [])]
    load_errors = tuple(line.strip() for line in stderr.splitlines() if any(s in line for s in LOAD_FAILURES))
    if not target.is_dir():
        findings.setdefault(target, [])
    return {
        path: Scan(path, framework, tuple(found), tuple(parse_errors), load_errors)
        for path, found in sorted(findings.items())
    }


def scan(target: Path, checks_dir: Path, settings: Settings) -> Scan:
    """Run Checkov (built-in AWS checks plus the pack) on one input file.

    Checkov's terraform_json runner reads only files named ``*.tf.json``; a configuration under any
    other name (``mutated.json``) is scanned as a ``*.tf.json`` copy, reported under its own name. A plan
    made against existing state is scanned as a copy whose read-back ``""`` of unset attributes is ``null``
    again (``plan_input``), reported under its own name.
    """
    framework = framework_for(target)
    if framework == TERRAFORM_PLAN:
        plan, replaced = unset_read_backs(json.loads(target.read_text(encoding="utf-8")))
        if not replaced:
            return run_checkov(target, framework, checks_dir, settings)[target]
        with tempfile.TemporaryDirectory(prefix="paygate-gate-") as tmp:
            copy = Path(tmp) / target.name
            copy.write_text(json.dumps(plan), encoding="utf-8")
            return replace(run_checkov(copy, framework, checks_dir, settings)[copy], input=target)
    if target.name.endswith(".tf.json"):
        return run_checkov(target, framework, checks_dir, settings)[target]
    with tempfile.TemporaryDirectory(prefix="paygate-gate-") as tmp:
        copy = Path(tmp) / f"{target.stem}.tf.json"
        shutil.copyfile(target, copy)
        return replace(run_checkov(copy, framework, checks_dir, settings)[copy], input=target)


def run_checkov(
    target: Path, framework: str, checks_dir: Path, settings: Settings, only: Sequence[str] = ()
) -> dict[Path, Scan]:
    """One Checkov run over a file or a directory of inputs (``only``: restrict to these check ids)."""
    env = settings.child_env(
        CKV_PARSE_ERROR_FAIL="true",
        PYTHONPATH=str(settings.repo_root),  # the pack imports policies.lib
        LOG_LEVEL="WARNING",
    )
    args = command(settings.checkov, target, framework, checks_dir, only)
    result = run(args, env=env, timeout=CHECKOV_TIMEOUT_S)
    if result.returncode != 0 and not result.stdout.strip():
        raise PipelineError(f"Checkov failed on {target} (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    scans = parse(result.stdout, result.stderr, target=target, framework=framework)
    if result.returncode != 0:
        # With --soft-fail only a broken run (e.g. a parse error under CKV_PARSE_ERROR_FAIL) exits non-zero.
        extra = f"Checkov exited {result.returncode}: {result.stderr.strip()[-500:]}"
        scans = {p: Scan(p, s.framework, s.findings, (*s.parse_errors, extra), s.load_errors) for p, s in scans.items()}
    return scans


def scan_all(targets: Sequence[Path], checks_dir: Path, settings: Settings) -> list[Scan]:
    """Scan every input, two at a time (each Checkov run keeps one core busy)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda target: scan(target, checks_dir, settings), targets))
