"""Waivers (load, apply, expiry, staleness), the PCI mapping loader and the gate's verdict."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from pipeline.core.errors import PipelineError
from pipeline.policy import gate, pack, waivers
from pipeline.policy.checkov import Finding, Scan

TODAY = dt.date(2026, 11, 27)
REASON = "the access log bucket cannot use KMS because S3 log delivery refuses it"


def waiver_yaml(**fields: str) -> str:
    entry = {
        "check": "CKV_PAY_001",
        "resource": "aws_x.a",
        "owner": "team",
        "justification": REASON,
        "expires": "2027-01-01",
    }
    entry.update(fields)
    lines = "\n".join(f"    {k}: {v}" if i else f"  - {k}: {v}" for i, (k, v) in enumerate(entry.items()) if v)
    return f"waivers:\n{lines}\n"


def load_text(tmp_path: Path, text: str) -> tuple[waivers.Waiver, ...]:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return waivers.load(path)


def test_a_waiver_is_read_with_its_expiry(tmp_path: Path) -> None:
    (waiver,) = load_text(tmp_path, waiver_yaml())
    assert (waiver.check, waiver.resource, waiver.expires) == ("CKV_PAY_001", "aws_x.a", dt.date(2027, 1, 1))
    assert waivers.load(tmp_path / "missing.yaml") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("waivers: {}\n", "must hold a list"),
        ("waivers: [\n", "not valid YAML"),
        ("waivers:\n  - just a string\n", "is not a mapping"),
        (waiver_yaml(owner=""), "lacks owner"),
        (waiver_yaml(expires="next-year"), "not a YYYY-MM-DD date"),
        (waiver_yaml(justification="accepted"), "must be a real sentence"),
        (waiver_yaml() + waiver_yaml().removeprefix("waivers:\n"), "duplicate waivers"),
    ],
)
def test_a_bad_waivers_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        load_text(tmp_path, text)


def finding(check: str, resource: str, result: str = "failed", framework: str = "terraform_json") -> Finding:
    return Finding(check, f"Ensure {check}", resource, result, framework)


def waiver(check: str, resource: str, expires: dt.date = dt.date(2027, 1, 1)) -> waivers.Waiver:
    return waivers.Waiver(check, resource, "team", REASON, expires)


def test_live_waivers_waive_expired_and_stale_ones_are_problems() -> None:
    findings = [finding("CKV_PAY_001", "a"), finding("CKV_PAY_002", "b"), finding("CKV_PAY_003", "c", "passed")]
    live, old, stale = (
        waiver("CKV_PAY_001", "a"),
        waiver("CKV_PAY_002", "b", dt.date(2026, 1, 1)),
        waiver("CKV_PAY_003", "c"),
    )
    applied = waivers.apply(findings, [live, old, stale], TODAY)
    assert [status for _, status in applied.statuses] == ["waived", "failed", "passed"]
    assert applied.expired == (old,) and applied.stale == (stale,)
    assert applied.problems() == [
        "waiver CKV_PAY_002 on b expired on 2026-01-01 (owner team)",
        "stale waiver CKV_PAY_003 on c: it matches no failed finding",
    ]


MAPPING_OK = """checks:
  CKV_PAY_001:
    requirements: ["3.5.1"]
    severity: high
    rationale: r
    fix: f
