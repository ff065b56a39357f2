"""Contracts: the JSON Schemas shared by the API model, the handlers and the tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent / "schemas"
DRAFT4 = "http://json-schema.org/draft-04/schema#"

CREATE_PAYMENT_REQUEST = "create_payment_request"


@cache
def _load(name: str) -> str:
    return (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """A fresh copy of one schema (callers may not mutate the shared one)."""
    schema: dict[str, Any] = json.loads(_load(name))
    return schema
