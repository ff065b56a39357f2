"""lambdas/shared/merchants.py: caller identities, their bindings (fail closed), a batch file's merchant."""

from __future__ import annotations

import pytest

from lambdas.shared.merchants import (
    CallerDirectory,
    api_key_caller,
    batch_file_merchant,
    caller_ids,
    principal_caller,
)

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
ROLE = "arn:aws:sts::123456789012:assumed-role/merchant-a/session"


@pytest.mark.parametrize(
    ("identity", "ids"),
    [
        ({"apiKeyId": "k1", "userArn": ROLE, "caller": "AROAEXAMPLE"}, ("apikey:k1", f"iam:{ROLE}")),
        ({"apiKeyId": "k1", "userArn": None}, ("apikey:k1",)),
        ({"apiKeyId": "", "userArn": ROLE}, (f"iam:{ROLE}",)),
        ({"caller": "AROAEXAMPLE", "sourceIp": "10.0.0.1"}, ()),
        ({}, ()),
    ],
    ids=["key-and-principal", "key", "principal", "neither", "empty"],
)
def test_a_request_presents_its_api_key_then_its_principal(identity, ids) -> None:
    assert caller_ids(identity) == ids


def test_caller_ids_name_their_kind_so_a_key_id_never_reads_as_a_principal() -> None:
    assert (api_key_caller("x"), principal_caller("x")) == ("apikey:x", "iam:x")


def test_every_identity_must_be_bound_and_to_one_merchant(aws) -> None:
    aws.bind("apikey:a", "m_merchanta1")
    aws.bind("iam:role-a", "m_merchanta1")
    aws.bind("iam:role-b", "m_merchantb1")
    directory = CallerDirectory(aws.table("callers"))

    assert directory.merchant_of(["apikey:a"]) == "m_merchanta1"
    assert directory.merchant_of(["apikey:a", "iam:role-a"]) == "m_merchanta1"
    assert directory.merchant_of(["apikey:a", "iam:role-b"]) is None  # two merchants: none
    assert directory.merchant_of(["apikey:a", "iam:unbound"]) is None  # one unbound: none
    assert directory.merchant_of([]) is None  # no identity: none


@pytest.mark.parametrize(
    ("key", "merchant"),
    [
        ("incoming/m_abcdef12/day.csv", "m_abcdef12"),
        ("incoming/m_abcdef12/2026/12/day.csv", "m_abcdef12"),
        ("incoming/m_abcdef12/", None),
        ("incoming/day.csv", None),
        ("incoming/m_ABCDEF12/day.csv", None),
        ("incoming/m_abc/day.csv", None),
        ("incoming/m_" + "a" * 33 + "/day.csv", None),
        ("other/incoming/m_abcdef12/day.csv", None),
        ("incoming//m_abcdef12/day.csv", None),
    ],
)
def test_a_batch_files_merchant_is_its_folder(key: str, merchant: str | None) -> None:
    assert batch_file_merchant(key) == merchant
