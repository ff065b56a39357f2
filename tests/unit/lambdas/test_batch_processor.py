"""batch_processor against moto: status lifecycle, enqueue in tens with retries, redelivered events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from contracts import BATCH_STATUS, PAYMENT_MESSAGE, validator
from lambdas.batch_processor import handler as bp
from lambdas.shared.batch_csv import BatchLimits
from lambdas.shared.payments import payment_id_for
from lambdas.shared.store import TransientError

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

HEADER = "reference,merchant_id,amount,currency,description"


@pytest.fixture
def rt(aws, clock, monkeypatch):
    runtime = bp.build_runtime(aws.settings, session=aws.session, clock=clock.clock(), sleep=lambda _: None)
    monkeypatch.setattr(bp, "runtime", lambda: runtime)
    return runtime


def upload(aws, key: str, *lines: str) -> dict[str, Any]:
    """Put the header and ``lines`` (CRLF); the S3 ObjectCreated event the bucket notification would send."""
    return put_object(aws, key, ("\r\n".join((HEADER, *lines)) + "\r\n").encode())


def put_object(aws, key: str, body: bytes) -> dict[str, Any]:
    """Put ``body`` as it is; the S3 ObjectCreated event the bucket notification would send."""
    put = aws.session.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=body)
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": aws.bucket},
                    "object": {"key": key.replace(" ", "+"), "size": len(body), "versionId": put["VersionId"]},
                },
            }
        ]
    }


def recorded_reads(monkeypatch: pytest.MonkeyPatch, s3: Any) -> list[dict[str, Any]]:
    """The arguments of every GetObject the client makes from now on (the calls still go through)."""
    reads: list[dict[str, Any]] = []
    real_get_object = s3.get_object

    def get_object(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return real_get_object(**kwargs)

    monkeypatch.setattr(s3, "get_object", get_object)
    return reads


def lines(n: int, start: int = 0) -> list[str]:
    return [f"ref-{i},m_abcdef12,{100 + i},EUR,item {i}" for i in range(start, start + n)]


def die_after_sends(monkeypatch: pytest.MonkeyPatch, rt: Any, sends: int) -> Callable[[], None]:
    """The function's worker dies after ``sends`` SendMessageBatch calls went through (the next one raises, as a
    timed-out or killed invocation ends); returns what puts the real client call back."""
    real = rt.sqs.send_message_batch
    sent = itertools.count()

    def dying(**kwargs: Any) -> Any:
        if next(sent) == sends:
            raise TimeoutError("the invocation ended (timed out or its worker was killed)")
        return real(**kwargs)

    monkeypatch.setattr(rt.sqs, "send_message_batch", dying)
    return lambda: monkeypatch.setattr(rt.sqs, "send_message_batch", real)


def run(context, event: dict[str, Any]) -> list[dict[str, Any]]:
    batches = bp.handler(event, context)["batches"]
    for batch in batches:
        validator(BATCH_STATUS).validate(batch)
    return batches


def test_a_file_is_validated_enqueued_and_completed(aws, rt, context, logs) -> None:
    event = upload(
        aws, "incoming/m_abcdef12/day 1.csv", *lines(23), "bad,m_abcdef12,1,XXX,", "ref-0,m_abcdef12,1,EUR,dup"
    )
    [batch] = run(context, event)
    assert (batch["status"], batch["accepted"], batch["rejected"]) == ("COMPLETED", 23, 2)
    assert [(e["line"], e["code"]) for e in batch["errors"]] == [
        (25, "UNSUPPORTED_CURRENCY"),
        (26, "DUPLICATE_REFERENCE"),
    ]
    messages = aws.drain(aws.queue_url)
    assert sorted(m["reference"] for m in messages) == sorted(f"ref-{i}" for i in range(23))
    for m in messages:
        validator(PAYMENT_MESSAGE).validate(m)
        assert m["batch_id"] == batch["batch_id"]
    [item] = aws.items("batches")
    assert (item["status"], item["object_key"], int(item["accepted"])) == (
        "COMPLETED",
        "incoming/m_abcdef12/day 1.csv",
        23,
    )
    # When it was received and started (the first clock reading) and finished (the second).
    assert (item["received_at"], item["started_at"], item["finished_at"]) == (
        "2026-09-21T14:13:20.000Z",
        "2026-09-21T14:13:20.000Z",
        "2026-09-21T14:13:20.001Z",
    )
    assert f'"correlation_id":"{batch["batch_id"]}"' in logs.getvalue()


def test_a_redelivered_event_enqueues_nothing_twice(aws, rt, context) -> None:
    event = upload(aws, "incoming/m_abcdef12/a.csv", *lines(12))
    first = run(context, event)
    assert len(aws.drain(aws.queue_url)) == 12
    assert run(context, event) == first
    assert aws.drain(aws.queue_url) == []


def test_a_new_version_of_the_same_key_is_a_new_batch(aws, rt, context) -> None:
    first = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(2)))
    second = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(3, start=10)))
    assert first[0]["batch_id"] != second[0]["batch_id"]
    assert len(aws.drain(aws.queue_url)) == 5


def test_a_batch_interrupted_midway_resumes_after_the_last_saved_line(aws, rt, context, monkeypatch) -> None:
    monkeypatch.setattr(bp, "PROGRESS_EVERY", 10)
    event = upload(aws, "incoming/m_abcdef12/a.csv", *lines(25))
    restore = die_after_sends(monkeypatch, rt, 2)
    with pytest.raises(TimeoutError):
        bp.handler(event, context)
    # Progress is saved after each PROGRESS_EVERY messages: two groups of 10 went out, the last saved line is
    # the 20th data line (line 21; the header is line 1).
    [item] = aws.items("batches")
    assert (item["status"], int(item["enqueued_lines"])) == ("PROCESSING", 21)
    before = [m["reference"] for m in aws.drain(aws.queue_url)]
    assert sorted(before) == sorted(f"ref-{i}" for i in range(20))
    restore()
    [batch] = run(context, event)
    assert (batch["status"], batch["accepted"]) == ("COMPLETED", 25)
    references = [m["reference"] for m in aws.drain(aws.queue_url)]
    assert sorted(references) == sorted(f"ref-{i}" for i in range(20, 25))  # only the rest, nothing twice


def test_a_second_invocation_for_a_file_being_processed_enqueues_nothing_until_the_lease_runs_out(
    aws, rt, context, monkeypatch
) -> None:
    """A duplicate S3 event (or the reconciliation's resume) meets a live invocation's lease: it answers the
    batch's status and enqueues nothing; once the lease ran out (the holder died), it resumes after the last
    saved line; and Lambda's own retry of the holder (same request id) takes its lease back at once."""
    monkeypatch.setattr(bp, "PROGRESS_EVERY", 10)
    event = upload(aws, "incoming/m_abcdef12/a.csv", *lines(25))
    record = event["Records"][0]
    restore = die_after_sends(monkeypatch, rt, 1)
    with pytest.raises(TimeoutError):
        bp.process_object(rt, record, owner="request-1", lease_ms=60_000)
    restore()
    assert len(aws.drain(aws.queue_url)) == 10

    held = bp.process_object(rt, record, owner="request-2", lease_ms=60_000)
    validator(BATCH_STATUS).validate(held)
    assert (held["status"], held["accepted"]) == ("PROCESSING", 0)
    assert aws.drain(aws.queue_url) == []
    [item] = aws.items("batches")
    assert (item["lease_owner"], int(item["enqueued_lines"])) == ("request-1", 11)

    retried = bp.process_object(rt, record, owner="request-1", lease_ms=60_000)  # Lambda's retry of the holder
    assert (retried["status"], retried["accepted"]) == ("COMPLETED", 25)
    assert sorted(m["reference"] for m in aws.drain(aws.queue_url)) == sorted(f"ref-{i}" for i in range(10, 25))


def test_a_lease_that_ran_out_is_taken_by_the_next_invocation_which_resumes_after_the_saved_line(
    aws, rt, monkeypatch
) -> None:
    monkeypatch.setattr(bp, "PROGRESS_EVERY", 10)
    record = upload(aws, "incoming/m_abcdef12/a.csv", *lines(15))["Records"][0]
    restore = die_after_sends(monkeypatch, rt, 1)
    with pytest.raises(TimeoutError):
        bp.process_object(rt, record, owner="request-1", lease_ms=0)  # expired as soon as it was taken
    restore()
    resumed = bp.process_object(rt, record, owner="reconciliation-resume", lease_ms=60_000)
    assert (resumed["status"], resumed["accepted"]) == ("COMPLETED", 15)
    assert sorted(m["reference"] for m in aws.drain(aws.queue_url)) == sorted(f"ref-{i}" for i in range(15))


def test_failed_entries_of_a_send_are_retried_alone(aws, rt, context, monkeypatch) -> None:
    real = rt.sqs.send_message_batch
    entry_counts: list[int] = []

    def partially_failing(**kwargs: Any) -> Any:
        entries = kwargs["Entries"]
        entry_counts.append(len(entries))
        if len(entry_counts) == 1:
            result = real(**{**kwargs, "Entries": entries[:7]})
            result["Failed"] = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in entries[7:]]
            return result
        return real(**kwargs)

    monkeypatch.setattr(rt.sqs, "send_message_batch", partially_failing)
    [batch] = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(15)))
    assert batch["accepted"] == 15
    assert entry_counts == [10, 3, 5]
    assert len(aws.drain(aws.queue_url)) == 15


