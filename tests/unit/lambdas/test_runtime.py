"""Cold-start wiring: settings from the environment the stack sets, clients built on first use, redacted logs."""

# ruff: noqa: RUF001  (look-alike digits are the point of these tests)

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lambdas.api_handler import handler as api
from lambdas.batch_processor import handler as bp
from lambdas.payment_processor import handler as pp
from lambdas.shared import runtime
from lambdas.shared.pan import contains_pan, redact
from lambdas.shared.runtime import Settings
from lambdas.workflow_tasks import handler as wf

# botocore 1.35 (held by checkov) calls datetime.utcnow(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

ENV = {
    "PAYGATE_ENVIRONMENT": "dev",
    "PAYMENTS_TABLE": "paygate-dev-payments",
    "AUDIT_TABLE": "paygate-dev-audit-log",
    "MAX_PAYMENT_MINOR_UNITS": "5000",
    "IDEMPOTENCY_TABLE": "paygate-dev-idempotency",
    "CALLERS_TABLE": "paygate-dev-callers",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:x",
    "EVENTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:events",
    "BATCHES_TABLE": "paygate-dev-batches",
    "PAYMENT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/payments",
}


def test_settings_read_what_the_stack_sets() -> None:
    config = Settings.from_environ(ENV)
    assert (config.max_payment_minor_units, config.batches_table, config.velocity_per_hour) == (
        5000,
        "paygate-dev-batches",
        runtime.DEFAULT_VELOCITY_PER_HOUR,
    )
    assert config.screening.max_amount_minor == 5000


def test_screening_uses_its_own_threshold_below_the_hard_maximum() -> None:
    config = Settings.from_environ(ENV | {"SCREENING_MAX_MINOR_UNITS": "1200", "MERCHANT_VELOCITY_PER_HOUR": "7"})
    assert (config.screening.max_amount_minor, config.screening.max_payments_per_merchant_window) == (1200, 7)


def test_a_function_without_a_setting_it_needs_fails_at_cold_start() -> None:
    config = Settings.from_environ(
        {k: ENV[k] for k in ("PAYGATE_ENVIRONMENT", "PAYMENTS_TABLE", "AUDIT_TABLE")} | {"MAX_PAYMENT_MINOR_UNITS": "1"}
    )
    with pytest.raises(RuntimeError, match="IDEMPOTENCY_TABLE"):
        config.require("idempotency_table")


def test_every_handler_builds_its_runtime_once_from_the_environment(aws, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    runtime.settings.cache_clear()
    modules = (api, wf, pp, bp)
    for module in modules:
        module.runtime.cache_clear()
    try:
        for module in modules:
            assert module.runtime() is module.runtime()
            assert module.runtime().settings.payments_table == "paygate-dev-payments"
    finally:
        runtime.settings.cache_clear()
        for module in modules:
            module.runtime.cache_clear()


def test_log_lines_never_carry_a_card_number_but_keep_minted_ids(logs) -> None:
    runtime.logger.set_correlation_id("pay_" + "4111111111111111" * 2)
    runtime.logger.info("saw 4111 1111 1111 1111", extra={"n": 4111111111111111, "nested": {"k": ["5500005555555559"]}})
    record = json.loads(logs.getvalue().strip())
    assert record["message"] == "saw [REDACTED-PAN]"
    assert (record["n"], record["nested"]) == ("[REDACTED-PAN]", {"k": ["[REDACTED-PAN]"]})
    assert record["correlation_id"] == "pay_" + "4111111111111111" * 2  # a minted id is not a card number
    runtime.logger.set_correlation_id(None)


WRITTEN_FORMS = [
    "card 4111.1111.1111.1111",
    "card 4111  1111  1111  1111",
    "４１１１ １１１１ １１１１ １１１１",
    "٤١١١-١١١١-١١١١-١١١١",
    "4\u200b111 1111 1111 1111",
    "4111\n1111\n1111\n1111",
    'quote "4111 1111 1111 1111"',
    "3782 822463 10005",
    "⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹ and 5500-0055-5555-5559",
]


def ascii_formatter() -> runtime.RedactingFormatter:
    """The redacting formatter with a serializer that escapes non-ASCII (``\\uXXXX``), as some configure it."""
    return runtime.RedactingFormatter(json_serializer=partial(json.dumps, default=str, ensure_ascii=True))


def formatted(formatter: logging.Formatter, message: str, **extra: Any) -> str:
    record = logging.LogRecord("paygate", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return formatter.format(record)


@pytest.mark.parametrize("escaping", ["as-is", "ascii"])
@pytest.mark.parametrize("text", WRITTEN_FORMS)
def test_a_card_number_in_any_written_form_is_redacted_and_the_line_stays_json(text: str, escaping: str) -> None:
    formatter = ascii_formatter() if escaping == "ascii" else runtime.RedactingFormatter()
    line = formatted(formatter, text, field=text, **{"key " + text: 1})

    record = json.loads(line)
    assert record["message"] == record["field"] == redact(text) != text
    assert [k for k in record if k.startswith("key ")] == ["key " + redact(text)]
    assert not contains_pan(line), line
    assert not any(contains_pan(str(v)) for v in record.values())


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (4111111111111111, "[REDACTED-PAN]"),
        (4111111111111111.0, "[REDACTED-PAN]"),
        (Decimal("4111111111111111"), "[REDACTED-PAN]"),
        ([4111, 1111, 1111, 1111], ["[REDACTED-PAN]"] * 4),
        ({"a": [4111, 1111, 1111, 1111.0]}, {"a": ["[REDACTED-PAN]"] * 4}),
        (1.5, 1.5),
        (1_790_000_000_000, 1_790_000_000_000),
        ([2026, 11, 27], [2026, 11, 27]),
    ],
)
def test_numbers_that_read_as_a_card_number_become_the_marker(value: Any, shown: Any) -> None:
    for formatter in (runtime.RedactingFormatter(), ascii_formatter()):
        assert json.loads(formatted(formatter, "m", value=value))["value"] == shown


