"""LocalStack pipeline benchmark: phase timings of `make localstack-e2e` from cold, and LocalStack's peak memory.

"Cold": `make clean` first (no synthesized stack, no plan, no policy reports or evidence) and no
LocalStack running, so every phase runs: synth + policy gate, LocalStack start, terraform apply of the
artifact, the e2e suite (concurrent), the drift check, stop (the main job discards its instance; `make
test` adds terraform destroy). The installed virtualenvs are kept (their install is set-up, measured by
the fresh-clone CI run). One run; phases come from the pipeline's own summary (which also carries the
slowest tests, the figures the tests recorded and the deploy's critical path from `terraform apply
-json`), side by side with the wall time of the whole make call, the 150 s target and the machine's load
(1-minute load average before and after, from /proc/loadavg).

``--before FILE`` reads an earlier result of this script (e.g. the run at the commit before a change, on
the same machine) and prints its phases next to this run's, with the ratio of each.

Usage: .venv/bin/python benchmarks/bench_localstack_e2e.py [--out FILE] [--before FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 150.0
PHASE = re.compile(r"^  (?P<name>.+?)\s{2,}(?P<seconds>[0-9.]+) s  (?P<state>\S+)$")


def run(cmd: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, errors="replace", check=False)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def slowest_tests(junit: Path, shown: int = 5) -> list[str]:
    """Where the e2e phase goes: the slowest tests from the run's JUnit report, and all the others."""
    if not junit.is_file():
        return [f"(no JUnit report at {junit})"]
    report = ET.parse(junit).getroot()
    found = list(report.iter("testcase"))
    cases = sorted(((float(case.get("time", 0)), case.get("name", "?")) for case in found), reverse=True)
    lines = [f"{'e2e test (slowest first)':<90} {'seconds':>8}"]
    lines.extend(f"{name[:90]:<90} {seconds:8.1f}" for seconds, name in cases[:shown])
    rest = cases[shown:]
    lines.append(f"{f'the other {len(rest)} tests':<90} {sum(seconds for seconds, _ in rest):8.1f}")
    # what tests recorded about their own waits (record_testsuite_property), e.g. the poison message's two
    properties = list(report.iter("property"))
    if properties:
        lines.append("recorded by the tests:")
        lines.extend(f"  {prop.get('name')} = {prop.get('value')} s" for prop in properties)
    return lines


RESULT_PHASE = re.compile(r"^(?P<name>\S.*?)\s{2,}(?P<seconds>[0-9.]+)\s+[0-9.]+%\s+(?P<state>\S+)$")
RESULT_WALL = re.compile(r"wall time of the make call (?P<seconds>[0-9.]+) s")


def earlier_result(path: Path) -> tuple[str, dict[str, float], float | None]:
    """(header line, phase -> seconds, make wall time) of an earlier output of this script."""
    text = path.read_text(encoding="utf-8")
    phases = {m["name"]: float(m["seconds"]) for m in map(RESULT_PHASE.match, text.splitlines()) if m}
    wall = RESULT_WALL.search(text)
    return text.splitlines()[0].lstrip("# "), phases, float(wall["seconds"]) if wall else None


def before_after(path: Path, phases: list[tuple[str, float, str]], wall: float) -> list[str]:
    header, before, before_wall = earlier_result(path)
    after = {name: seconds for name, seconds, _ in phases if name != "total"}
    lines = [f"before: {header} ({path.name})", f"{'phase':<24} {'before':>8} {'after':>8} {'after/before':>13}"]
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = before.get(name), after.get(name)
        ratio = f"{new / old:13.2f}" if old and new is not None else f"{'-':>13}"
        shown_old = f"{old:8.1f}" if old is not None else f"{'-':>8}"
        shown_new = f"{new:8.1f}" if new is not None else f"{'(none)':>8}"
        lines.append(f"{name:<24} {shown_old} {shown_new} {ratio}")
    if before_wall:
        lines.append(f"{'make wall time':<24} {before_wall:8.1f} {wall:8.1f} {wall / before_wall:13.2f}")
    return lines


def load_average() -> str:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[0] if Path("/proc/loadavg").is_file() else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--before", type=Path, help="an earlier output of this script, shown side by side")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    clean_rc, clean_out, _ = run(["make", "clean"])
    if clean_rc != 0:
        sys.stderr.write(clean_out)
        return 1
    load_before = load_average()
    rc, output, wall = run(["make", "localstack-e2e"])
    load_after = load_average()
    summary = output[output.rfind("== localstack-e2e summary ==") :] if "summary ==" in output else output[-3000:]
    phases = [(m["name"], float(m["seconds"]), m["state"]) for m in map(PHASE.match, summary.splitlines()) if m]
    total = sum(seconds for name, seconds, _ in phases if name != "total")
    lines = [
        f"# make localstack-e2e from cold (make clean first), {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores, commit {commit.strip()}",
        f"# exit status {rc}; wall time of the make call {wall:.1f} s; target <= {TARGET_SECONDS:.0f} s",
        f"# 1-minute load average {load_before} before, {load_after} after (2 cores, shared with other jobs)",
        "",
        f"{'phase':<24} {'seconds':>8} {'share':>7}",
    ]
    for name, seconds, state in phases:
        if name == "total":
            continue
        lines.append(f"{name:<24} {seconds:8.1f} {seconds / total:7.1%}  {state}")
    lines.append(f"{'sum of phases':<24} {total:8.1f}")
    lines.append(f"{'make wall time':<24} {wall:8.1f}   ratio to target {wall / TARGET_SECONDS:.2f}")
    if args.before:
        lines.append("")
        lines.extend(before_after(args.before, phases, wall))
    lines.append("")
    lines.extend(slowest_tests(ROOT / "build" / "e2e" / "junit.xml"))
    lines.append("")
    lines.append("pipeline summary:")
    # The summary names files by absolute path; a committed result names them relative to the checkout.
    lines.extend("  " + line.replace(f"{ROOT}/", "") for line in summary.strip().splitlines())
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
