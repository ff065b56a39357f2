"""Batch CSV parse + validate benchmark: throughput (lines/s, one core) and peak memory per file size.

For each size (10k, 100k, 1M data lines by default) a file is generated once (1 % of lines invalid
in rotating ways, unique references), then parsed in a fresh child process pinned to one CPU, which
streams the file in 1 MiB chunks through lambdas.shared.batch_csv.BatchParser (the code the
batch_processor runs) and reports: wall seconds, CPU seconds, lines/s (per CPU second: the figure a
busy shared machine disturbs least), peak RSS (ru_maxrss) and the RSS growth over the process's own
baseline after imports. Results are medians of --runs runs. A second workload (``--quoted-sizes``)
quotes the description of one line in ten, with a comma inside (the quote-tracking path).

``--baseline REV`` measures the parser of git revision REV (its ``lambdas/`` and ``contracts/``,
exported with ``git archive``) in the same run, each of its runs interleaved with one of the
working tree's, so both figures see the same machine load; the report gives both and their ratio.

Usage: .venv/bin/python benchmarks/bench_batch_parse.py [--sizes 10000,100000,1000000]
       [--quoted-sizes 100000] [--runs N] [--baseline REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
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

start, start_cpu = time.perf_counter(), time.process_time()
rows = errors = 0
for item in parser.parse(chunks(sys.argv[1])):
    if isinstance(item, BatchRow):
        rows += 1
    else:
        errors += 1
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows, "errors": errors,
                  "peak_mb": peak_kb / 1024, "growth_mb": (peak_kb - base_kb) / 1024}))
"""


def generate(path: Path, lines: int, *, quoted: bool = False) -> None:
    """``lines`` data lines, one in a hundred invalid; CRLF line ends, BOM, realistic field widths.

    ``quoted``: one line in ten has a quoted description holding a comma.
    """
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("\ufeff" + HEADER)
        block = []
        for i in range(lines):
            if i % 100 == 99:
                block.append(BAD[(i // 100) % len(BAD)].format(i=i))
            elif quoted and i % 10 == 5:
                block.append(f'ref-{i:08d},m_merchant{i % 50:04d},{100 + i % 99_900},EUR,"invoice {i}, services"\r\n')
            else:
                block.append(f"ref-{i:08d},m_merchant{i % 50:04d},{100 + i % 99_900},EUR,invoice {i} for services\r\n")
            if len(block) == 10_000:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))


def run_child(path: Path, root: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(root)], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def export_revision(revision: str, dest: Path) -> str:
    """``lambdas/`` and ``contracts/`` of ``revision`` into ``dest``; its short commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{revision}^{{commit}}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "lambdas", "contracts"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return commit


def summarize(size: int, path: Path, samples: list[dict[str, float]]) -> tuple[float, str]:
    """Lines per CPU second, and the report row."""
    assert all(s["rows"] + s["errors"] == size for s in samples), samples
    seconds = statistics.median(s["seconds"] for s in samples)
    cpu = statistics.median(s["cpu_seconds"] for s in samples)
    rate = size / cpu
    row = (
        f"{size:>10,} {path.stat().st_size / 2**20:>8.1f} {seconds:>8.2f} {cpu:>8.2f} {rate:>10,.0f}"
        f" {statistics.median(s['peak_mb'] for s in samples):>12.1f}"
        f" {statistics.median(s['growth_mb'] for s in samples):>14.1f}"
    )
    return rate, row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quoted-sizes", default="100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision whose parser is measured in the same run")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    workloads = [(int(s), False) for s in args.sizes.split(",") if s]
    workloads += [(int(s), True) for s in args.quoted_sizes.split(",") if s]
    columns = f"{'seconds':>8} {'CPU s':>8} {'lines/s':>10} {'peak RSS MB':>12} {'RSS growth MB':>14}"

    with tempfile.TemporaryDirectory(prefix="paygate-bench-") as tmp:
        trees = {"working tree": ROOT}
        if args.baseline:
            trees = {
                f"baseline {export_revision(args.baseline, Path(tmp) / 'baseline')}": Path(tmp) / "baseline",
                **trees,
            }
        report = [
            "# Batch CSV parse + validate (lambdas.shared.batch_csv), one core, 1 MiB chunks",
            f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs (child pinned to 1),"
            f" median of {args.runs} runs; 1 % invalid lines; lines/s per CPU second;"
            f" target >= {TARGET_LINES_PER_SECOND:,} lines/s",
            f"# measured: {', '.join(trees)} (runs interleaved)",
        ]
        rates: dict[str, dict[tuple[int, bool], float]] = {name: {} for name in trees}
        rows: dict[str, list[str]] = {name: [] for name in trees}
        for size, quoted in workloads:
            path = Path(tmp) / f"batch-{size}{'-quoted' if quoted else ''}.csv"
            generate(path, size, quoted=quoted)
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, root in trees.items():
                    samples[name].append(run_child(path, root))
            for name in trees:
                rate, row = summarize(size, path, samples[name])
                rates[name][(size, quoted)] = rate
                rows[name].append(row + ("  (10 % quoted)" if quoted else ""))
            path.unlink()
    for name in trees:
        report += [f"## {name}", f"{'lines':>10} {'file MB':>8} {columns}", *rows[name]]
    current = rates["working tree"]
    if args.baseline:
        base = next(iter(rates.values()))
        ratios = ", ".join(
            f"{size:,}{' quoted' if quoted else ''} {current[(size, quoted)] / base[(size, quoted)]:.2f}"
            for size, quoted in workloads
        )
        report.append(f"# working tree / baseline lines/s: {ratios}")
    ok = all(rate >= TARGET_LINES_PER_SECOND for rate in current.values())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report.append(
        f"# throughput target {'met' if ok else 'NOT met'} by the working tree at every size;"
        f" load average after the run: {load}"
    )
    text = "\n".join(report) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
