"""The pack and its PCI mapping agree: every check is mapped, every mapping names a real check."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from pipeline.policy import pack

REPO_ROOT = Path(__file__).resolve().parents[3]
CHECKS_DIR = REPO_ROOT / "policies" / "checks"
MAPPING = REPO_ROOT / "policies" / "pci_dss_mapping.yaml"
FIXTURES = Path(__file__).parent / "fixtures"


def test_every_check_is_mapped_and_every_mapping_names_a_check() -> None:
    declared = pack.declared_checks(CHECKS_DIR)
    mapped = set(pack.load(MAPPING))
    assert declared == mapped, {"unmapped": declared - mapped, "no such check": mapped - declared}
    assert len(declared) >= 25


def test_one_check_per_file_named_after_its_id() -> None:
    for path in sorted(CHECKS_DIR.glob("ckv_pay_*")):
        ids = set(re.findall(r"CKV_PAY_\d{3}", path.read_text(encoding="utf-8").split("definition:")[0]))
        own = path.name[:11].upper()
        assert own in ids, path.name
        if path.suffix == ".py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
            assert len(classes) == 1, path.name
            assert ast.get_docstring(tree) and ast.get_docstring(classes[0]), path.name


def test_graph_policies_are_yaml_with_a_resource_filter() -> None:
    graphs = sorted(CHECKS_DIR.glob("*.yaml"))
    assert graphs
    for path in graphs:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["metadata"]["id"] == path.name[:11].upper()
        assert doc["metadata"]["name"].startswith("Ensure ")
        assert any(c.get("cond_type") == "filter" for c in doc["definition"]["and"]), path.name


def test_every_check_has_a_fixture_folder() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == pack.declared_checks(CHECKS_DIR)


def test_requirements_are_pci_dss_v4_ids() -> None:
    for entry in pack.load(MAPPING).values():
        assert all(int(r.split(".")[0]) in range(1, 13) for r in entry.requirements), entry.check_id
