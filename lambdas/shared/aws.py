"""The one boto3 client configuration of every handler, and the names it gives to AWS capacity errors.

Two layers retry a capacity error, each for what it is good at:

- **In the call** (this module's ``CLIENT_CONFIG``): botocore's *standard* retry mode, a few attempts
  with truncated exponential backoff and full jitter (``rand(0, 1) * 2 ** (attempt - 1)`` seconds,
  at most 20 s each; botocore ``retries/standard.py``). Short on purpose: a function sleeping on a
  retry holds a concurrency slot that a throttled neighbour is waiting for.
- **Outside the function**, where waiting costs nothing: the state machine's retriers
  (``stacks/constructs/workflow_definition.py``, minutes) and the payment queue's redelivery
  (``lambdas/payment_processor/handler.py``). For them a handler re-raises what the SDK gave up on
  under a name they can match: :class:`ThrottlingError` or :class:`TransientError`.

Sources: AWS SDKs and Tools Reference Guide, "Retry behavior" (standard mode, max attempts);
botocore ``retries/standard.py`` (the throttling and transient error codes this module starts from);
the service API references for the codes botocore does not list (SNS ``KMSThrottling``/``Throttled``,
SQS ``KmsThrottled``, Step Functions ``KmsThrottlingException``, DynamoDB ``TransactionConflict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Final

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

from lambdas.shared.store import TransientError

RETRY_MODE: Final = "standard"
# One call and three retries: the waits add up to at most 1 + 2 + 4 = 7 s (see sdk_retry_wait_seconds).
MAX_ATTEMPTS: Final = 4
# Per attempt, and each below the shortest function timeout (api_handler, 10 s;
# tests/unit/stacks/test_functions.py checks it): a stuck connection is retried inside the function
# instead of timing the whole invocation out. DynamoDB, SNS, SQS and Step Functions answer in
# milliseconds; a streamed S3 body is read in chunks, each under this timeout.
CONNECT_TIMEOUT_SECONDS: Final = 2.0
READ_TIMEOUT_SECONDS: Final = 5.0
SDK_MAX_BACKOFF_SECONDS: Final = 20.0  # botocore standard mode's cap on one wait

# total_max_attempts counts the first request; the older "max_attempts" key counts retries only (botocore
# adds one to it), an off-by-one this spelling avoids.
CLIENT_CONFIG: Final = Config(
    retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)

# Codes botocore's standard mode does not list as throttles but the services use for one
# (the KMS key behind an encrypted topic, queue or state machine being throttled included).
EXTRA_THROTTLING_CODES: Final = frozenset(
    {
        "Throttled",  # SNS ThrottledException
        "KMSThrottling",  # SNS KMSThrottlingException
        "KmsThrottled",  # SQS (JSON protocol)
        "KMS.ThrottlingException",  # SQS (query-compatible code)
        "KmsThrottlingException",  # Step Functions
    }
)
# Codes of a request that may succeed as it is when sent again (besides HTTP 5xx and botocore's list).
EXTRA_TRANSIENT_CODES: Final = frozenset(
    {
        "TransactionConflictException",  # DynamoDB: the item is part of a running transaction
        "ReplicatedWriteConflictException",  # DynamoDB global tables
        "ServiceUnavailable",
        "InternalFailure",
    }
)
# DynamoDB TransactionCanceledException: a cancellation is transient when every reason is one of these.
TRANSACTION_THROTTLE_REASONS: Final = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
TRANSACTION_TRANSIENT_REASONS: Final = frozenset({"TransactionConflict", "None"}) | TRANSACTION_THROTTLE_REASONS

_THROTTLED = ThrottledRetryableChecker()
_TRANSIENT = TransientRetryableChecker()


class ThrottlingError(TransientError):
    """A capacity limit outlasted the SDK's retries (a throttle of the service or of its KMS key).

    Raised under this name so that the state machine's throttle retrier (minutes) matches it;
    Lambda reports the class name as the error type.
    """


def session() -> boto3.session.Session:
    """A boto3 session whose every client and resource uses ``CLIENT_CONFIG`` (a client's own config merges on top)."""
    core = botocore.session.get_session()
    core.set_default_client_config(CLIENT_CONFIG)
    return boto3.session.Session(botocore_session=core)


def sdk_retry_wait_seconds(max_attempts: int = MAX_ATTEMPTS) -> float:
    """The longest the SDK sleeps between the attempts of one call, in seconds (standard mode's backoff)."""
    return sum(min(2.0**attempt, SDK_MAX_BACKOFF_SECONDS) for attempt in range(max_attempts - 1))


def _kind_of(error: BaseException) -> type[TransientError] | None:
    if isinstance(error, TransientError):
        return type(error)
    # Timeouts, refused or reset connections: botocore's own, or the socket's when something bypasses it.
    if isinstance(error, BotocoreConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return TransientError
    if not isinstance(error, ClientError):
        return None
    response: dict[str, Any] = dict(error.response)
    code = response.get("Error", {}).get("Code")
    if code == "TransactionCanceledException":
        reasons = {str(r.get("Code")) for r in response.get("CancellationReasons", [])}
        if not reasons or not reasons <= TRANSACTION_TRANSIENT_REASONS:
            return None
        return ThrottlingError if reasons & TRANSACTION_THROTTLE_REASONS else TransientError
    status = SimpleNamespace(status_code=response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    context = RetryContext(attempt_number=1, parsed_response=response, http_response=status)
    if code in EXTRA_THROTTLING_CODES or _THROTTLED.is_retryable(context):
        return ThrottlingError
    if code in EXTRA_TRANSIENT_CODES or _TRANSIENT.is_retryable(context):
        return TransientError
    return None


def _capacity_cause(error: BaseException) -> tuple[type[TransientError], BaseException] | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return kind, current
        current = current.__cause__
    return None


def capacity_error(error: BaseException) -> type[TransientError] | None:
    """:class:`ThrottlingError` or :class:`TransientError` when ``error`` is worth retrying later, else None.

    Follows explicit causes (``raise ... from``), so a library's wrapper (e.g. Powertools'
    ``IdempotencyPersistenceLayerError`` around a throttled DynamoDB call) is recognised too.
    Anything else (conditional-check failures, access denied, validation errors, bugs) is None:
    sending it again cannot help.
    """
    found = _capacity_cause(error)
    return None if found is None else found[0]


def _describe(error: BaseException) -> str:
    """What failed, without the service's message (it may quote request data)."""
    if isinstance(error, ClientError):
        return f"{error.operation_name}: {error.response.get('Error', {}).get('Code')}"
    return type(error).__name__


@contextmanager
def capacity_errors_named() -> Iterator[None]:
    """Re-raise a capacity error as :class:`ThrottlingError` / :class:`TransientError` (the cause kept).

    Raises
    ------
    ThrottlingError
        A throttle (Lambda, DynamoDB, SNS, SQS, Step Functions or their KMS key) after the SDK's retries.
    TransientError
        A 5xx answer, a timeout or broken connection, a DynamoDB transaction conflict.
    Everything else passes through unchanged.
    """
    try:
        yield
    except TransientError:
        raise
    except Exception as error:
        found = _capacity_cause(error)
        if found is None:
            raise
        kind, cause = found
        raise kind(f"retry later: {_describe(cause)}") from error
