"""Mutation testing of the modules that carry the guarantees (mutmut 3), written up as a committed report.

What runs: the files of the checkout (git's tracked and untracked-but-not-ignored files, as they are in
the working tree) are copied into ``<work>/tree``; ``mutmut run`` runs there with the ``[tool.mutmut]``
settings of ``pyproject.toml`` (which modules are mutated, which unit tests run), so mutmut's
``mutants/`` folder lands under ``<work>`` (``build/mutation`` from ``make mutation``) and nothing is
written into the checkout except the report. Every run starts from an empty work dir: a survivor is
re-tested against today's tests, never taken from an old run's cache.

The report (Markdown) gives, per mutated module and overall: mutants, killed, survived, timeout, no
tests (no selected test runs the function), other (suspicious, segfault, skipped), equivalent, and the
kill rate = (killed + timeout) / (mutants - equivalent - skipped). Every mutant that was not killed is
listed with its mutated line and, for an equivalent one, the reason from ``--equivalent`` (a YAML list of
``{function, line, reason}``: ``function`` is mutmut's name without the ``__mutmut_<n>`` suffix,
``line`` the mutated source line as mutmut shows it, stripped). Entries that match no survivor any more
are listed as stale, so the file does not rot when code changes.

Exit status: 0 when the overall kill rate reaches ``--fail-under`` (percent) and every mutant got a
verdict; 1 otherwise; 2 when mutmut itself failed.

Usage: .venv/bin/python benchmarks/mutation.py [--work build/mutation] [--max-children 2]
       [--equivalent benchmarks/mutation_equivalent.yaml] [--out benchmarks/results/mutation.md]
       [--fail-under 90] [MUTANT_GLOB ...]   (globs, e.g. 'lambdas.shared.money*', run only those)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib.metadata import version
from pathlib import Path

import yaml

from pipeline.cache.inputs import input_files

ROOT = Path(__file__).resolve().parent.parent
DETECTED = ("killed", "timeout")
# mutmut's statuses (mutmut.stats.status_by_exit_code) folded into the report's columns.
COLUMNS = ("killed", "survived", "timeout", "no tests", "not checked")
# Left out of the rate: mutmut skipped them, or the run was interrupted before they were tested.
NOT_TESTED = ("skipped", "not checked", "check was interrupted by user")
MUTANT_SUFFIX = "__mutmut_"


@dataclass(frozen=True)
class Mutant:
    """One mutant as mutmut reports it: ``<module>.<function>__mutmut_<n>`` and its status."""

    name: str
    status: str

    @property
    def module(self) -> str:
        return self.function.rsplit(".", 1)[0]

    @property
    def function(self) -> str:
        return self.name.rsplit(MUTANT_SUFFIX, 1)[0]


@dataclass(frozen=True)
class Equivalent:
    """A mutant that cannot change behaviour: which function, which mutated line, and why."""

    function: str
    line: str
    reason: str


def stage(root: Path, tree: Path, *, fresh: bool) -> int:
    """Copy the checkout into ``tree`` (emptied first unless resuming); the number of files copied."""
    if fresh and tree.exists():
        shutil.rmtree(tree)
    # the files of the checkout as a unit suite's inputs key sees them (tracked + untracked not ignored)
    files = [Path(p) for p in input_files(root) if (root / p).is_file()]
    for relative in files:
        target = tree / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
    return len(files)


def run_mutmut(tree: Path, log: Path, max_children: int, globs: list[str]) -> int:
    """``mutmut run`` in ``tree``; its output (progress spinners included) goes to ``log``."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "run", "--max-children", str(max_children), *globs]
    shown = " ".join(command[:4] + globs[:3]) + (f" ... ({len(globs)} names)" if len(globs) > 3 else "")
    print(f"mutation: {shown} (in {tree}; log {log})", flush=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=tree, stdout=out, stderr=subprocess.STDOUT)
        last = time.monotonic()
        while process.poll() is None:
            time.sleep(1)
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                print(f"mutation: {progress(log)}", flush=True)
    return process.returncode


def progress(log: Path) -> str:
    """mutmut's latest progress line ("done/total  🎉 killed ..."), from its log."""
    text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    lines = [line.strip() for line in text.splitlines() if "/" in line and "🎉" in line]
    return lines[-1] if lines else "starting"


def mutmut_output(tree: Path, *args: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(mutmut), *args], cwd=tree, check=True, capture_output=True, text=True).stdout


