"""`make verify` edit-loop benchmark: wall time of the whole target after each kind of change, ratios to the targets.

Scenarios, in one run, in this order (each edit undone right after its measurement, bytes and mtime):
  cold            after `make clean` (every build output and result cache gone: unit-suite cache, synth, plan,
                  policy stamps, the policy fixtures' plan, .hypothesis; kept, as `make clean` keeps them: .venv,
                  build/tools, LocalStack's venv and the uv/pip/jsii download caches), i.e. a fresh clone whose
                  venvs are built
  warm            nothing changed since the last run
  touch stack     mtime of a stack source changed, no byte (must not synthesize again)
  edit stack      one alarm description in a stack source changed: the synthesized JSON changes, so synth,
                  validate, plan, policy and the unit suites that read stacks/ (unit-infra, unit-code-pipeline) run
  edit lambdas    a comment put first in a handler (its archive, hence cdk.tf.json, changes: package, synth,
                  validate, plan, policy and the handler suite run again; the stack/policy suite does not)
Targets: warm, touch and stack edits <= 60 s, a lambdas edit <= 30 s (issue 13); cold has none (it is printed
against 60 s for scale). For every scenario the unit suites' lines of `make` (ran with their wall time, or reused)
and the slowest tests of each suite that ran (its JUnit report) show what holds the figure. `uptime` is printed with
each figure.

Usage: .venv/bin/python benchmarks/bench_verify.py [--target verify] [--out FILE] [--no-cold]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE = ROOT / "stacks" / "constructs" / "alarms.py"
# An edit that changes the synthesized JSON (the API 5XX alarm's description) and no test pins.
STACK_EDIT = (
    b'"The payments API answered with server errors"',
    b'"The payments API answered with server errors (5XX)"',
)
LAMBDA_FILE = ROOT / "lambdas" / "api_handler" / "handler.py"
TARGET_SECONDS = {"cold": 60.0, "warm": 60.0, "touch stack": 60.0, "edit stack": 60.0, "edit lambdas": 30.0}
SUITES = ("unit-infra", "unit-code-lambdas", "unit-code-pipeline")
JUNIT = {name: ROOT / "build" / "unit" / f"{name}.xml" for name in SUITES}
SUITE_LINE = re.compile(r"^(unit-[a-z-]+): (passed in [0-9.]+ s|reused)")
SLOWEST = 3


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def suites_that_ran(stdout: str) -> list[str]:
    """The unit-suite lines of a `make` output: ``<suite>: passed in <s> s`` or ``<suite>: reused``."""
    return [f"{m.group(1)} {m.group(2)}" for m in map(SUITE_LINE.match, stdout.splitlines()) if m]


def slowest_tests(suite: str) -> list[str]:
    """The ``SLOWEST`` longest test cases of ``suite``'s JUnit report (seconds, pytest id)."""
    cases = [
        (float(case.get("time", "0")), f"{case.get('classname', '')}::{case.get('name', '')}")
        for case in ET.parse(JUNIT[suite]).getroot().iter("testcase")
    ]
    return [f"{seconds:6.1f} s  {name}" for seconds, name in sorted(cases, reverse=True)[:SLOWEST]]


def timed(target: str) -> tuple[float, list[str]]:
    """Seconds of ``make <target>`` and what its unit suites did; stops the benchmark if it fails."""
    started = time.monotonic()
    done = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"make {target} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    notes = []
    for line in suites_that_ran(done.stdout):
        notes.append(line)
        suite = line.split()[0]
        if "passed in" in line and suite in JUNIT:
            notes.extend(f"    {t}" for t in slowest_tests(suite))
    return seconds, notes


def edited(path: Path, change: tuple[bytes, bytes] | None, target: str) -> tuple[float, list[str]]:
    """``make <target>`` with ``change`` (old, new) made in ``path`` (else a comment put first: appended after the
    last statement, ruff format refuses it and lint fails), then the file restored (bytes and mtime)."""
    original = path.read_bytes()
    stat = path.stat()
    if change is not None and original.count(change[0]) != 1:
        raise SystemExit(f"{path}: the benchmark's edit expects {change[0]!r} exactly once")
    try:
        path.write_bytes(original.replace(*change) if change else b"# bench_verify edit\n" + original)
        return timed(target)
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="verify")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-cold", action="store_true", help="start from the current caches (no `make clean`)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    lines = [f"# bench_verify  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  commit={commit.stdout.strip()}  "]
    lines[0] += f"target=make {args.target}"
    figures: list[tuple[str, float, list[str], str]] = []

    def measure(name: str, result: tuple[float, list[str]]) -> None:
        figures.append((name, result[0], result[1], uptime()))
        print(f"{name}: {result[0]:.1f} s  ({figures[-1][3]})", *result[1], sep="\n  ", flush=True)

    if args.no_cold:
        timed(args.target)  # the starting point: every cache filled for this tree
    else:
        subprocess.run(["make", "clean"], cwd=ROOT, capture_output=True, check=True)
        measure("cold", timed(args.target))
    measure("warm", timed(args.target))
    STACK_FILE.touch()
    measure("touch stack", timed(args.target))
    measure("edit stack", edited(STACK_FILE, STACK_EDIT, args.target))
    restored = timed(args.target)  # back to the cached state of the unedited tree
    print(f"(restore: {restored[0]:.1f} s)", flush=True)
    measure("edit lambdas", edited(LAMBDA_FILE, None, args.target))
    lines.append(f"{'scenario':<14} {'wall s':>8} {'target s':>9} {'ratio':>6}  uptime after the run")
    for name, seconds, _, at in figures:
        target = TARGET_SECONDS[name]
        lines.append(f"{name:<14} {seconds:8.1f} {target:9.0f} {seconds / target:6.2f}  {at}")
    lines.append("")
    lines.append("What each scenario's unit suites did (and the slowest tests of a suite that ran):")
    for name, _, notes, _ in figures:
        lines.append(f"  {name}: " + ("; ".join(n for n in notes if not n.startswith(" ")) or "no unit suite line"))
        lines.extend(f"  {n}" for n in notes if n.startswith(" "))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
