"""lambdas/shared/aws.py: one client configuration; capacity errors named for the retriers outside the function."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.retries import standard

from lambdas.shared import aws
from lambdas.shared.errors import DomainError
from lambdas.shared.store import TransientError

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")


def client_error(code: str, status: int = 400, **extra: Any) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}, **extra}
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),  # DynamoDB
        ("ThrottlingException", 400),  # DynamoDB, Step Functions, KMS
        ("RequestLimitExceeded", 400),  # DynamoDB account request limit
        ("TooManyRequestsException", 429),  # Lambda
        ("Throttled", 429),  # SNS
        ("KMSThrottling", 400),  # SNS topic key
        ("RequestThrottled", 403),  # SQS
        ("KmsThrottled", 400),  # SQS queue key
        ("KMS.ThrottlingException", 400),  # SQS query-compatible code
        ("KmsThrottlingException", 400),  # Step Functions key
        ("SlowDown", 503),  # S3
    ],
)
def test_throttles_of_every_service_are_throttling_errors(code: str, status: int) -> None:
    assert aws.capacity_error(client_error(code, status)) is aws.ThrottlingError


@pytest.mark.parametrize(
    "error",
    [
        client_error("InternalServerError", 500),
        client_error("InternalError", 500),
        client_error("ServiceUnavailable", 503),
        client_error("ServiceException", 500),  # Lambda
        client_error("TransactionConflictException"),
        client_error("RequestTimeout", 408),
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://sns.eu-west-1.amazonaws.com"),
        ConnectionResetError("reset"),
        TimeoutError("timed out"),
    ],
    ids=lambda e: e.response["Error"]["Code"] if isinstance(e, ClientError) else type(e).__name__,
)
def test_service_errors_and_broken_connections_are_transient(error: Exception) -> None:
    assert aws.capacity_error(error) is TransientError


@pytest.mark.parametrize(
    "error",
    [
        client_error("ConditionalCheckFailedException"),
        client_error("AccessDeniedException"),
        client_error("ValidationException"),
        client_error("ResourceNotFoundException"),
        client_error("ExecutionAlreadyExists"),
        client_error("KMSAccessDenied"),
        DomainError("amount is above the configured limit"),
        KeyError("payment_id"),
    ],
    ids=lambda e: e.response["Error"]["Code"] if isinstance(e, ClientError) else type(e).__name__,
)
def test_errors_a_retry_cannot_fix_are_not_capacity_errors(error: Exception) -> None:
    assert aws.capacity_error(error) is None


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        (["None", "TransactionConflict"], TransientError),
        (["ThrottlingError", "None"], aws.ThrottlingError),
        (["ProvisionedThroughputExceeded"], aws.ThrottlingError),
        (["ConditionalCheckFailed", "TransactionConflict"], None),
        ([], None),
    ],
)
def test_a_cancelled_transaction_is_retried_only_when_every_reason_is(reasons: list[str], expected: Any) -> None:
    error = client_error("TransactionCanceledException", CancellationReasons=[{"Code": r} for r in reasons])
    assert aws.capacity_error(error) is expected


def test_a_wrapped_throttle_is_found_through_its_cause() -> None:
    throttle = client_error("ProvisionedThroughputExceededException")
    try:
        try:
            raise throttle
        except ClientError as exc:
            raise IdempotencyPersistenceLayerError("Failed to save in progress record", exc) from exc
    except IdempotencyPersistenceLayerError as wrapped:
        assert aws.capacity_error(wrapped) is aws.ThrottlingError


def test_only_explicit_causes_count() -> None:
    """A refusal raised while handling a throttle (implicit context) is still a refusal."""
    try:
        try:
            raise client_error("ThrottlingException")
        except ClientError:
            raise DomainError("refused") from None
    except DomainError as refusal:
        assert aws.capacity_error(refusal) is None


def test_capacity_errors_named_renames_keeps_the_cause_and_drops_the_service_message() -> None:
    throttle = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "card 4111111111111111"}, "ResponseMetadata": {}},
        "UpdateItem",
    )
    renamed = pytest.raises(aws.ThrottlingError, match=r"^retry later: UpdateItem: ThrottlingException$")
    with renamed as raised, aws.capacity_errors_named():
        raise throttle
    assert raised.value.__cause__ is throttle
    with pytest.raises(KeyError), aws.capacity_errors_named():
        raise KeyError("bug")
    already = TransientError("kept changing")
    with pytest.raises(TransientError) as kept, aws.capacity_errors_named():
        raise already
    assert kept.value is already


def test_every_client_of_the_session_carries_the_config(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    session = aws.session()
    clients = [session.client("sqs"), session.resource("dynamodb").meta.client, session.client("s3")]
    for client in clients:
        config = client.meta.config
        assert config.retries == {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS}
        assert (config.connect_timeout, config.read_timeout) == (2.0, 5.0)


def test_the_sdk_waits_at_most_seven_seconds_between_the_attempts_of_one_call() -> None:
    assert aws.sdk_retry_wait_seconds() == 1 + 2 + 4
    assert aws.sdk_retry_wait_seconds(10) == 1 + 2 + 4 + 8 + 16 + 20 * 4  # each wait is capped at 20 s


def throttling_sqs(monkeypatch, throttles: int) -> tuple[Any, list[int]]:
    """A real botocore SQS client whose first ``throttles`` requests are answered 400 ThrottlingException."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)  # no real waits
    client = aws.session().client("sqs", endpoint_url="https://sqs.eu-west-1.amazonaws.com")
    sent: list[int] = []

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        sent.append(1)
        if len(sent) <= throttles:
            body = b'{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}'
            return AWSResponse(request.url, 400, {"x-amzn-query-error": "Throttling;Sender"}, _Raw(body))
        return AWSResponse(request.url, 200, {}, _Raw(b'{"QueueUrls":[]}'))

    client.meta.events.register("before-send", answer)
    return client, sent


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Any:
        yield self._body


