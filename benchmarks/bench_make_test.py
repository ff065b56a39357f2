"""`make test` (what CI runs) from a fresh clone: its wall time against the 12-minute budget, and where it goes.

Two ways of running the same steps, measured in one run, each from its own fresh clone of the commit HEAD names
(a clone has no build output, no unit-suite cache, no venv: exactly what `.ci/run` starts from):
  graph    `make test`: one make graph in which the e2e starts once the policy gate passed, beside the unit suites
           (niced), then the promote path on a LocalStack environment
  serial   the same targets one after the other: `make verify`, `make localstack-e2e E2E_DESTROY=1`,
           `make promote-localstack` (what `make test` ran before issue 9's budget work)
For each: wall time, ratio to the 720 s budget (issue 9: `make test` under 12 minutes on this 2-core machine), the
CPU time the machine spent and the core-seconds it left idle (psutil, sampled every second: idle cores while a
step waits are what the graph exists to fill), and the moments each step finished (from the output's lines).

Usage: .venv/bin/python benchmarks/bench_make_test.py [--modes graph,serial] [--work DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 720.0
SAMPLE_S = 1.0
COMMANDS = {
    "graph": "make test",
    "serial": "make verify && make localstack-e2e E2E_DESTROY=1 && make promote-localstack",
}
# Lines that mark the end of a step (make -Otarget prints a step's output when it is done).
MILESTONES = (
    ("policy gate passed", re.compile(r"^policy gate PASSED")),
    ("unit-code-lambdas", re.compile(r"^unit-code-lambdas: (passed in|reused)")),
    ("unit-infra", re.compile(r"^unit-infra: (passed in|reused)")),
    ("unit-code-pipeline", re.compile(r"^unit-code-pipeline: (passed in|reused)")),
    ("coverage >= 90 %", re.compile(r"^TOTAL ")),
    ("e2e (summary printed)", re.compile(r"^== localstack-e2e summary ==")),
    ("promote: LocalStack up", re.compile(r"^promote-localstack: LocalStack up")),
    ("promote: plan", re.compile(r"^promote-localstack: plan")),
    ("promote: apply, integration, drift", re.compile(r"^promote-localstack: apply")),
    ("promote: down", re.compile(r"^promote-localstack: down")),
)
# Figures the steps print themselves.
FIGURES = (
    re.compile(r"^unit-[a-z-]+: passed in [0-9.]+ s"),
    re.compile(r"^  (localstack up|deploy|e2e tests|drift|destroy|localstack down|total)\b.* [0-9.]+ s"),
    re.compile(r"^tests +[0-9]+ run"),
    re.compile(r"^promote-localstack: "),
    re.compile(r"^promote (planned|applied): "),
)


@dataclass
class Run:
    mode: str
    command: str
    wall_s: float = 0.0
    status: int = 0
    busy_core_s: float = 0.0
    idle_core_s: float = 0.0
    milestones: list[tuple[str, float]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def sample_cpu(stop: threading.Event, totals: list[float]) -> None:
    """Add busy and idle core-seconds (all cores) to ``totals`` until ``stop`` is set."""
    cores = psutil.cpu_count() or 1
    before = psutil.cpu_times()
    while not stop.wait(SAMPLE_S):
        after = psutil.cpu_times()
        idle = (after.idle + after.iowait) - (before.idle + before.iowait)
        total = sum(after) - sum(before)
        span = SAMPLE_S * cores
        if total > 0:
            totals[0] += span * (1 - idle / total)
            totals[1] += span * (idle / total)
        before = after


def run_mode(mode: str, clone: Path, log: Path) -> Run:
    """Clone HEAD into ``clone`` and run ``mode``'s command there, its output (with seconds) into ``log``."""
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    run = Run(mode, COMMANDS[mode])
    totals = [0.0, 0.0]
    stop = threading.Event()
    sampler = threading.Thread(target=sample_cpu, args=(stop, totals), daemon=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYGATE_", "VIRTUAL_ENV", "UV_"))}
    started = time.monotonic()
    sampler.start()
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            ["bash", "-c", run.command], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            at = time.monotonic() - started
            out.write(f"{at:7.1f} {line}")
            text = line.rstrip("\n")
            run.milestones.extend((name, at) for name, pattern in MILESTONES if pattern.search(text))
            if any(pattern.search(text) for pattern in FIGURES):
                run.figures.append(text.strip())
        run.status = process.wait()
    run.wall_s = time.monotonic() - started
    stop.set()
    sampler.join()
    run.busy_core_s, run.idle_core_s = totals
    return run


def report(runs: list[Run], commit: str, load: str) -> str:
    lines = [
        f"# bench_make_test  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  commit={commit}  "
        f"{psutil.cpu_count()} CPUs  budget {BUDGET_S:.0f} s",
        f"# load before the first run: {load}",
        "mode      wall s  budget ratio  busy core-s  idle core-s  status  command",
    ]
    lines += [
        f"{r.mode:<8} {r.wall_s:7.1f}  {r.wall_s / BUDGET_S:12.2f}  {r.busy_core_s:11.0f}  {r.idle_core_s:11.0f}"
        f"  {r.status:6d}  {r.command}"
        for r in runs
    ]
    by_mode = {r.mode: r for r in runs}
    if "graph" in by_mode and "serial" in by_mode:
        lines.append(f"graph / serial wall time: {by_mode['graph'].wall_s / by_mode['serial'].wall_s:.2f}")
    for r in runs:
        lines += ["", f"{r.mode}: when each step finished (s from the start)"]
        lines += [f"  {at:7.1f}  {name}" for name, at in r.milestones]
        lines += [f"{r.mode}: figures the steps printed"]
        lines += [f"  {figure}" for figure in r.figures]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="graph,serial", help="comma-separated: graph, serial (in this order)")
    parser.add_argument("--work", type=Path, default=None, help="where the clones go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(sorted(unknown))}")
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-make-test-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = []
    for mode in modes:
        print(f"{mode}: {COMMANDS[mode]} in {work / mode} (log: {work / f'{mode}.log'})", flush=True)
        runs.append(run_mode(mode, work / mode, work / f"{mode}.log"))
        print(f"{mode}: {runs[-1].wall_s:.1f} s, exit {runs[-1].status}", flush=True)
    text = report(runs, commit.stdout.strip(), load)
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return max(r.status for r in runs)


if __name__ == "__main__":
    raise SystemExit(main())
