"""Render the terraform CLI configuration (provider installation) from the templates in ``terraform/``."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core.toolchain import ProviderSource

MIRROR_TEMPLATE = "mirror.tfrc.tmpl"
REGISTRY_CONFIG = "registry.tfrc"
PLACEHOLDER = '"@MIRROR@"'


def render(source: ProviderSource, templates: Path) -> str:
    """CLI config text: the mirror template with its path filled in, or the registry-only config."""
    if source.mirror is None:
        return (templates / REGISTRY_CONFIG).read_text(encoding="utf-8")
    template = (templates / MIRROR_TEMPLATE).read_text(encoding="utf-8")
    # A JSON string literal is a valid HCL string literal (same escapes), whatever the path holds.
    return template.replace(PLACEHOLDER, json.dumps(str(source.mirror)))
