"""policies.lib: reading Checkov's resource conf (lists of one, references, policy documents)."""

from __future__ import annotations

from policies import lib


def test_unwrap_takes_lists_of_one_apart_repeatedly() -> None:
    assert lib.unwrap([[["x"]]]) == "x"
    assert lib.unwrap(["a", "b"]) == ["a", "b"]
