"""What the pack's self-tests share: a stand-in for the Checkov check that scans one resource; the gate's settings
and the pack's check ids as plain functions (background fixtures run outside pytest's fixture machinery)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.settings import Settings, from_environ
from pipeline.policy import checkov as policy
from pipeline.policy import pack

REPO_ROOT = Path(__file__).resolve().parents[3]
MAPPING = REPO_ROOT / "policies" / "pci_dss_mapping.yaml"
CHECKS_DIR = REPO_ROOT / "policies" / "checks"


def settings_now() -> Settings:
    """The gate's settings from this process's environment."""
    return from_environ(os.environ, REPO_ROOT)


def pack_checks() -> list[str]:
    """Every check id of the pack (the mapping's keys), sorted: what the scans restrict Checkov to."""
    return sorted(pack.load(MAPPING))


def scan_documents(
    documents: Mapping[str, Any], roots: Sequence[Path], file_name: str, framework: str
) -> dict[str, policy.Scan]:
    """Write each document as ``<root>/<name>/<file_name>`` (JSON), names spread over ``roots`` in turn, and scan
    every root with the pack in its own Checkov run, all at once; returns name -> that file's scan.

    Checkov spends ~0.45 CPU s per stack file: a long list split over two roots finishes in about half the time on
    two cores. Each name is a folder of its own, so a finding's file tells its document.
    """
    for index, (name, document) in enumerate(documents.items()):
        folder = roots[index % len(roots)] / name
        folder.mkdir()
        (folder / file_name).write_text(json.dumps(document, indent=2), encoding="utf-8")
    settings, checks = settings_now(), pack_checks()
    with ThreadPoolExecutor(max_workers=len(roots)) as pool:
        runs = pool.map(lambda root: policy.run_checkov(root, framework, CHECKS_DIR, settings, only=checks), roots)
        return {path.parent.name: scan for scans in runs for path, scan in scans.items()}


@dataclass
class FakeCheck:
    """What a check knows of the resource it scans (Checkov sets these on the check before each scan):
    ``entity_path`` = ``/<file relative to Checkov's root>:<type>:<name>``, ``entity_type`` its resource type."""

    entity_path: str
    entity_type: str = ""