"""


def test_the_mapping_is_read(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING_OK)
    assert pack.load(path)["CKV_PAY_001"] == pack.Entry("CKV_PAY_001", ("3.5.1",), "high", "r", "f")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks: {}\n", "must map check ids"),
        (": :\n", "cannot read"),
        (MAPPING_OK.replace("CKV_PAY_001", "CKV_AWS_1"), "is not a CKV_PAY_nnn entry"),
        (MAPPING_OK.replace('"3.5.1"', '"Req 3"'), "requirement ids like 3.5.1"),
        (MAPPING_OK.replace("high", "urgent"), "severity must be one of"),
        (MAPPING_OK.replace("fix: f", "fix: ''"), "rationale and a fix hint"),
    ],
)
def test_a_bad_mapping_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError, match=message):
        pack.load(path)


def test_declared_checks_come_from_python_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('super().__init__(name="x", id="CKV_PAY_001")')
    (tmp_path / "b.yaml").write_text("metadata:\n  id: CKV_PAY_002\n")
    (tmp_path / "notes.txt").write_text('id="CKV_PAY_003"')
    assert pack.declared_checks(tmp_path) == {"CKV_PAY_001", "CKV_PAY_002"}


ENTRY = pack.Entry("CKV_PAY_001", ("3.5.1",), "high", "r", "fix it")


def test_the_verdict_fails_on_a_failure_an_unmapped_check_or_a_problem() -> None:
    scan = Scan(Path("s.json"), "terraform_json", (finding("CKV_PAY_001", "a"), finding("CKV_PAY_009", "b", "passed")))
    verdict = gate.decide([scan], {"CKV_PAY_001": ENTRY}, [], TODAY)
    assert not verdict.ok
    assert verdict.failed_checks() == {"CKV_PAY_001"}
    assert verdict.problems == ("CKV_PAY_009 is in the pack but not in the PCI mapping",)
    declared = gate.decide([scan], {"CKV_PAY_001": ENTRY}, [], TODAY, declared=frozenset({"CKV_PAY_042"}))
    assert "CKV_PAY_042 is in the pack but not in the PCI mapping" in declared.problems
    (row,) = verdict.failures
    assert (row.severity, row.requirements, row.fix) == ("high", ("3.5.1",), "fix it")


def test_a_waived_failure_passes_the_gate() -> None:
    scan = Scan(Path("s.json"), "terraform_json", (finding("CKV_PAY_001", "a"), finding("CKV_AWS_1", "b", "passed")))
    verdict = gate.decide([scan], {"CKV_PAY_001": ENTRY}, [waiver("CKV_PAY_001", "a")], TODAY)
    assert verdict.ok
    assert [(r.status, r.waiver is not None, r.severity) for r in verdict.rows] == [
        ("waived", True, "high"),
        ("passed", False, "builtin"),
    ]


def test_requiring_every_check_fails_on_a_mapped_check_without_a_result() -> None:
    scan = Scan(Path("s.json"), "terraform_json", (finding("CKV_PAY_001", "a", "passed"),))
    entries = {"CKV_PAY_001": ENTRY, "CKV_PAY_002": ENTRY}
    assert gate.decide([scan], entries, [], TODAY).ok
    strict = gate.decide([scan], entries, [], TODAY, require_every_check=True)
    assert strict.problems == ("CKV_PAY_002 produced no result on any input (not loaded, or it matches nothing)",)


# --- waiver boundaries (expiry day, sentence length, which entry is wrong) ---------------------------------


def test_a_waiver_is_live_on_its_expiry_day_and_expired_the_day_after() -> None:
    findings = [finding("CKV_PAY_001", "a")]
    last_day = waiver("CKV_PAY_001", "a", expires=TODAY)
    on_the_day = waivers.apply(findings, [last_day], TODAY)
    assert ([s for _, s in on_the_day.statuses], on_the_day.expired, on_the_day.problems()) == (["waived"], (), [])
    assert on_the_day.waiver_of == {("CKV_PAY_001", "a"): last_day}
    after = waivers.apply(findings, [last_day], TODAY + dt.timedelta(days=1))
    assert ([s for _, s in after.statuses], after.expired, after.waiver_of) == (["failed"], (last_day,), {})
    assert after.stale == ()  # an expired waiver is reported as expired, not also as stale


def test_a_waiver_covers_only_its_own_check_on_its_own_resource() -> None:
    findings = [finding("CKV_PAY_001", "b"), finding("CKV_PAY_002", "a"), finding("CKV_PAY_001", "a", "passed")]
    applied = waivers.apply(findings, [waiver("CKV_PAY_001", "a")], TODAY)
    assert [s for _, s in applied.statuses] == ["failed", "failed", "passed"]
    assert [f for f, _ in applied.statuses] == findings
    assert applied.stale == (waiver("CKV_PAY_001", "a"),)


@pytest.mark.parametrize(
    ("justification", "ok"),
    [
        ("one two three four five six", True),
        ("one two three four five", False),
        ("  one   two\tthree\nfour five   six  ", True),
    ],
)
def test_a_justification_needs_six_words(tmp_path: Path, justification: str, ok: bool) -> None:
    text = waiver_yaml(justification=json.dumps(justification))
    if ok:
        (loaded,) = load_text(tmp_path, text)
        assert loaded.justification == "one two three four five six"
    else:
        with pytest.raises(PipelineError) as refused:
            load_text(tmp_path, text)
        assert str(refused.value) == "waiver #1 (CKV_PAY_001): the justification must be a real sentence"


def test_every_field_is_read_and_a_quoted_date_is_a_date(tmp_path: Path) -> None:
    (loaded,) = load_text(tmp_path, waiver_yaml(expires="'2027-02-03'", owner="payments-team"))
    assert loaded == waivers.Waiver("CKV_PAY_001", "aws_x.a", "payments-team", REASON, dt.date(2027, 2, 3))


@pytest.mark.parametrize("missing", ["check", "resource", "owner", "justification", "expires"])
def test_an_entry_without_a_field_is_refused_naming_the_entry_and_the_field(tmp_path: Path, missing: str) -> None:
    entry = {
        "check": "CKV_PAY_001",
        "resource": "aws_x.a",
        "owner": "t",
        "justification": REASON,
        "expires": "2027-01-01",
    }
    incomplete = {k: v for k, v in entry.items() if k != missing}
    with pytest.raises(PipelineError) as refused:
        load_text(tmp_path, yaml.safe_dump({"waivers": [{**entry, "resource": "aws_y.b"}, incomplete]}))
    assert str(refused.value) == f"waiver #2 lacks {missing}"


def test_the_bad_entries_are_named(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as refused:
        load_text(tmp_path, waiver_yaml(expires="'2027-13-01'"))
    assert str(refused.value) == "waiver #1: expires '2027-13-01' is not a YYYY-MM-DD date"
    with pytest.raises(PipelineError) as refused:  # unquoted, YAML itself reads it as a date and fails
        load_text(tmp_path, waiver_yaml(expires="2027-13-01"))
    assert str(refused.value).startswith(f"{tmp_path / 'waivers.yaml'} is not valid YAML: ")
    with pytest.raises(PipelineError) as refused:
        load_text(tmp_path, "waivers:\n  - [a, b]\n")
    assert str(refused.value) == "waiver #1 is not a mapping"
    with pytest.raises(PipelineError) as refused:
        load_text(tmp_path, waiver_yaml(owner="", justification="", expires=""))
    assert str(refused.value) == "waiver #1 lacks owner, justification, expires"


def test_duplicates_are_named_once_each(tmp_path: Path) -> None:
    body = waiver_yaml().removeprefix("waivers:\n")
    other = waiver_yaml(check="CKV_PAY_002", resource="aws_z.c").removeprefix("waivers:\n")
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n" + body + other + body + other + body)
    with pytest.raises(PipelineError) as refused:
        waivers.load(path)
    assert str(refused.value) == f"{path}: duplicate waivers: CKV_PAY_001 on aws_x.a; CKV_PAY_002 on aws_z.c"


@pytest.mark.parametrize("text", ["", "# nothing\n", "waivers: []\n"])
def test_an_empty_waivers_file_means_no_waivers_only_when_it_says_so(tmp_path: Path, text: str) -> None:
    if text == "waivers: []\n":
        assert load_text(tmp_path, text) == ()
    else:
        with pytest.raises(PipelineError) as refused:
            load_text(tmp_path, text)
        assert str(refused.value) == f"{tmp_path / 'waivers.yaml'} must hold a list under `waivers:`"


def test_a_file_that_is_a_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="must hold a list under `waivers:`"):
        load_text(tmp_path, "- check: CKV_PAY_001\n")