def test_sends_that_keep_failing_fail_the_invocation_for_a_retry(aws, rt, context, monkeypatch) -> None:
    def always_failing(**kwargs: Any) -> Any:
        return {"Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "x"} for e in kwargs["Entries"]]}

    monkeypatch.setattr(rt.sqs, "send_message_batch", always_failing)
    with pytest.raises(TransientError):
        bp.handler(upload(aws, "incoming/m_abcdef12/a.csv", *lines(3)), context)
    assert aws.items("batches")[0]["status"] == "PROCESSING"


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (b"ref,merchant\n", f"HEADER_MISMATCH: the first line must be: {HEADER} (line 1)"),
        ("\n".join((HEADER, *lines(3), "")).encode(), "TOO_MANY_LINES: file has more than 2 data lines (line 4)"),
        (b"", "EMPTY_FILE: the file is empty"),
    ],
    ids=["header", "too-many-lines", "empty"],
)
def test_a_refused_file_fails_saying_why_and_where_and_enqueues_nothing(
    aws, context, monkeypatch, body: bytes, failure: str
) -> None:
    """The failure names the code, the reason and, when one line is the cause, its number (the header is line 1)."""
    runtime = bp.build_runtime(
        aws.settings, session=aws.session, limits=BatchLimits(amount_limit=10**11, max_lines=2), sleep=lambda _: None
    )
    monkeypatch.setattr(bp, "runtime", lambda: runtime)
    [batch] = run(context, put_object(aws, "incoming/m_abcdef12/a.csv", body))
    assert (batch["status"], batch["failure"], batch["accepted"]) == ("FAILED", failure, 0)
    assert aws.drain(aws.queue_url) == []


