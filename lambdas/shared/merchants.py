"""Which merchant a caller acts for: the binding that keeps one merchant's payments from another's callers.

Broken object-level authorization is the first risk of the OWASP API Security Top 10 (2023, API1): the
platform, not the request, decides whose payment is created or read. A caller identity is what API Gateway
authenticated for the request (``requestContext.identity`` of the Lambda proxy event, AWS docs "Input format
of a Lambda function for proxy integration"):

- ``apiKeyId``: the id of the API key the request carried (every method requires one);
- ``userArn``: the IAM principal that signed the request, where the method's ``AWS_IAM`` authorization is
  enforced (AWS; LocalStack accepts unsigned calls and sends none).

Each identity is bound to exactly one merchant by one item of the callers table (hash key ``caller_id``:
``apikey:<id>`` or ``iam:<arn>``; ``merchant_id``, ``bound_at``, ``bound_by``), written only by the admin
command ``python -m pipeline merchant-bind`` (pipeline/merchants.py). Every identity a request presents must
be bound, and all to the same merchant; anything else acts for no merchant (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from contracts.callers import MERCHANT_ID, api_key_caller, principal_caller

__all__ = ["MERCHANT_ID", "CallerDirectory", "api_key_caller", "batch_file_merchant", "caller_ids", "principal_caller"]

# Batch files: each merchant writes under its own folder, incoming/<merchant_id>/ (stacks/constants.py
# BATCH_PREFIX; the bucket policy holds a merchant's principals to it, the batch function re-checks every line).
BATCH_FOLDER = re.compile(rf"incoming/({MERCHANT_ID.pattern})/[^/]")


def batch_file_merchant(key: str) -> str | None:
    """The merchant whose folder holds the object ``key`` (``incoming/<merchant_id>/<name>``), else None."""
    folder = BATCH_FOLDER.match(key)
    return folder.group(1) if folder else None


def caller_ids(identity: Mapping[str, Any]) -> tuple[str, ...]:
    """The callers-table keys of every identity a request presents (API key first), empty when it has none.

    ``identity``: the proxy event's ``requestContext.identity`` (missing or null members are absent).
    """
    ids: list[str] = []
    if api_key_id := identity.get("apiKeyId"):
        ids.append(api_key_caller(str(api_key_id)))
    if user_arn := identity.get("userArn"):
        ids.append(principal_caller(str(user_arn)))
    return tuple(ids)


class CallerDirectory:
    """Reads bindings from the callers table (a boto3 ``Table``); the functions hold ``GetItem`` on it, no more."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def merchant_of(self, ids: Sequence[str]) -> str | None:
        """The merchant every identity in ``ids`` is bound to; None when ``ids`` is empty, one of them is unbound,
        or two are bound to different merchants. Strongly consistent reads: a revoked binding acts at once.

        Raises botocore's ``ClientError`` / ``BotoCoreError`` when the table cannot be read (the caller's 5xx path).
        """
        merchants: set[str] = set()
        for caller_id in ids:
            item = self._table.get_item(Key={"caller_id": caller_id}, ConsistentRead=True).get("Item")
            if item is None:
                return None
            merchants.add(str(item["merchant_id"]))
        return merchants.pop() if len(merchants) == 1 else None
