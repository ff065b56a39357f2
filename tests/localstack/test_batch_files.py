"""Batch payment files: S3 upload -> batch_processor -> SQS -> payment_processor -> DynamoDB, on the deployed stack."""

from __future__ import annotations

import json
from typing import Any

from lambdas.batch_processor.handler import batch_id_for
from lambdas.shared.pan import contains_pan
from tests.localstack.support import (
    PAYMENT_QUEUE,
    Deployed,
    assert_contract,
    merchant,
    payments_of,
    poll,
    unique,
)

# Their payments go through the payment queue, which the poison message test reconfigures (see conftest.py).
pytestmark = PAYMENT_QUEUE

HEADER = "reference,merchant_id,amount,currency,description"


def batch_item(tables: dict[str, Any], batch_id: str) -> dict[str, Any]:
    return dict(tables["batches"].get_item(Key={"batch_id": batch_id}, ConsistentRead=True)["Item"])


def finished_batch(tables: dict[str, Any], batch_id: str) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        item = tables["batches"].get_item(Key={"batch_id": batch_id}, ConsistentRead=True).get("Item")
        return item if item is not None and item["status"] in ("COMPLETED", "FAILED") else None

    return poll(f"batch {batch_id} to finish", final)


def test_a_file_with_valid_and_invalid_lines_completes_and_a_redelivered_event_changes_nothing(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    m = merchant()
    lines = [
        HEADER,
        f"{unique('b1-')},{m},1000,EUR,first",
        f"{unique('b2-')},{m},12.50,EUR,decimal amount",  # line 3: invalid amount
        f"{unique('b3-')},{m},2500,GBP,",
        f"{unique('b4-')},{m},300,XQQ,unknown currency",  # line 5: invalid currency
        f"{unique('b5-')},{m},4200,USD,last",
    ]
    body = ("\r\n".join(lines) + "\r\n").encode()
    bucket, key = deployed["batch_bucket_name"], f"incoming/{m}/{unique('e2e-')}.csv"
    s3 = deployed.client("s3")

    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")

    version = put["VersionId"]
    batch_id = batch_id_for(bucket, key, version)
    batch = finished_batch(tables, batch_id)
    assert batch["status"] == "COMPLETED", batch
    assert (int(batch["accepted"]), int(batch["rejected"])) == (3, 2)
    assert sorted(int(error["line"]) for error in batch["errors"]) == [3, 5]

    payments = poll(
        "the 3 accepted payments to be captured",
        lambda: (
            (found := payments_of(tables, m))
            and len(found) == 3
            and all(p["status"] == "CAPTURED" for p in found)
            and found
        ),
    )
    assert {p["source"] for p in payments} == {"batch"} and {p["batch_id"] for p in payments} == {batch_id}
    assert sorted(int(p["amount"]) for p in payments) == [1000, 2500, 4200]

    # The same S3 event delivered again (S3 delivers at least once): same batch, nothing enqueued twice.
    # The batch processor marks a batch PROCESSING (with enqueued_lines) before it enqueues anything, so an
    # unchanged batch item proves that the redelivery enqueued nothing.
    before = batch_item(tables, batch_id)
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "awsRegion": deployed["region"],
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "versionId": version, "size": len(body)}},
    }
    answer = deployed.client("lambda").invoke(
        FunctionName=deployed.function_name("batch-processor"), Payload=json.dumps({"Records": [record]}).encode()
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    summary = json.loads(answer["Payload"].read())["batches"][0]
    assert_contract("batch_status", summary)
    assert (summary["batch_id"], summary["status"], summary["accepted"], summary["rejected"]) == (
        batch_id,
        "COMPLETED",
        3,
        2,
    )
    assert batch_item(tables, batch_id) == before
    assert sorted((p["payment_id"], int(p["version"])) for p in payments_of(tables, m)) == sorted(
        (p["payment_id"], int(p["version"])) for p in payments
    )


def test_a_file_with_a_wrong_header_fails_as_a_whole_and_enqueues_nothing(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    m = merchant()
    body = f"ref,merchant,amount\n{unique('x-')},{m},100\n".encode()
    bucket, key = deployed["batch_bucket_name"], f"incoming/{m}/{unique('bad-')}.csv"

    put = deployed.client("s3").put_object(Bucket=bucket, Key=key, Body=body)

    batch_id = batch_id_for(bucket, key, put["VersionId"])
    batch = finished_batch(tables, batch_id)
    assert batch["status"] == "FAILED" and batch.get("failure"), batch
    assert int(batch.get("accepted", 0)) == 0 and int(batch["enqueued_lines"]) == 0  # refused before enqueueing
    assert payments_of(tables, m) == []


def test_a_line_with_a_card_number_in_any_written_form_is_refused_with_its_line_number(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    """Issue 10: the written forms the API refuses are refused in a batch line too, and never stored or logged."""
    m = merchant()
    fullwidth = "4111 1111 1111 1111".translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # noqa: RUF001
    forms = ["card 4111.1111.1111.1111", "card 4111  1111  1111  1111", f"card {fullwidth}"]
    lines = [
        HEADER,
        f"{unique('w1-')},{m},1000,EUR,first",
        *[f"{unique('wx-')},{m},500,EUR,{form}" for form in forms],  # lines 3, 4, 5
        f"{unique('w5-')},{m},700,EUR,last",
    ]
    body = ("\r\n".join(lines) + "\r\n").encode()
    bucket, key = deployed["batch_bucket_name"], f"incoming/{m}/{unique('pan-')}.csv"

    put = deployed.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")

    batch_id = batch_id_for(bucket, key, put["VersionId"])
    batch = finished_batch(tables, batch_id)
    assert batch["status"] == "COMPLETED", batch
    assert (int(batch["accepted"]), int(batch["rejected"])) == (2, 3)
    assert sorted((int(e["line"]), e["code"]) for e in batch["errors"]) == [(n, "CARD_DATA_REFUSED") for n in (3, 4, 5)]
    assert not contains_pan(json.dumps(batch, default=str, ensure_ascii=False))
    payments = poll(
        "the 2 accepted payments to be captured",
        lambda: (found := payments_of(tables, m)) and len(found) == 2 and all(p["status"] == "CAPTURED" for p in found),
    )
    assert payments
    stored = payments_of(tables, m)
    assert sorted(int(p["amount"]) for p in stored) == [700, 1000]
    assert not [p for p in stored if contains_pan(json.dumps(p, default=str, ensure_ascii=False))]
    logs = deployed.client("logs")
    group = "/aws/lambda/" + deployed.function_name("batch-processor")
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert messages, f"no log events in {group}"
    assert not [message for message in messages if contains_pan(message)]


def test_a_quoted_field_spanning_lines_makes_no_payment_and_a_redelivery_does_not_read_the_file_again(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    # The file of issue 10 (CRLF): line 3 lies inside the quoted field line 2 opens, so no payment may be
    # made from it; line 4, after the quote closed, is an ordinary payment (it proves the batch ran).
    m = merchant()
    inside, after = unique("q9-"), unique("q4-")
    body = (
        f'{HEADER}\r\n{unique("q1-")},{m},100,EUR,"note:\r\n{inside},{m},99999999,EUR,x"\r\n'
        f"{after},{m},700,EUR,after the quote\r\n"
    ).encode()
    bucket, key = deployed["batch_bucket_name"], f"incoming/{m}/{unique('quoted-')}.csv"
    s3 = deployed.client("s3")

    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")

    version = put["VersionId"]
    batch_id = batch_id_for(bucket, key, version)
    batch = finished_batch(tables, batch_id)
    assert (batch["status"], int(batch["accepted"]), int(batch["rejected"])) == ("COMPLETED", 1, 2), batch
    assert [(int(e["line"]), e["code"]) for e in batch["errors"]] == [
        (2, "UNTERMINATED_QUOTE"),
        (3, "INSIDE_QUOTED_FIELD"),
    ]
    payments = poll(
        "the payment of line 4 to be captured",
        lambda: (found := payments_of(tables, m)) and all(p["status"] == "CAPTURED" for p in found) and found,
    )
    assert [(p["reference"], int(p["amount"])) for p in payments] == [(after, 700)]

    # Redelivered after the object version is gone: a finished batch answers from its item, untouched,
    # without reading the file (a read would fail with NoSuchVersion and the invocation with it).
    before = batch_item(tables, batch_id)
    s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "awsRegion": deployed["region"],
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "versionId": version, "size": len(body)}},
    }
    answer = deployed.client("lambda").invoke(
        FunctionName=deployed.function_name("batch-processor"), Payload=json.dumps({"Records": [record]}).encode()
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    summary = json.loads(answer["Payload"].read())["batches"][0]
    assert_contract("batch_status", summary)
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("COMPLETED", 1, 2)
    assert batch_item(tables, batch_id) == before
    assert [p["reference"] for p in payments_of(tables, m)] == [after]


def test_a_line_for_another_merchant_is_refused_with_its_line_number_and_makes_no_payment(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    """A file belongs to the merchant whose folder holds it (issue 12): another merchant's line is refused."""
    mine, theirs = merchant(), merchant()
    lines = [
        HEADER,
        f"{unique('m1-')},{mine},1000,EUR,mine",
        f"{unique('t1-')},{theirs},2000,EUR,theirs",  # line 3: another merchant
        f"{unique('m2-')},{mine},3000,EUR,mine too",
    ]
    bucket, key = deployed["batch_bucket_name"], f"incoming/{mine}/{unique('mixed-')}.csv"

    put = deployed.client("s3").put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())

    batch = finished_batch(tables, batch_id_for(bucket, key, put["VersionId"]))
    assert (batch["status"], int(batch["accepted"]), int(batch["rejected"])) == ("COMPLETED", 2, 1), batch
    assert [(int(e["line"]), e["code"]) for e in batch["errors"]] == [(3, "MERCHANT_MISMATCH")]
    poll(
        "the merchant's 2 payments to be captured",
        lambda: len(found := payments_of(tables, mine)) == 2 and all(p["status"] == "CAPTURED" for p in found),
    )
    assert payments_of(tables, theirs) == []


def test_a_file_outside_a_merchants_folder_fails_as_a_whole_and_enqueues_nothing(
    deployed: Deployed, tables: dict[str, Any]
) -> None:
    m = merchant()
    bucket, key = deployed["batch_bucket_name"], f"incoming/{unique('nofolder-')}.csv"

    put = deployed.client("s3").put_object(
        Bucket=bucket, Key=key, Body=f"{HEADER}\n{unique('x-')},{m},100,EUR,\n".encode()
    )

    batch = finished_batch(tables, batch_id_for(bucket, key, put["VersionId"]))
    assert (batch["status"], batch["failure"]) == (
        "FAILED",
        "MERCHANT_FOLDER_REQUIRED: batch files go under incoming/<merchant_id>/",
    )
    assert int(batch["enqueued_lines"]) == 0 and payments_of(tables, m) == []
