"""Policy gate benchmark: wall time and peak memory of the gate on the synthesized JSON and the plan.

Measures (interleaved runs, medians):
  both  = python -m pipeline policy-gate --input cdk.tf.json --input plan.json  (what `make policy` runs)
  json  = the gate on cdk.tf.json alone (terraform_json)
  plan  = the gate on plan.json alone (terraform_plan)
and once, the offline plan that produces plan.json (`python -m pipeline plan`). Target: both <= 15 s.

Usage: .venv/bin/python benchmarks/bench_policy_gate.py [--runs N] [--out FILE]
(needs `make synth` and `make plan` first: it reads cdktf.out/ and build/plan/plan.json)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import process_tree
from process_tree import Sample

ROOT = Path(__file__).resolve().parent.parent
STACK = "cdktf.out/stacks/paygate/cdk.tf.json"
PLAN = "build/plan/plan.json"
TARGET_BOTH_SECONDS = 15.0


def measure(cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` from the repository root; a failure is reported (its exit code is part of the result)."""
    result = process_tree.measure(cmd, env, ROOT)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-2000:])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.setdefault("TF_CLI_CONFIG_FILE", str(ROOT / "build" / "terraform.tfrc"))
    gate = [sys.executable, "-m", "pipeline", "policy-gate"]
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as scratch:
        commands = {
            "both": [*gate, "--input", STACK, "--input", PLAN, "--out", f"{scratch}/both"],
            "json": [*gate, "--input", STACK, "--out", f"{scratch}/json"],
            "plan": [*gate, "--input", PLAN, "--out", f"{scratch}/plan"],
        }
        planned = measure(
            [
                sys.executable,
                "-m",
                "pipeline",
                "plan",
                "--stack-dir",
                "cdktf.out/stacks/paygate",
                "--out",
                f"{scratch}/plan.json",
                "--work-dir",
                f"{scratch}/work",
            ],
            env,
        )
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(measure(cmd, env))
    lines = [
        f"policy gate benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, runs={args.runs}",
        f"offline plan (python -m pipeline plan): {planned.seconds:6.2f} s  peak {planned.peak_mb:6.0f} MB"
        f"  exit {planned.returncode}",
    ]
    for name, runs in samples.items():
        seconds = statistics.median(s.seconds for s in runs)
        peak = max(s.peak_mb for s in runs)
        codes = sorted({s.returncode for s in runs})
        lines.append(
            f"gate {name:<5} median {seconds:6.2f} s  (min {min(s.seconds for s in runs):.2f})  "
            f"peak {peak:6.0f} MB  exit {codes}"
        )
    both = statistics.median(s.seconds for s in samples["both"])
    verdict = "OK" if both <= TARGET_BOTH_SECONDS else "OVER"
    lines.append(f"target: both scans together <= {TARGET_BOTH_SECONDS:.0f} s -> {both:.2f} s {verdict}")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if verdict == "OK" and all(s.returncode == 0 for r in samples.values() for s in r) else 1


if __name__ == "__main__":
    sys.exit(main())
