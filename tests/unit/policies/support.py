"""What the pack's self-tests share: a stand-in for the Checkov check that scans one resource; the gate's settings
and the pack's check ids as plain functions (background fixtures run outside pytest's fixture machinery)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.settings import Settings, from_environ
from pipeline.policy import pack

REPO_ROOT = Path(__file__).resolve().parents[3]
MAPPING = REPO_ROOT / "policies" / "pci_dss_mapping.yaml"


def settings_now() -> Settings:
    """The gate's settings from this process's environment."""
    return from_environ(os.environ, REPO_ROOT)


def pack_checks() -> list[str]:
    """Every check id of the pack (the mapping's keys), sorted: what the scans restrict Checkov to."""
    return sorted(pack.load(MAPPING))


@dataclass
class FakeCheck:
    """What a check knows of the resource it scans (Checkov sets these on the check before each scan):
    ``entity_path`` = ``/<file relative to Checkov's root>:<type>:<name>``, ``entity_type`` its resource type."""

    entity_path: str
    entity_type: str = ""
