"""`make verify` edit-loop benchmark: wall time of one target after each kind of change, with ratios to the targets.

Scenarios, in one run (each edit undone right after its measurement, byte for byte):
  warm            nothing changed since the last run
  touch stack     mtime of a stack source changed, no byte (must not synthesize again)
  edit stack      a comment appended to a stack source (synth runs; the JSON is byte-identical, so validate,
                  plan, policy and the unit suites that do not read the file are reused)
  edit lambdas    a comment appended to a handler (its archive, hence cdk.tf.json, changes: package, synth,
                  validate, plan, policy and the handler suite run again; the stack/policy suite does not)
Targets: warm and stack edits <= 60 s, a lambdas edit <= 30 s (issue 13). `uptime` load is printed with each figure.

Usage: .venv/bin/python benchmarks/bench_verify.py [--target verify] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK_FILE = ROOT / "stacks" / "constructs" / "alarms.py"
LAMBDA_FILE = ROOT / "lambdas" / "api_handler" / "handler.py"
TARGET_SECONDS = {"warm": 60.0, "touch stack": 60.0, "edit stack": 60.0, "edit lambdas": 30.0}


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def timed(target: str) -> float:
    """Seconds of ``make <target>``; stops the benchmark if it fails."""
    started = time.monotonic()
    done = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"make {target} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def edited(path: Path, target: str) -> float:
    """``make <target>`` with a comment appended to ``path``, then the file restored (bytes and mtime)."""
    original = path.read_bytes()
    stat = path.stat()
    try:
        path.write_bytes(original + b"# bench_verify edit\n")
        return timed(target)
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="verify")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"# bench_verify  {when}  commit={commit.stdout.strip()}  target=make {args.target}"]
    timed(args.target)  # the starting point: every cache filled for this tree
    figures: list[tuple[str, float, str]] = []
    figures.append(("warm", timed(args.target), load()))
    STACK_FILE.touch()
    figures.append(("touch stack", timed(args.target), load()))
    figures.append(("edit stack", edited(STACK_FILE, args.target), load()))
    timed(args.target)  # back to the cached state of the unedited tree
    figures.append(("edit lambdas", edited(LAMBDA_FILE, args.target), load()))
    lines.append(f"{'scenario':<14} {'wall s':>8} {'target s':>9} {'ratio':>6}  load (1/5/15 min)")
    for name, seconds, at in figures:
        target = TARGET_SECONDS[name]
        lines.append(f"{name:<14} {seconds:8.1f} {target:9.0f} {seconds / target:6.2f}  {at}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
