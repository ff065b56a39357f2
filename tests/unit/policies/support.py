"""What the pack's self-tests share: a stand-in for the Checkov check that scans one resource."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeCheck:
    """What a check knows of the resource it scans (Checkov sets these on the check before each scan):
    ``entity_path`` = ``/<file relative to Checkov's root>:<type>:<name>``, ``entity_type`` its resource type."""

    entity_path: str
    entity_type: str = ""
