"""api_handler: POST /payments (idempotent on the Idempotency-Key header) and GET /payments/{id}.

The merchant is the caller's (lambdas/shared/merchants.py), never the body's: a caller bound to no merchant is
refused (403 FORBIDDEN), a body naming another merchant is refused (403 MERCHANT_MISMATCH) and nothing is
written, and another merchant's payment is answered exactly as an unknown id (404 PAYMENT_NOT_FOUND).

Every answer is one the contract (contracts/openapi.json) declares for its operation and status:
whatever the body, header or path, a refusal is a 4xx with the contract error body, never a 500.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from botocore.exceptions import BotoCoreError, ClientError

from contracts import (
    CREATE_PAYMENT_REQUEST,
    ENVIRONMENT_DIMENSION,
    FAILURE_KIND_DIMENSION,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    RETRY_AFTER_SECONDS,
    WORKFLOW_START_FAILED_METRIC,
    validator,
)
from lambdas.shared import aws
from lambdas.shared.errors import BodyTooLargeError, DomainError, MalformedJsonError
from lambdas.shared.http import decode_body, error_response, is_json_media_type, json_response, parse_json
from lambdas.shared.merchants import CallerDirectory, caller_ids
from lambdas.shared.money import Money
from lambdas.shared.pan import contains_pan, refuse_pan
from lambdas.shared.payments import Payment, iso, new_payment
from lambdas.shared.runtime import Clock, Settings, logger, settings
from lambdas.shared.store import PaymentStore

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# 1-255 visible ASCII characters (U+0021-U+007E), as contracts/openapi.json declares the header.
IDEMPOTENCY_KEY = re.compile(rf"[!-~]{{1,{MAX_IDEMPOTENCY_KEY}}}")
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
PAYMENT_ID = re.compile(r"pay_[a-f0-9]{32}")
COLLECTION_ROUTE = re.compile(r"/payments/?")
ITEM_ROUTE = re.compile(r"/payments/[^/]+/?")
TRANSIENT = "transient"
PERMANENT = "permanent"


class ExactPathResolver(APIGatewayRestResolver):
    r"""Powertools' REST resolver with routes that match the whole path.

    Powertools compiles a route to ``^<route>/*$``, and Python's ``$`` also matches before a final newline
    (Python ``re`` docs), so ``POST /payments\n`` was routed as ``POST /payments`` and created a payment.
    ``\Z`` ends a route at the path's last character: any other path is no route (``not_found``).
    """

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "") -> re.Pattern[str]:
        r"""``rule`` as Powertools' REST resolver compiles it, then ``\Z`` (``$\Z``: only at the path's end).
        ``base_regex`` is ignored, as the REST resolver ignores it (the signature is its base class's)."""
        return re.compile(APIGatewayRestResolver._compile_regex(rule).pattern + r"\Z")


app = ExactPathResolver()


class KeyReused(Exception):
    """The Idempotency-Key names an existing payment made from another request."""


class WorkflowNotStarted(Exception):
    """The payment is stored but StartExecution failed.

    Raised inside the idempotent operation so Powertools deletes the idempotency record instead of
    storing the answer: a retry with the same key runs the operation again and starts the workflow
    (execution name = payment id, so StartExecution is idempotent). ``payment`` is the contract's
    payment resource, ``error_code`` the AWS error code, ``kind`` TRANSIENT or PERMANENT.
    """

    def __init__(self, payment: dict[str, Any], *, error_code: str, kind: str) -> None:
        super().__init__(f"workflow start failed: {error_code}")
        self.payment, self.error_code, self.kind = payment, error_code, kind


def start_failure_kind(error: ClientError | BotoCoreError) -> str:
    """TRANSIENT when a retry may succeed, PERMANENT otherwise (e.g. StateMachineDoesNotExist, AccessDenied).

    The one classifier every handler uses (:func:`lambdas.shared.aws.capacity_error`): botocore's
    throttling and transient codes, HTTP 500/502/503/504, the services' own throttle codes (a throttled
    KMS key of the state machine included), connection errors and timeouts.
    """
    return TRANSIENT if aws.capacity_error(error) is not None else PERMANENT


def emit_start_failure(environment: str, kind: str) -> None:
    """One WorkflowStartFailed count as a CloudWatch Embedded Metric Format line on stdout (CloudWatch
    Logs turns it into the metric; no API call on a path where AWS is already failing).

    Dimension sets: (service, Environment), which the alarm watches, and (service, Environment,
    FailureKind). Names: contracts.METRICS_* (shared with stacks/constructs/alarms.py).
    """
    # The service dimension is set explicitly (not through the provider's ``service``, which a
    # POWERTOOLS_SERVICE_NAME in the function's environment would replace): the alarm watches this name.
    metrics = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE)
    metrics.set_default_dimensions(**{"service": METRICS_SERVICE, ENVIRONMENT_DIMENSION: environment})
    metrics.add_dimensions(**{FAILURE_KIND_DIMENSION: kind})
    metrics.add_metric(name=WORKFLOW_START_FAILED_METRIC, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def payment_id_for_key(key: str) -> str:
    """The payment an Idempotency-Key creates (stable across retries)."""
    return "pay_" + hashlib.sha256(f"api\x00{key}".encode()).hexdigest()[:32]


def same_request(existing: Payment, fresh: Payment) -> bool:
    """Whether two payments were made from the same create request."""
    fields = ("merchant_id", "reference", "money", "description", "source")
    return all(getattr(existing, f) == getattr(fresh, f) for f in fields)


@dataclass
class ApiRuntime:
    """Everything built once per container: settings, the store, the idempotent create operation (it holds the
    Step Functions client and the clock)."""

    settings: Settings
    store: PaymentStore
    callers: CallerDirectory
    idempotency: IdempotencyConfig
    create: Callable[..., dict[str, Any]]


def build_runtime(config: Settings, *, session: Any = None, clock: Clock | None = None) -> ApiRuntime:
    """Wire clients and the Powertools idempotency layer (DynamoDB table: hash key id, TTL expiration)."""
    session = session or aws.session()
    dynamodb = session.resource("dynamodb")
    store = PaymentStore(dynamodb.Table(config.payments_table), dynamodb.Table(config.audit_table))
    callers = CallerDirectory(dynamodb.Table(config.require("callers_table")))
    sfn = session.client("stepfunctions")
    clock = clock or Clock()
    idempotency = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=config.require("idempotency_table"), boto3_client=session.client("dynamodb")
    )
    state_machine = config.require("state_machine_arn")

    def create(request: dict[str, Any]) -> dict[str, Any]:
        """Store the payment (PENDING, conditional put), audit it, start its workflow.

        The payment id derives from the Idempotency-Key, so a retry after a partial failure (the
        idempotency record is released when this raises) finds the same payment instead of making
        a second one; every later step is itself idempotent.
        """
        now = iso(clock.now_ms())
        payment = new_payment(
            request["body"],
            payment_id=payment_id_for_key(request["key"]),
            now=now,
            limit=config.max_payment_minor_units,
        )
        if not store.put_new(payment):
            existing = store.get(payment.payment_id)
            if existing is None or not same_request(existing, payment):
                # Only reachable once the idempotency record expired: the key still names the old payment.
                raise KeyReused("idempotency key already names another payment")
            payment, first = existing, payment
        else:
            first = payment
        store.record_audit(first, action="CREATED", actor="api_handler", at=now)
        logger.append_keys(payment_id=payment.payment_id)
        try:
            sfn.start_execution(
                stateMachineArn=state_machine,
                name=payment.payment_id,
                input=json.dumps({"payment_id": payment.payment_id}),
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code") or "Unknown")
            if code != "ExecutionAlreadyExists":  # a retry after a start that did happen
                kind = start_failure_kind(error)
                raise WorkflowNotStarted(payment.to_resource(), error_code=code, kind=kind) from None
        except BotoCoreError as error:  # no answer at all: connection error, timeout
            kind = start_failure_kind(error)
            raise WorkflowNotStarted(payment.to_resource(), error_code=type(error).__name__, kind=kind) from None
        logger.info("payment created", extra={"status_code": 201})
        return {"status": 201, "payment": payment.to_resource()}

    guarded = idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=idempotency)(
        create
    )
    return ApiRuntime(settings=config, store=store, callers=callers, idempotency=idempotency, create=guarded)


@cache
def runtime() -> ApiRuntime:
    return build_runtime(settings())


def _request_context() -> dict[str, Any]:
    """The event's requestContext as sent. API Gateway always sends requestId and identity; a direct invocation
    or a console test event may not, and a missing part must not turn an answer into a 500."""
    context = app.current_event.raw_event.get("requestContext")
    return context if isinstance(context, dict) else {}


def _request_id() -> str | None:
    return str(_request_context().get("requestId") or "") or None


def _identity() -> dict[str, Any]:
    identity = _request_context().get("identity")
    return identity if isinstance(identity, dict) else {}


def _caller() -> str:
    """Who is calling (API key, else IAM principal): Idempotency-Keys are scoped per caller. Only asked for a caller
    bound to a merchant, which presents at least one of the two (lambdas/shared/merchants.py)."""
    identity = _identity()
    return str(identity.get("apiKeyId") or identity["userArn"])


def _merchant(rt: ApiRuntime) -> str | None:
    """The merchant the caller is bound to (every identity it presents, one merchant), else None."""
    return rt.callers.merchant_of(caller_ids(_identity()))


def _unbound() -> Response[str]:
    return _refuse(403, "FORBIDDEN", "this caller is not bound to a merchant")


def _refuse(status: int, code: str, message: str, details: list[dict[str, str]] | None = None) -> Response[str]:
    logger.info("request refused", extra={"error_code": code, "status_code": status})
    return error_response(status, code, message, request_id=_request_id(), details=details)


@app.post("/payments")
def create_payment() -> Response[str]:
    rt = runtime()
    merchant = _merchant(rt)
    if merchant is None:
        return _unbound()
    event = app.current_event
    key = event.headers.get(IDEMPOTENCY_HEADER) or ""  # case-insensitive in Powertools v3
    if not is_json_media_type(event.headers.get("Content-Type")):
        return _refuse(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json (UTF-8)")
    try:
        raw = decode_body(event.body, base64_encoded=bool(event.is_base64_encoded))
    except BodyTooLargeError as error:
        return _refuse(413, error.code, error.message)
    except MalformedJsonError as error:
        return _refuse(400, error.code, error.message)
    # Card data is refused before anything else looks at the input, and never echoed.
    if contains_pan(raw) or contains_pan(key):
        return _refuse(400, "CARD_DATA_REFUSED", "card numbers are not accepted; send a payment method token instead")
    if not IDEMPOTENCY_KEY.fullmatch(key):
        return _refuse(
            400, "IDEMPOTENCY_KEY_INVALID", f"{IDEMPOTENCY_HEADER} header of 1-255 visible ASCII characters is required"
        )
    try:
        body = parse_json(raw)
    except MalformedJsonError as error:
        return _refuse(400, error.code, error.message)
    errors = sorted(validator(CREATE_PAYMENT_REQUEST).iter_errors(body), key=lambda e: list(map(str, e.path)))
    if errors:
        details = [{"field": "/".join(map(str, e.absolute_path)) or "$", "rule": str(e.validator)} for e in errors]
        return _refuse(400, "VALIDATION_FAILED", "body does not match the create-payment contract", details)
    if body.setdefault("merchant_id", merchant) != merchant:
        return _refuse(
            403,
            "MERCHANT_MISMATCH",
            "merchant_id is not the caller's merchant",
            [{"field": "merchant_id", "rule": "caller"}],
        )
    try:
        refuse_pan(body)
        Money.of(body["amount"], body["currency"], limit=rt.settings.max_payment_minor_units)
    except DomainError as error:
        status = 400 if error.code in ("CARD_DATA_REFUSED", "VALIDATION_FAILED") else 422
        return _refuse(status, error.code, error.message, [{"field": error.field or "$", "rule": error.code}])
    try:
        result = rt.create(request={"key": f"{_caller()}\x00{key}", "body": body})
    except (IdempotencyValidationError, KeyReused):
        return _refuse(422, "IDEMPOTENCY_KEY_REUSED", f"this {IDEMPOTENCY_HEADER} was used with a different body")
    except IdempotencyAlreadyInProgressError:
        return _refuse(409, "IDEMPOTENCY_IN_PROGRESS", f"a request with this {IDEMPOTENCY_HEADER} is in progress")
    except WorkflowNotStarted as failure:
        # The payment exists and stays PENDING; nothing is stored for the key, so a retry starts the workflow.
        logger.error("workflow start failed", extra={"error_code": failure.error_code, "failure_kind": failure.kind})
        emit_start_failure(rt.settings.environment, failure.kind)
        result = {"status": 202, "payment": failure.payment}
    payment = result["payment"]
    return json_response(result["status"], payment, headers={"Location": f"/payments/{payment['payment_id']}"})


@app.get("/payments/<payment_id>")
def get_payment(payment_id: str) -> Response[str]:
    rt = runtime()
    merchant = _merchant(rt)
    if merchant is None:
        return _unbound()
    payment = rt.store.get(payment_id) if PAYMENT_ID.fullmatch(payment_id) else None
    if payment is None or payment.merchant_id != merchant:
        # Another merchant's payment is answered exactly as an unknown id: its existence is not disclosed.
        return _refuse(404, "PAYMENT_NOT_FOUND", "no payment with this id")
    return json_response(200, payment.to_resource())


@app.not_found
def not_found(_: Exception) -> Response[str]:
    event = app.current_event
    path = event.path
    if ITEM_ROUTE.fullmatch(path) and event.http_method == "GET":
        # An id with characters the router does not take (control, odd bytes) names no payment.
        return _refuse(404, "PAYMENT_NOT_FOUND", "no payment with this id")
    if COLLECTION_ROUTE.fullmatch(path) or ITEM_ROUTE.fullmatch(path):
        return _refuse(405, "METHOD_NOT_ALLOWED", "method not allowed on this resource")
    return _refuse(404, "ROUTE_NOT_FOUND", "no such route")


def internal_error(error: Exception) -> Response[str]:
    """Anything the routes did not answer. A capacity error of a downstream call (DynamoDB, Step Functions or
    their KMS key throttled after the SDK's retries, a 5xx, a timeout: :func:`lambdas.shared.aws.capacity_error`,
    also behind a library's wrapper such as Powertools' persistence-layer error) is the contract's 503
    SERVICE_UNAVAILABLE with ``Retry-After`` (RFC 9110 10.2.3): a retry with the same Idempotency-Key is safe, the
    idempotency record having been released. Anything else is the contract's 500. The log names the error type,
    never request data."""
    if aws.capacity_error(error) is not None:
        logger.warning("downstream capacity error", extra={"error_type": type(error).__name__, "status_code": 503})
        return error_response(
            503,
            "SERVICE_UNAVAILABLE",
            "the service is busy; retry after the Retry-After delay",
            request_id=_request_id(),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    logger.exception("unhandled error", extra={"error_type": type(error).__name__})
    return error_response(500, "INTERNAL_ERROR", "internal error", request_id=_request_id())


# Registered without decorator syntax: Powertools types exception_handler's decorator loosely.
app.exception_handler(Exception)(internal_error)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = runtime()
    rt.idempotency.register_lambda_context(context)
    return app.resolve(event, context)