def test_a_failure_longer_than_the_contract_allows_is_cut_to_its_300_characters(aws, rt) -> None:
    """batch_status caps ``failure`` at 300 characters: the stored item and the answer keep its start."""
    batch_id = bp.batch_id_for(aws.bucket, "incoming/m_abcdef12/a.csv", "v1")
    rt.batches.begin(
        batch_id, bucket=aws.bucket, key="incoming/m_abcdef12/a.csv", version="v1", at="2026-01-01T00:00:00.000Z"
    )
    failure = "HEADER_MISMATCH: " + "x" * 400
    summary = bp._finish(rt, batch_id, "FAILED", 0, 0, [], failure)
    validator(BATCH_STATUS).validate(summary)
    [item] = aws.items("batches")
    assert summary["failure"] == item["failure"] == failure[:300]


def test_each_line_names_its_own_payment_and_another_batch_with_the_same_lines_other_ones(aws, rt, context) -> None:
    """payment_message: the id derives from the batch and the reference (a redelivered line names the same
    payment); the same references in a new object version are a new batch, so new payments."""
    first = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(3)))
    second = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(3)))
    assert first[0]["batch_id"] != second[0]["batch_id"]
    ids = {(m["batch_id"], m["reference"]): m["payment_id"] for m in aws.drain(aws.queue_url)}
    assert len(ids) == len(set(ids.values())) == 6
    assert all(payment_id == payment_id_for(*line) for line, payment_id in ids.items())


