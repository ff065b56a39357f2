"""Tenant isolation on the deployed API (issue 12; OWASP API Security Top 10 2023, API1 broken object-level
authorization): two callers of two merchants, each bound by the admin command's code, see and create only their
own merchant's payments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.localstack.support import (
    Api,
    Callers,
    Deployed,
    assert_contract,
    merchant,
    payment_request,
    payments_of,
    unique,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def refusal(answer: Any) -> tuple[int, str]:
    assert_contract("error", answer.body)
    return answer.status, answer.body["error"]["code"]


def test_each_merchants_caller_reads_only_its_own_payments(callers: Callers, tables: dict[str, Any]) -> None:
    a, b = callers.new(), callers.new()
    mine = a.create(payment_request(a.merchant_id), key=unique("key-"))
    theirs = b.create(payment_request(b.merchant_id), key=unique("key-"))
    assert (mine.status, theirs.status) == (201, 201)

    assert a.get(mine.body["payment_id"]).status == 200
    assert b.get(theirs.body["payment_id"]).status == 200
    crossed, unknown = b.get(mine.body["payment_id"]), b.get("pay_" + "0" * 32)
    assert refusal(crossed) == refusal(unknown) == (404, "PAYMENT_NOT_FOUND")
    # Nothing tells another merchant's payment from an id that names none: same body but for the request id.
    bodies = [answer.body["error"] for answer in (crossed, unknown)]
    assert [{k: v for k, v in body.items() if k != "request_id"} for body in bodies] == [
        {"code": "PAYMENT_NOT_FOUND", "message": "no payment with this id"}
    ] * 2
    assert refusal(a.get(theirs.body["payment_id"])) == (404, "PAYMENT_NOT_FOUND")


def test_a_create_for_another_merchant_is_403_and_stores_nothing(callers: Callers, tables: dict[str, Any]) -> None:
    a, b = callers.new(), callers.new()
    answer = a.create(payment_request(b.merchant_id), key=unique("key-"))
    assert refusal(answer) == (403, "MERCHANT_MISMATCH")
    assert payments_of(tables, a.merchant_id) == payments_of(tables, b.merchant_id) == []


def test_a_create_without_merchant_id_is_the_callers_merchants_payment(api: Api, tables: dict[str, Any]) -> None:
    request = payment_request(api.merchant_id)
    del request["merchant_id"]
    created = api.create(request, key=unique("key-"))
    assert created.status == 201 and created.body["merchant_id"] == api.merchant_id
    assert [p["payment_id"] for p in payments_of(tables, api.merchant_id)] == [created.body["payment_id"]]


def test_a_caller_whose_binding_is_revoked_is_refused_from_its_next_request(callers: Callers) -> None:
    api = callers.new()
    created = api.create(payment_request(api.merchant_id), key=unique("key-"))
    assert created.status == 201
    [caller_id] = callers.made
    assert callers.admin.revoke(caller_id)  # the key stays valid at the gateway; the binding is gone

    assert refusal(api.get(created.body["payment_id"])) == (403, "FORBIDDEN")
    assert refusal(api.create(payment_request(api.merchant_id), key=unique("key-"))) == (403, "FORBIDDEN")


def admin(outputs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline <argv> --outputs <outputs>`` as an operator runs it (README "Merchants and callers"),
    with no AWS_* variables: on LocalStack the command acts as the deployment's account."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [sys.executable, "-m", "pipeline", *argv, "--outputs", str(outputs)]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_documented_admin_command_binds_a_new_key_that_then_creates_and_revokes_it(
    callers: Callers, deployed: Deployed, tables: dict[str, Any], tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(dict(deployed.outputs)), encoding="utf-8")
    merchant_id = merchant()

    bound = admin(outputs, "merchant-bind", "--merchant", merchant_id, "--new-api-key", "--show-key-value")
    assert bound.returncode == 0, bound.stderr
    binding = json.loads(bound.stdout)
    assert (binding["merchant_id"], binding["caller_id"]) == (merchant_id, f"apikey:{binding['api_key_id']}")
    api = Api(base=callers.base, api_key=binding["api_key_value"], merchant_id=merchant_id)
    created = api.create({"reference": unique("ref-"), "amount": 1250, "currency": "EUR"}, key=unique("key-"))
    assert created.status == 201 and created.body["merchant_id"] == merchant_id, created.raw
    listed = admin(outputs, "merchant-list", "--merchant", merchant_id)
    assert [json.loads(line)["caller_id"] for line in listed.stdout.splitlines()] == [binding["caller_id"]]

    revoked = admin(outputs, "merchant-revoke", "--api-key-id", binding["api_key_id"], "--delete-api-key")
    assert revoked.returncode == 0, revoked.stderr
    assert api.get(created.body["payment_id"]).status == 403  # the key is gone, and with it the binding
    assert [p["payment_id"] for p in payments_of(tables, merchant_id)] == [created.body["payment_id"]]
