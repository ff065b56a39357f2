"""SQS redrive attributes answered in AWS's form: compact JSON, ``maxReceiveCount`` a number.

LocalStack 2026.3 keeps ``RedrivePolicy`` and ``RedriveAllowPolicy`` as the text the client sent
(``services/sqs/models.py``, ``SqsQueue.get_queue_attributes``): a policy written with spaces, as
Python's ``json.dumps`` writes it, comes back with spaces, and ``"maxReceiveCount": "5"`` comes back as a
string. The AWS provider for Terraform normalizes the configured value (``StateFunc``:
``structure.NormalizeJsonString``, compact, keys sorted) but stores what ``GetQueueAttributes`` answers,
so every ``aws_sqs_queue`` with a redrive policy plans "whitespace changes" after each apply (a perpetual
diff).

AWS parses both attributes when they are set and answers them re-serialized: compact JSON, members in
its own order (``deadLetterTargetArn``, ``maxReceiveCount`` as a number; ``redrivePermission``,
``sourceQueueArns``) — the SQS API reference's ``GetQueueAttributes`` and the AWS CLI example answer
``{"deadLetterTargetArn":"arn:aws:sqs:...:MyDeadLetterQueue","maxReceiveCount":1000}`` for a policy set
with ``"maxReceiveCount":"1000"``.

This hook answers both attributes so; what LocalStack stores and how it redrives are unchanged. Text
that is not a JSON object (LocalStack refuses it on ``SetQueueAttributes``) is answered as stored.

Applied by ``aws_answers.py`` once LocalStack imports ``localstack.services.sqs.models``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from localstack.services.sqs import models

PATCHED = "paygate_patched"
# Attribute -> its members in the order AWS answers them (members not listed follow in the order given).
MEMBER_ORDER = {
    "RedrivePolicy": ("deadLetterTargetArn", "maxReceiveCount"),
    "RedriveAllowPolicy": ("redrivePermission", "sourceQueueArns"),
}
NUMERIC_MEMBERS = frozenset({"maxReceiveCount"})


def as_aws_answers(attribute: str, text: str) -> str:
    """``text`` re-serialized as AWS answers ``attribute``: compact, AWS's member order, counts as numbers."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if not isinstance(document, dict):
        return text
    order = MEMBER_ORDER[attribute]
    members = [name for name in order if name in document] + [name for name in document if name not in order]
    answer = {}
    for name in members:
        value = document[name]
        if name in NUMERIC_MEMBERS and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        answer[name] = value
    return json.dumps(answer, separators=(",", ":"))


def _patch(original: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    @functools.wraps(original)
    def get_queue_attributes(self: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
        answer = original(self, *args, **kwargs)
        for attribute in MEMBER_ORDER.keys() & answer.keys():
            answer[attribute] = as_aws_answers(attribute, answer[attribute])
        return answer

    setattr(get_queue_attributes, PATCHED, True)
    return get_queue_attributes


def patch(_: object = None) -> None:
    """Patch LocalStack's SQS queue model (idempotent); the argument is the imported module, unused."""
    queue = models.SqsQueue
    if getattr(queue.get_queue_attributes, PATCHED, False):
        return
    queue.get_queue_attributes = _patch(queue.get_queue_attributes)  # type: ignore[method-assign]