def test_the_sdk_retries_a_throttle_within_its_attempts(monkeypatch) -> None:
    client, sent = throttling_sqs(monkeypatch, throttles=aws.MAX_ATTEMPTS - 1)
    client.list_queues()
    assert len(sent) == aws.MAX_ATTEMPTS


def test_a_throttle_outlasting_the_sdk_attempts_reaches_the_retrier_as_throttling_error(monkeypatch) -> None:
    client, sent = throttling_sqs(monkeypatch, throttles=aws.MAX_ATTEMPTS)
    with pytest.raises(aws.ThrottlingError, match="ListQueues"), aws.capacity_errors_named():
        client.list_queues()
    assert len(sent) == aws.MAX_ATTEMPTS


# --- answers with parts missing, and cause chains that loop ---------------------------------------------


def test_an_error_already_named_keeps_its_own_name() -> None:
    """A ThrottlingError raised further down (a nested ``capacity_errors_named``) is not widened to TransientError."""
    assert aws.capacity_error(aws.ThrottlingError("inner")) is aws.ThrottlingError
    assert aws.capacity_error(TransientError("inner")) is TransientError


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"ResponseMetadata": {"HTTPStatusCode": 503}}, TransientError),  # a 5xx with no error body
        ({"Error": {"Code": "ThrottlingException"}}, aws.ThrottlingError),  # no ResponseMetadata
        ({"Error": {"Code": "RequestTimeout"}}, TransientError),  # botocore lists the code
        ({"Error": {"Code": "TransactionCanceledException"}}, None),  # no CancellationReasons: not retried
        ({}, None),
    ],
    ids=["5xx-without-error", "throttle-without-metadata", "transient-without-metadata", "no-reasons", "empty"],
)
def test_an_answer_missing_its_error_metadata_or_reasons_is_still_classified(response: Any, expected: Any) -> None:
    """botocore builds a ClientError from whatever the service sent; a part it lacks is never a crash here."""
    assert aws.capacity_error(ClientError(response, "PutItem")) is expected


def test_a_transaction_cancelled_for_every_transient_reason_at_once_is_a_throttle() -> None:
    """All of TRANSACTION_TRANSIENT_REASONS together (the set itself, not a proper subset) is still retried."""
    reasons = [{"Code": r} for r in sorted(aws.TRANSACTION_TRANSIENT_REASONS)]
    error = client_error("TransactionCanceledException", CancellationReasons=reasons)
    assert aws.capacity_error(error) is aws.ThrottlingError


def test_the_renamed_error_says_what_failed_even_without_an_error_code() -> None:
    """``retry later: <operation>: <code>`` for a service answer, ``retry later: <exception class>`` otherwise."""
    with pytest.raises(TransientError, match=r"^retry later: PutItem: None$"), aws.capacity_errors_named():
        raise ClientError({"ResponseMetadata": {"HTTPStatusCode": 500}}, "PutItem")
    with pytest.raises(TransientError, match=r"^retry later: ConnectionResetError$"), aws.capacity_errors_named():
        raise ConnectionResetError("reset by 10.0.0.1")


def test_a_cause_chain_that_loops_ends() -> None:
    """``a.__cause__ = b; b.__cause__ = a`` (a library re-raising in a cycle): each exception is looked at once."""
    first, second = DomainError("first"), KeyError("second")
    first.__cause__, second.__cause__ = second, first
    assert aws.capacity_error(first) is None
    throttle = client_error("ThrottlingException")
    first.__cause__, second.__cause__, throttle.__cause__ = second, throttle, first
    assert aws.capacity_error(first) is aws.ThrottlingError
