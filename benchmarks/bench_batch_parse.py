"""Batch CSV parse + validate benchmark: throughput (lines/s, one core) and peak memory per file size.

For each size (10k, 100k, 1M data lines by default) a file is generated once (1 % of lines invalid
in rotating ways, unique references), then parsed in a fresh child process pinned to one CPU, which
streams the file in 1 MiB chunks through lambdas.shared.batch_csv.BatchParser (the code the
batch_processor runs) and reports: wall seconds, lines/s, peak RSS (ru_maxrss) and the RSS growth
over the process's own baseline after imports. Results are medians of --runs runs.

Usage: .venv/bin/python benchmarks/bench_batch_parse.py [--sizes 10000,100000,1000000] [--runs N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_LINES_PER_SECOND = 100_000
HEADER = "reference,merchant_id,amount,currency,description\r\n"
BAD = [
    "bad-{i},m_abcdef12,100,XXX,unknown currency\r\n",
    "bad-{i},m_abcdef12,1.50,EUR,decimal amount\r\n",
    "bad-{i},m_abcdef12,100,EUR,card 4111 1111 1111 1111\r\n",
    "ref-0,m_abcdef12,100,EUR,duplicate reference\r\n",
]

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[2])
from lambdas.shared.batch_csv import BatchLimits, BatchParser, BatchRow
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
parser = BatchParser(BatchLimits(amount_limit=10**11, max_bytes=2**31, max_lines=1_000_000))
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def chunks(path):
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk

start = time.perf_counter()
rows = errors = 0
for item in parser.parse(chunks(sys.argv[1])):
    if isinstance(item, BatchRow):
        rows += 1
    else:
        errors += 1
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rows": rows, "errors": errors, "peak_mb": peak_kb / 1024,
                  "growth_mb": (peak_kb - base_kb) / 1024}))
"""


def generate(path: Path, lines: int) -> None:
    """``lines`` data lines, one in a hundred invalid; CRLF line ends, BOM, realistic field widths."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\ufeff" + HEADER)
        block = []
        for i in range(lines):
            if i % 100 == 99:
                block.append(BAD[(i // 100) % len(BAD)].format(i=i))
            else:
                block.append(f"ref-{i:08d},m_merchant{i % 50:04d},{100 + i % 99_900},EUR,invoice {i} for services\r\n")
            if len(block) == 10_000:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))


def run_child(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(ROOT)], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    report = [
        "# Batch CSV parse + validate (lambdas.shared.batch_csv), one core, 1 MiB chunks",
        f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs (child pinned to 1),"
        f" median of {args.runs} runs; 1 % invalid lines; target >= {TARGET_LINES_PER_SECOND:,} lines/s",
        f"{'lines':>10} {'file MB':>8} {'seconds':>8} {'lines/s':>10} {'peak RSS MB':>12} {'RSS growth MB':>14}",
    ]
    ok = True
    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"batch-{size}.csv"
            generate(path, size)
            samples = [run_child(path) for _ in range(args.runs)]
            assert all(s["rows"] + s["errors"] == size for s in samples), samples
            seconds = statistics.median(s["seconds"] for s in samples)
            rate = size / seconds
            ok &= rate >= TARGET_LINES_PER_SECOND
            report.append(
                f"{size:>10,} {path.stat().st_size / 2**20:>8.1f} {seconds:>8.2f} {rate:>10,.0f}"
                f" {statistics.median(s['peak_mb'] for s in samples):>12.1f}"
                f" {statistics.median(s['growth_mb'] for s in samples):>14.1f}"
            )
            path.unlink()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report.append(f"# throughput target {'met' if ok else 'NOT met'} at every size; load average after the run: {load}")
    text = "\n".join(report) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