def test_an_object_over_the_size_limit_fails_without_being_read(aws, context, monkeypatch) -> None:
    runtime = bp.build_runtime(aws.settings, session=aws.session, limits=BatchLimits(amount_limit=1, max_bytes=10))
    monkeypatch.setattr(bp, "runtime", lambda: runtime)
    reads = recorded_reads(monkeypatch, runtime.s3)
    [batch] = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(3)))
    assert (batch["status"], batch["failure"]) == ("FAILED", "FILE_TOO_LARGE: file is larger than 10 bytes")
    assert (batch["accepted"], batch["rejected"], batch["errors"]) == (0, 0, [])
    assert aws.drain(aws.queue_url) == []
    assert reads == []  # the event's size decided: not one byte was read


@pytest.mark.parametrize("size_in_event", [True, False], ids=["size-in-event", "size-missing"])
def test_a_file_of_exactly_the_size_limit_is_read_and_one_byte_more_is_refused_the_same_way(
    aws, context, monkeypatch, size_in_event: bool
) -> None:
    """The limit is inclusive; the event's size and the bytes streamed refuse an oversized file with one text."""
    body = ("\r\n".join((HEADER, *lines(2))) + "\r\n").encode()
    for limit, status in ((len(body), "COMPLETED"), (len(body) - 1, "FAILED")):
        runtime = bp.build_runtime(
            aws.settings, session=aws.session, limits=BatchLimits(amount_limit=10**11, max_bytes=limit)
        )
        monkeypatch.setattr(bp, "runtime", lambda runtime=runtime: runtime)
        event = put_object(aws, "incoming/m_abcdef12/a.csv", body)
        if not size_in_event:
            del event["Records"][0]["s3"]["object"]["size"]
        [batch] = run(context, event)
        assert batch["status"] == status
        if status == "FAILED":
            assert batch["failure"] == f"FILE_TOO_LARGE: file is larger than {limit} bytes"
    assert len(aws.drain(aws.queue_url)) == 2


def test_the_reported_multi_line_quote_file_completes_with_two_errors_and_enqueues_nothing(aws, rt, context) -> None:
    event = upload(
        aws, "incoming/m_abcdef12/quoted.csv", 'r1,m_abcdef12,100,EUR,"note:', 'r9,m_abcdef12,99999999,EUR,x"'
    )
    [batch] = run(context, event)
    assert (batch["status"], batch["accepted"], batch["rejected"]) == ("COMPLETED", 0, 2)
    assert [(e["line"], e["code"]) for e in batch["errors"]] == [(2, "UNTERMINATED_QUOTE"), (3, "INSIDE_QUOTED_FIELD")]
    assert "opened on line 2" in batch["errors"][1]["message"]
    assert aws.drain(aws.queue_url) == []
    [item] = aws.items("batches")
    assert int(item["enqueued_lines"]) == 0


