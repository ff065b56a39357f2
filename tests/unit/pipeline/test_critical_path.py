"""The deploy's critical path from terraform apply -json events and the configuration's references."""

from __future__ import annotations

from typing import Any

from pipeline.deploy import critical_path

CONFIG: dict[str, Any] = {
    "data": {"aws_iam_policy_document": {"doc": {"statement": [{"resources": ["${aws_kms_key.key.arn}"]}]}}},
    "resource": {
        "aws_kms_key": {"key": {"description": "k"}},
        "aws_sqs_queue": {
            "dlq": {"kms_master_key_id": "${aws_kms_key.key.arn}"},
            "queue": {
                "kms_master_key_id": "${aws_kms_key.key.arn}",
                "redrive_policy": '${jsonencode({"deadLetterTargetArn" = aws_sqs_queue.dlq.arn})}',
            },
        },
        "aws_lambda_function": {"fn": {"role": "literal", "depends_on": ["aws_sqs_queue.dlq"]}},
    },
}


def event(kind: str, address: str, at: str) -> dict[str, Any]:
    return {"type": kind, "@timestamp": f"2026-12-01T10:00:{at}+00:00", "hook": {"resource": {"addr": address}}}


def timings(*spans: tuple[str, str, str]) -> critical_path.ApplyTimings:
    found = critical_path.ApplyTimings()
    for address, start, _end in spans:
        found.feed(event("apply_start", address, start))
    for address, _start, end in sorted(spans, key=lambda span: span[2]):
        found.feed(event("apply_complete", address, end))
    return found


def test_references_and_depends_on_become_dependencies_with_the_attributes_read() -> None:
    graph = critical_path.dependencies(CONFIG)
    assert graph["aws_sqs_queue.queue"] == {"aws_kms_key.key": {"arn"}, "aws_sqs_queue.dlq": {"arn"}}
    assert graph["aws_lambda_function.fn"] == {"aws_sqs_queue.dlq": {"depends_on"}}
    assert graph["data.aws_iam_policy_document.doc"] == {"aws_kms_key.key": {"arn"}}
    assert graph["aws_kms_key.key"] == {}


def test_the_chain_walks_back_from_the_last_resource_through_the_dependency_that_finished_last() -> None:
    applied = timings(
        ("aws_kms_key.key", "00.000000", "08.000000"),
        ("aws_sqs_queue.dlq", "08.100000", "33.000000"),
        ("aws_lambda_function.fn", "33.200000", "38.000000"),
        ("aws_sqs_queue.queue", "33.300000", "58.500000"),
    )
    chain = critical_path.critical_path(applied, critical_path.dependencies(CONFIG))
    assert [link.span.address for link in chain] == ["aws_kms_key.key", "aws_sqs_queue.dlq", "aws_sqs_queue.queue"]
    assert [link.waited_for for link in chain] == [None, "aws_kms_key.key", "aws_sqs_queue.dlq"]
    assert chain[2].attributes == ("arn",)
    assert round(chain[2].gap, 1) == 0.3 and round(chain[2].span.seconds, 1) == 25.2
    table = critical_path.render(chain, 60.0)
    assert table[0].startswith("deploy critical path (terraform apply -json; 58.5 s from the first resource")
    assert table[-1].split()[:3] == ["33.3", "25.2", "aws_sqs_queue.queue"]
    assert table[-1].endswith("aws_sqs_queue.dlq (arn) +0.3 s")


def test_events_other_than_resource_applies_are_ignored_and_no_events_give_no_path() -> None:
    found = critical_path.ApplyTimings()
    found.feed({"type": "change_summary", "@timestamp": "2026-12-01T10:00:00+00:00"})
    found.feed(event("apply_complete", "aws_kms_key.key", "01.000000"))  # never started: no span
    assert found.spans == {}
    assert critical_path.critical_path(found, {}) == []
    assert critical_path.render([]) == ["deploy critical path: no timings (terraform apply -json gave no apply events)"]
