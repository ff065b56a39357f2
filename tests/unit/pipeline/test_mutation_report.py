"""benchmarks/mutation.py (`make mutation`): the report's counts, kill rate and equivalent-mutant bookkeeping."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "mutation.py"


@pytest.fixture(scope="module")
def mutation():
    spec = importlib.util.spec_from_file_location("mutation_report", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_report"] = module
    spec.loader.exec_module(module)
    return module


def test_a_mutant_name_gives_its_function_and_module(mutation) -> None:
    mutant = mutation.Mutant("lambdas.shared.money.xǁMoneyǁof__mutmut_12", "survived")
    assert (mutant.function, mutant.module) == ("lambdas.shared.money.xǁMoneyǁof", "lambdas.shared.money")


def test_the_report_counts_per_module_and_leaves_equivalents_and_skipped_out_of_the_rate(mutation, tmp_path) -> None:
    m = mutation.Mutant
    mutants = [
        m("pkg.a.x_f__mutmut_1", "killed"),
        m("pkg.a.x_f__mutmut_2", "killed"),
        m("pkg.a.x_f__mutmut_3", "timeout"),
        m("pkg.a.x_f__mutmut_4", "survived"),
        m("pkg.a.x_g__mutmut_1", "survived"),
        m("pkg.b.x_h__mutmut_1", "no tests"),
        m("pkg.b.x_h__mutmut_2", "killed"),
        m("pkg.b.x_h__mutmut_3", "skipped"),
        m("pkg.b.x_h__mutmut_4", "not checked"),
    ]
    lines = {
        "pkg.a.x_f__mutmut_4": ["return x + 2"],
        "pkg.a.x_g__mutmut_1": ["open(p, encoding='UTF-8')"],
        "pkg.b.x_h__mutmut_1": ["y = None"],
        "pkg.b.x_h__mutmut_3": ["z = 1"],
    }
    equivalents = [
        mutation.Equivalent("pkg.a.x_g", "open(p, encoding='UTF-8')", "codec names are case-insensitive"),
        mutation.Equivalent("pkg.a.x_gone", "w = 1", "the function was removed"),
    ]
    report, rate = mutation.render(
        mutants,
        lines,
        equivalents,
        runs=[("full run", 125.0), ("resume", 30.0)],
        max_children=2,
        fail_under=90.0,
        globs=[],
    )
    assert "| `pkg.a` | 5 | 2 | 1 | 1 | 0 | 0 | 0 | 1 | 75.0 % |" in report
    assert "| `pkg.b` | 4 | 1 | 0 | 0 | 1 | 1 | 1 | 0 | 50.0 % |" in report
    assert "| **overall** | 9 | 3 | 1 | 1 | 1 | 1 | 1 | 1 | 66.7 % |" in report
    assert rate == pytest.approx(400 / 6)
    assert "- `pkg.a.x_f__mutmut_4` `return x + 2` — survived" in report
    assert (
        "- `pkg.a.x_g__mutmut_1` `open(p, encoding='UTF-8')` — equivalent: codec names are case-insensitive" in report
    )
    assert "- `pkg.b.x_h__mutmut_1` `y = None` — no tests" in report
    assert "pkg.a.x_f__mutmut_1" not in report  # killed mutants are counted, not listed
    assert "## Stale equivalent entries" in report and "- `pkg.a.x_gone` `w = 1`" in report
    assert "**Incomplete: 1 of 9 mutants were not checked**" in report
    assert "wall time: full run 125 s (2.1 min); resume 30 s (0.5 min)." in report


def test_equivalents_load_from_yaml_with_their_reason_on_one_line(mutation, tmp_path) -> None:
    path = tmp_path / "eq.yaml"
    path.write_text("- function: pkg.a.x_g\n  line: '  y = 1  '\n  reason: >\n    first line\n    second line\n")
    assert mutation.load_equivalents(path) == [mutation.Equivalent("pkg.a.x_g", "y = 1", "first line second line")]
    assert mutation.load_equivalents(tmp_path / "missing.yaml") == []


def test_each_mutation_session_starts_with_the_projects_caches_empty() -> None:
    """A cache filled by mutmut's clean run (inherited by every forked mutant) would answer from the original
    code: the plugin empties the project's module-level caches when a session starts."""
    from policies import lib
    from tests import mutation_settings

    lib.matches_every_action("*:?*")
    assert lib.matches_every_action.cache_info().currsize > 0
    assert lib.matches_every_action in mutation_settings._project_caches()
    mutation_settings.pytest_sessionstart(None)  # type: ignore[arg-type]
    assert lib.matches_every_action.cache_info().currsize == 0