def test_an_amount_equal_to_the_configured_maximum_is_enqueued_and_one_above_is_refused(aws, rt, context) -> None:
    limit = aws.settings.max_payment_minor_units
    event = upload(
        aws, "incoming/m_abcdef12/limit.csv", f"at,m_abcdef12,{limit},EUR,", f"above,m_abcdef12,{limit + 1},EUR,"
    )
    [batch] = run(context, event)
    assert (batch["accepted"], batch["rejected"]) == (1, 1)
    assert [(e["line"], e["code"]) for e in batch["errors"]] == [(3, "AMOUNT_OVER_LIMIT")]
    assert [(m["reference"], m["amount"]) for m in aws.drain(aws.queue_url)] == [("at", limit)]


@pytest.mark.parametrize(
    ("content", "status"), [(lines(3), "COMPLETED"), (["a", "b\r\nc"], "FAILED")], ids=["completed", "failed"]
)
def test_a_redelivered_event_for_a_finished_batch_leaves_its_item_untouched_and_does_not_read_the_file(
    aws, rt, context, monkeypatch, content, status
) -> None:
    event = upload(aws, "incoming/m_abcdef12/a.csv", *content)
    if status == "FAILED":  # a header with a lone CR: the whole file is refused
        body = b"reference,merchant_id\ramount,currency,description\r\n"
        put = aws.session.client("s3").put_object(Bucket=aws.bucket, Key="incoming/m_abcdef12/a.csv", Body=body)
        event["Records"][0]["s3"]["object"].update(versionId=put["VersionId"], size=len(body))
    [first] = run(context, event)
    assert first["status"] == status
    aws.drain(aws.queue_url)
    before = aws.items("batches")
    reads = recorded_reads(monkeypatch, rt.s3)
    assert run(context, event) == [first]
    assert reads == []
    assert aws.items("batches") == before
    assert aws.drain(aws.queue_url) == []


def test_the_batch_is_named_by_bucket_key_and_version_and_its_item_says_which_object(aws, rt, context) -> None:
    event = upload(aws, "incoming/m_abcdef12/day 1.csv", *lines(1))
    version = event["Records"][0]["s3"]["object"]["versionId"]
    [batch] = run(context, event)
    assert batch["batch_id"] == bp.batch_id_for(aws.bucket, "incoming/m_abcdef12/day 1.csv", version)
    assert bp.batch_id_for("other-bucket", "incoming/m_abcdef12/day 1.csv", version) != batch["batch_id"]
    [item] = aws.items("batches")
    assert (item["bucket"], item["object_key"], item["object_version"]) == (
        aws.bucket,
        "incoming/m_abcdef12/day 1.csv",
        version,
    )


def test_an_object_without_a_version_is_named_by_its_etag(aws, rt, context) -> None:
    """Events of an unversioned bucket carry no versionId: the eTag names the content, so a re-upload of other
    content is a new batch and a redelivered event the same one."""
    event = upload(aws, "incoming/m_abcdef12/a.csv", *lines(2))
    obj = event["Records"][0]["s3"]["object"]
    del obj["versionId"]
    obj["eTag"] = "0123456789abcdef0123456789abcdef"
    [batch] = run(context, event)
    assert batch["batch_id"] == bp.batch_id_for(aws.bucket, "incoming/m_abcdef12/a.csv", obj["eTag"])
    assert run(context, event) == [batch]
    [item] = aws.items("batches")
    assert item["object_version"] == ""
    assert len(aws.drain(aws.queue_url)) == 2


def test_a_late_event_for_an_older_version_reads_that_version_not_the_latest(aws, rt, context) -> None:
    """Both passes read the object version the event names (GetObject VersionId)."""
    old = upload(aws, "incoming/m_abcdef12/a.csv", *lines(2))
    upload(
        aws, "incoming/m_abcdef12/a.csv", *lines(5, start=50)
    )  # a newer version lands before the old event is handled
    [batch] = run(context, old)
    assert batch["accepted"] == 2
    assert sorted(m["reference"] for m in aws.drain(aws.queue_url)) == ["ref-0", "ref-1"]


