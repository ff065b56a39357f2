"""The PCI DSS mapping of the pack: check id -> requirement ids, severity, rationale, fix hint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from pipeline.core.errors import PipelineError

SEVERITIES = ("critical", "high", "medium", "low")
BUILTIN_SEVERITY = "builtin"  # Checkov's own checks carry no severity offline
REQUIREMENT = re.compile(r"^\d{1,2}(\.\d{1,2}){1,3}$")
CHECK_ID = re.compile(r"CKV_PAY_\d{3}")


@dataclass(frozen=True)
class Entry:
    """What the pack says about one check."""

    check_id: str
    requirements: tuple[str, ...]
    severity: str
    rationale: str
    fix: str


def load(path: Path) -> dict[str, Entry]:
    """Read and validate ``pci_dss_mapping.yaml``."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineError(f"cannot read the PCI mapping {path}: {exc}") from None
    checks = doc.get("checks") if isinstance(doc, dict) else None
    if not isinstance(checks, dict) or not checks:
        raise PipelineError(f"{path} must map check ids under `checks:`")
    entries = {}
    for check_id, raw in checks.items():
        if not CHECK_ID.fullmatch(str(check_id)) or not isinstance(raw, dict):
            raise PipelineError(f"{path}: {check_id!r} is not a CKV_PAY_nnn entry")
        requirements = tuple(str(r) for r in raw.get("requirements") or ())
        bad = [r for r in requirements if not REQUIREMENT.match(r)]
        if not requirements or bad:
            raise PipelineError(f"{path}: {check_id} needs PCI DSS requirement ids like 3.5.1 (got {bad or 'none'})")
        if raw.get("severity") not in SEVERITIES:
            raise PipelineError(f"{path}: {check_id} severity must be one of {', '.join(SEVERITIES)}")
        if not raw.get("rationale") or not raw.get("fix"):
            raise PipelineError(f"{path}: {check_id} needs a rationale and a fix hint")
        entries[str(check_id)] = Entry(
            str(check_id), requirements, str(raw["severity"]), str(raw["rationale"]), str(raw["fix"])
        )
    return entries


def declared_checks(checks_dir: Path) -> set[str]:
    """The CKV_PAY ids the pack's files declare (``id="…"`` in Python, ``id:`` in YAML)."""
    found: set[str] = set()
    for path in sorted(checks_dir.iterdir()):
        if path.suffix in (".py", ".yaml", ".yml"):
            found.update(re.findall(r"""\bid(?:=|:\s*)["']?(CKV_PAY_\d{3})""", path.read_text(encoding="utf-8")))
    return found
