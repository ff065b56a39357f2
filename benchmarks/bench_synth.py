"""Synth and `make verify` benchmark: wall time and peak memory of the whole process tree.

Measures, side by side in one run (interleaved, so machine noise hits both alike):
  floor  = python benchmarks/floor_synth.py  (provider binding loaded, empty stack synthesized)
  synth  = python main.py                    (the real platform stack)
and then `make verify` (warm venv) with nothing changed and after touching a stack source
(synth + validate re-run). Prints medians and the synth/floor ratio.

Usage: .venv/bin/python benchmarks/bench_synth.py [--runs N] [--verify-runs M] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import process_tree
from process_tree import Sample

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"synth": 1.25, "verify_seconds": 45.0}


def measure(cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` from the repository root; stop the benchmark if it fails."""
    result = process_tree.measure(cmd, env, ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def _commit() -> str:
    """The measured commit (with ``+dirty`` when the work tree has changes)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verify-runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.setdefault("PAYGATE_ENVIRONMENT", "dev")
    python = sys.executable
    floor: list[Sample] = []
    synth: list[Sample] = []
    with tempfile.TemporaryDirectory() as tmp:
        synth_env = {**env, "PAYGATE_OUTDIR": f"{tmp}/synth"}
        # One warm-up of each so the first measured run does not pay disk-cache misses.
        measure([python, "benchmarks/floor_synth.py", f"{tmp}/floor"], env)
        measure([python, "main.py"], synth_env)
        for _ in range(args.runs):
            floor.append(measure([python, "benchmarks/floor_synth.py", f"{tmp}/floor"], env))
            synth.append(measure([python, "main.py"], synth_env))
    verify: list[Sample] = []
    verify_resynth: list[Sample] = []
    for _ in range(args.verify_runs):
        verify.append(measure(["make", "verify"], env))
        # A stack source newer than cdk.tf.json: make re-runs synth and validate (the edit loop).
        (ROOT / "stacks" / "payment_stack.py").touch()
        verify_resynth.append(measure(["make", "verify"], env))

    def med(samples: list[Sample], attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in samples)

    f_s, s_s = med(floor, "seconds"), med(synth, "seconds")
    f_m, s_m = med(floor, "peak_mb"), med(synth, "peak_mb")
    v_s = med(verify, "seconds")
    vr_s = med(verify_resynth, "seconds")
    lines = [
        f"# bench_synth  {time.strftime('%Y-%m-%d %H:%M:%S')}  host={platform.node()} cpus={os.cpu_count()}"
        f"  commit={_commit()}",
        f"# runs={args.runs} (interleaved, medians) verify_runs={args.verify_runs}",
        f"{'measure':<26}{'wall s':>10}{'peak MB (tree)':>16}",
        f"{'floor (provider+empty)':<26}{f_s:>10.2f}{f_m:>16.0f}",
        f"{'synth (platform stack)':<26}{s_s:>10.2f}{s_m:>16.0f}",
        f"{'make verify (warm)':<26}{v_s:>10.2f}{med(verify, 'peak_mb'):>16.0f}",
        f"{'make verify (re-synth)':<26}{vr_s:>10.2f}{med(verify_resynth, 'peak_mb'):>16.0f}",
        f"synth/floor wall ratio   {s_s / f_s:.3f}  (target <= {TARGETS['synth']})",
        f"synth/floor memory ratio {s_m / f_m:.3f}",
        f"make verify wall         {v_s:.1f} s warm, {vr_s:.1f} s with re-synth"
        f"  (target <= {TARGETS['verify_seconds']:.0f} s)",
        "raw floor s:  " + " ".join(f"{s.seconds:.2f}" for s in floor),
        "raw synth s:  " + " ".join(f"{s.seconds:.2f}" for s in synth),
        "raw verify s: " + " ".join(f"{s.seconds:.2f}" for s in verify),
        "raw verify re-synth s: " + " ".join(f"{s.seconds:.2f}" for s in verify_resynth),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    ok = s_s / f_s <= TARGETS["synth"] and max(v_s, vr_s) <= TARGETS["verify_seconds"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