def test_the_object_is_streamed_in_chunks_of_at_most_chunk_bytes(aws, rt, context, monkeypatch) -> None:
    """The body is never read whole (a file may be 200 MiB against the function's memory)."""
    monkeypatch.setattr(bp, "CHUNK_BYTES", 64)
    sizes: list[int] = []
    real_get_object = rt.s3.get_object

    def recording_get_object(**kwargs: Any) -> Any:
        answer = real_get_object(**kwargs)
        body = answer["Body"]
        real_iter_chunks = body.iter_chunks

        def iter_chunks(*args: Any, **kw: Any) -> Any:
            for chunk in real_iter_chunks(*args, **kw):
                sizes.append(len(chunk))
                yield chunk

        body.iter_chunks = iter_chunks
        return answer

    monkeypatch.setattr(rt.s3, "get_object", recording_get_object)
    [batch] = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(10)))
    assert batch["accepted"] == 10
    assert len(sizes) > 2 and max(sizes) <= 64


def test_only_the_first_twenty_line_errors_are_reported_but_all_are_counted(aws, rt, context) -> None:
    bad = [f"bad-{i},m_abcdef12,1,XXX," for i in range(bp.MAX_REPORTED_ERRORS + 5)]
    [batch] = run(context, upload(aws, "incoming/m_abcdef12/a.csv", *lines(1), *bad))
    assert (batch["accepted"], batch["rejected"]) == (1, bp.MAX_REPORTED_ERRORS + 5)
    assert [e["line"] for e in batch["errors"]] == list(range(3, 3 + bp.MAX_REPORTED_ERRORS))


def test_an_event_without_version_or_etag_names_the_batch_by_bucket_and_key(aws, rt, context) -> None:
    event = upload(aws, "incoming/m_abcdef12/a.csv", *lines(1))
    obj = event["Records"][0]["s3"]["object"]
    del obj["versionId"]
    [batch] = run(context, event)
    assert batch["batch_id"] == bp.batch_id_for(aws.bucket, "incoming/m_abcdef12/a.csv", "")


# --- tenant isolation (issue 12, item 1): a file belongs to the merchant whose folder holds it -------------


def test_a_line_naming_another_merchant_is_refused_with_its_line_number_and_not_enqueued(aws, rt, context) -> None:
    event = upload(aws, "incoming/m_abcdef12/mixed.csv", *lines(2), "theirs,m_othermerchant1,100,EUR,", *lines(1, 5))
    [batch] = run(context, event)
    assert (batch["status"], batch["accepted"], batch["rejected"]) == ("COMPLETED", 3, 1)
    assert batch["errors"] == [
        {"line": 4, "code": "MERCHANT_MISMATCH", "message": "merchant_id is not the merchant of the file's folder"}
    ]
    enqueued = aws.drain(aws.queue_url)
    assert sorted(m["reference"] for m in enqueued) == ["ref-0", "ref-1", "ref-5"]
    assert {m["merchant_id"] for m in enqueued} == {"m_abcdef12"}


@pytest.mark.parametrize(
    "key",
    ["incoming/day.csv", "incoming/not-a-merchant/day.csv", "incoming/M_ABCDEF12/day.csv", "incoming/m_abc/day.csv"],
)
def test_a_file_outside_a_merchants_folder_fails_whole_and_enqueues_nothing(aws, rt, context, monkeypatch, key) -> None:
    reads = recorded_reads(monkeypatch, rt.s3)
    [batch] = run(context, upload(aws, key, *lines(3)))
    assert (batch["status"], batch["accepted"], batch["rejected"]) == ("FAILED", 0, 0)
    assert batch["failure"] == "MERCHANT_FOLDER_REQUIRED: batch files go under incoming/<merchant_id>/"
    assert aws.drain(aws.queue_url) == []
    assert reads == []  # the file is not even read