def test_objects_serialized_with_str_and_exceptions_are_redacted() -> None:
    class Card:
        def __str__(self) -> str:
            return "card 4111 1111 1111 1111"

    try:
        raise ValueError("bad card 4111-1111-1111-1111")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("paygate", logging.ERROR, __file__, 1, "failed", None, exc_info)
    record.__dict__["obj"] = Card()
    line = runtime.RedactingFormatter().format(record)
    parsed = json.loads(line)
    assert parsed["obj"] == "card [REDACTED-PAN]"
    assert "bad card [REDACTED-PAN]" in parsed["exception"]
    assert not contains_pan(line)


def test_identifiers_are_logged_as_they_are() -> None:
    key = "7b4852af-80a5-4ee4-9906-334941417c18"
    line = formatted(runtime.RedactingFormatter(), f"key {key}", at=1_790_000_000_123, ts="2026-11-27T12:00:00.000Z")
    assert json.loads(line)["message"] == f"key {key}"
    assert runtime.redact_log_line(line) == line


def powertools_message(text: str) -> Any:
    """The message as Powertools' formatter puts it into the record: a message that is JSON text is decoded
    (``LambdaPowertoolsFormatter._extract_log_message``), so ``'" 4111 … "'`` is logged as the string inside."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@given(
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    separator=st.sampled_from([" ", "  ", ".", "-", "\u00a0", "\t", "\u200b"]),
    ascii_only=st.booleans(),
)
@example(before='"', after='"', separator=" ", ascii_only=False)  # a message that is a JSON string literal
@example(before="[", after="]", separator=" ", ascii_only=True)
def test_the_log_line_holds_exactly_the_redacted_values(
    before: str, after: str, separator: str, ascii_only: bool
) -> None:
    text = f"{before} {separator.join(['4111', '1111', '1111', '1111'])} {after}"
    formatter = ascii_formatter() if ascii_only else runtime.RedactingFormatter()
    line = formatted(formatter, text, other=before)
    record = json.loads(line)
    assert record["message"] == runtime.redact_log_value(powertools_message(text))
    assert not contains_pan(line), line
    assert record["other"] == redact(before)
    assert not contains_pan(record["message"])


def test_the_logger_does_not_propagate_to_the_root_handler() -> None:
    import logging

    assert logging.getLogger(runtime.logger.name).propagate is False


def test_settings_read_every_name_the_stack_sets() -> None:
    config = Settings.from_environ(ENV | {"SCREENING_MAX_MINOR_UNITS": "1200", "MERCHANT_VELOCITY_PER_HOUR": "7"})
    assert config == Settings(
        environment="dev",
        payments_table="paygate-dev-payments",
        audit_table="paygate-dev-audit-log",
        max_payment_minor_units=5000,
        idempotency_table="paygate-dev-idempotency",
        callers_table="paygate-dev-callers",
        state_machine_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:x",
        events_topic_arn="arn:aws:sns:eu-west-1:123456789012:events",
        batches_table="paygate-dev-batches",
        payment_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/payments",
        velocity_per_hour=7,
        screening_max_minor_units=1200,
    )


class Collecting(logging.Handler):
    """A handler keeping the messages of the records it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_made_logger_redacts_and_does_not_propagate_to_a_root_handler() -> None:
    """A root handler writes records unredacted: it must get none, also one added after the logger was made
    (Powertools filters only the root handlers that exist when it configures a logger; a library calling
    logging.basicConfig later adds another)."""
    # A service name of its own: Powertools configures a logger once per name, and a name made earlier in this
    # process would keep its first formatter and propagate flag whatever make_logger does now.
    service = f"paygate-test-logger-{uuid.uuid4().hex}"
    stream, root = io.StringIO(), Collecting()
    made = runtime.make_logger(service=service, logger_handler=logging.StreamHandler(stream))
    logging.getLogger().addHandler(root)
    try:
        made.info("card 4111 1111 1111 1111")
    finally:
        logging.getLogger().removeHandler(root)
    assert made.service == service
    assert json.loads(stream.getvalue())["message"] == "card [REDACTED-PAN]"
    assert root.messages == []
    assert logging.getLogger(service).propagate is False