def results(tree: Path) -> list[Mutant]:
    """Every mutant and its status (``mutmut results --all true``: ``    <name>: <status>`` lines)."""
    found = []
    for line in mutmut_output(tree, "results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and MUTANT_SUFFIX in name:
            found.append(Mutant(name, status))
    return found


def mutated_lines(tree: Path, mutants: list[Mutant]) -> dict[str, list[str]]:
    """The lines each mutant adds, stripped: ``mutmut show``'s diff, made in this process (one mutmut start
    for all of them instead of one per mutant)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # mutmut reads its config from the cwd

    previous = Path.cwd()
    os.chdir(tree)
    try:
        diffs = {
            m.name: get_diff_for_mutant(m.name, path=Path(*m.module.split(".")).with_suffix(".py")) for m in mutants
        }
    finally:
        os.chdir(previous)
    return {
        name: [
            line[1:].strip()
            for line in diff.splitlines()
            if line.startswith("+") and not line.startswith("+++") and line[1:].strip()
        ]
        for name, diff in diffs.items()
    }


def load_equivalents(path: Path) -> list[Equivalent]:
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Equivalent(str(e["function"]), str(e["line"]).strip(), " ".join(str(e["reason"]).split())) for e in entries]


def rate(detected: int, counted: int) -> str:
    return f"{100 * detected / counted:.1f} %" if counted else "n/a"


def render(
    mutants: list[Mutant],
    lines: dict[str, list[str]],
    equivalents: list[Equivalent],
    *,
    runs: list[tuple[str, float]],
    max_children: int,
    fail_under: float,
    globs: list[str],
) -> tuple[str, float]:
    """The Markdown report and the overall kill rate (percent)."""
    matched: dict[str, Equivalent] = {}
    for mutant in mutants:
        if mutant.status in DETECTED:
            continue
        shown = " ".join(lines.get(mutant.name, []))
        for entry in equivalents:
            if entry.function == mutant.function and entry.line == shown:
                matched[mutant.name] = entry
    used = set(matched.values())

    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for mutant in mutants:
        status = "equivalent" if mutant.name in matched else mutant.status
        by_module[mutant.module][status] += 1

    def row(name: str, counts: Counter[str]) -> tuple[str, int, int]:
        total = sum(counts.values())
        other = total - sum(counts[c] for c in (*COLUMNS, "equivalent")) - counts["check was interrupted by user"]
        counted = total - counts["equivalent"] - sum(counts[c] for c in NOT_TESTED)
        detected = sum(counts[c] for c in DETECTED)
        cells = [name, total, *(counts[c] for c in COLUMNS), other, counts["equivalent"], rate(detected, counted)]
        return "| " + " | ".join(str(c) for c in cells) + " |", detected, counted

    total_counts: Counter[str] = Counter()
    table = []
    for module in sorted(by_module):
        total_counts.update(by_module[module])
        table.append(row(f"`{module}`", by_module[module])[0])
    overall, detected, counted = row("**overall**", total_counts)
    kill_rate = 100 * detected / counted if counted else 0.0

    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = [
        "# Mutation testing (mutmut)",
        "",
        f"Generated by `make mutation` (`benchmarks/mutation.py`) on {dt.date.today().isoformat()}, commit "
        f"{commit.stdout.strip() or 'unknown'}{' with uncommitted changes' if dirty else ''}; mutmut "
        f"{version('mutmut')}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{max_children} worker(s) at nice {os.nice(0)}.",
        "",
        f"**Overall kill rate: {rate(detected, counted)}** (target {fail_under:g} %); wall time: "
        + "; ".join(f"{kind} {seconds:.0f} s ({seconds / 60:.1f} min)" for kind, seconds in runs)
        + (f"; only mutants matching {', '.join(globs)}" if globs else "")
        + ".",
        "",
        *(
            [
                f"**Incomplete: {unchecked} of {len(mutants)} mutants were not checked** (the run was interrupted); "
                "the rates cover the checked mutants only. `make mutation MUTATION_ARGS=--resume` continues it.",
                "",
            ]
            if (unchecked := total_counts["not checked"] + total_counts["check was interrupted by user"])
            else []
        ),
        "Kill rate = (killed + timeout) / (mutants - equivalent - skipped). *No tests*: no selected unit test "
        "runs the function. *Not checked*: not reached by an interrupted run (left out of the rate). *Other*: "
        "suspicious, segfault, skipped. A *resume* re-tests, against the tests of its day, only the mutants "
        "the runs before it did not kill (`--resume`). Mutated modules and selected tests: "
        "`[tool.mutmut]` in `pyproject.toml`.",
        "",
        "| module | mutants | killed | survived | timeout | no tests | not checked | other | equivalent | kill rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *table,
        overall,
        "",
    ]
    kept = [m for m in mutants if m.status not in (*DETECTED, *NOT_TESTED)]
    out += ["## Mutants not killed", ""]
    if not kept:
        out += ["None.", ""]
    for mutant in sorted(kept, key=lambda m: m.name):
        shown = " ".join(lines.get(mutant.name, [])) or "(line removed)"
        entry = matched.get(mutant.name)
        why = f"equivalent: {entry.reason}" if entry else mutant.status
        out.append(f"- `{mutant.name}` `{shown}` — {why}")
    out.append("")
    stale = [e for e in equivalents if e not in used]
    if stale and not globs:
        out += ["## Stale equivalent entries (match no surviving mutant)", ""]
        out += [f"- `{e.function}` `{e.line}`" for e in stale]
        out.append("")
    return "\n".join(out), kill_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "mutation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mutation.md")
    parser.add_argument("--equivalent", type=Path, default=ROOT / "benchmarks" / "mutation_equivalent.yaml")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--fail-under", type=float, default=90.0)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the last run: re-copy the checkout (changed functions get new mutants) and re-test every "
        "mutant that was not killed against today's tests",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="write the report of the last run (also an interrupted one)"
    )
    parser.add_argument("globs", nargs="*", help="run only the mutants matching these globs")
    args = parser.parse_args(argv)

    start = time.monotonic()
    work = args.work.resolve()
    tree = work / "tree"
    history = work / "runs.txt"  # one "<kind> <seconds>" line per run since the last full one
    kept = (tree / "mutants").is_dir()
    resume = args.resume and kept
    if args.report_only and not kept:
        print(f"mutation: no run to report in {work}", file=sys.stderr)
        return 2
    if not args.report_only:
        globs = list(args.globs)
        if resume:  # the mutants not killed yet (within the globs, if any), named: mutmut re-tests named ones
            globs = [
                m.name
                for m in results(tree)
                if m.status not in DETECTED and (not args.globs or any(fnmatch(m.name, g) for g in args.globs))
            ]
        count = stage(ROOT, tree, fresh=not resume)
        print(f"mutation: staged {count} files of the checkout in {tree}", flush=True)
        log = work / "mutmut.log"
        if not resume:
            history.unlink(missing_ok=True)
            log.unlink(missing_ok=True)
        code = run_mutmut(tree, log, args.max_children, globs) if globs or not resume else 0
        if resume and code == 0:
            # mutmut made new mutants for the functions that changed since the last run (their verdicts were
            # reset); named runs test only the named ones, so those get a second pass.
            fresh = [
                m.name
                for m in results(tree)
                if m.status == "not checked" and (not args.globs or any(fnmatch(m.name, g) for g in args.globs))
            ]
            if fresh:
                code = run_mutmut(tree, log, args.max_children, fresh)
        with history.open("a", encoding="utf-8") as runs_file:
            kind = "resume" if resume else "full run"
            runs_file.write(
                f"{kind}{' of ' + ' '.join(args.globs) if args.globs else ''} {time.monotonic() - start:.1f}\n"
            )
        if code != 0:
            print(log.read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
            print(f"mutation: mutmut run failed with exit code {code} (full log: {log})", file=sys.stderr)
            return 2
    mutants = results(tree)
    if args.globs and not resume and not args.report_only:
        mutants = [m for m in mutants if m.status != "not checked"]
    lines = mutated_lines(tree, [m for m in mutants if m.status not in (*DETECTED, *NOT_TESTED)])
    runs = []
    for line in history.read_text(encoding="utf-8").splitlines() if history.is_file() else []:
        kind, _, seconds = line.rpartition(" ")
        runs.append((kind, float(seconds)))
    report, kill_rate = render(
        mutants,
        lines,
        load_equivalents(args.equivalent),
        runs=runs,
        max_children=args.max_children,
        fail_under=args.fail_under,
        globs=[] if resume or args.report_only else args.globs,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    print(f"mutation: report written to {args.out}")
    unchecked = [m.name for m in mutants if m.status in ("not checked", "check was interrupted by user")]
    if unchecked:
        print(f"mutation: {len(unchecked)} mutants got no verdict", file=sys.stderr)
        return 1
    if kill_rate < args.fail_under:
        print(f"mutation: kill rate {kill_rate:.1f} % is below {args.fail_under:g} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
