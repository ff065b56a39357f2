"""Cold-start wiring shared by the handlers: settings, clients, clock and ids, built once on first use."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from lambdas.shared.pan import REDACTED, number_holds_pan, pan_spans, redact
from lambdas.shared.screening import ScreeningRules

DEFAULT_VELOCITY_PER_HOUR = 1000


@dataclass(frozen=True)
class Settings:
    """Environment of a function, as the stack sets it (names a function does not get are None)."""

    environment: str
    payments_table: str
    audit_table: str
    max_payment_minor_units: int
    idempotency_table: str | None = None
    callers_table: str | None = None
    state_machine_arn: str | None = None
    events_topic_arn: str | None = None
    batches_table: str | None = None
    payment_queue_url: str | None = None
    batch_function_name: str | None = None
    velocity_per_hour: int = DEFAULT_VELOCITY_PER_HOUR
    # Screening declines above this (a risk threshold below the hard maximum); None: the hard maximum.
    screening_max_minor_units: int | None = None

    @classmethod
    def from_environ(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        return cls(
            environment=e["PAYGATE_ENVIRONMENT"],
            payments_table=e["PAYMENTS_TABLE"],
            audit_table=e["AUDIT_TABLE"],
            max_payment_minor_units=int(e["MAX_PAYMENT_MINOR_UNITS"]),
            idempotency_table=e.get("IDEMPOTENCY_TABLE"),
            callers_table=e.get("CALLERS_TABLE"),
            state_machine_arn=e.get("STATE_MACHINE_ARN"),
            events_topic_arn=e.get("EVENTS_TOPIC_ARN"),
            batches_table=e.get("BATCHES_TABLE"),
            payment_queue_url=e.get("PAYMENT_QUEUE_URL"),
            batch_function_name=e.get("BATCH_FUNCTION_NAME"),
            velocity_per_hour=int(e.get("MERCHANT_VELOCITY_PER_HOUR", DEFAULT_VELOCITY_PER_HOUR)),
            screening_max_minor_units=int(e["SCREENING_MAX_MINOR_UNITS"])
            if e.get("SCREENING_MAX_MINOR_UNITS")
            else None,
        )

    def require(self, name: str) -> str:
        """A setting this function cannot run without."""
        value = getattr(self, name)
        if not value:
            raise RuntimeError(f"{name.upper()} is not set for this function")
        return str(value)

    @property
    def screening(self) -> ScreeningRules:
        return ScreeningRules(
            max_amount_minor=self.screening_max_minor_units or self.max_payment_minor_units,
            max_payments_per_merchant_window=self.velocity_per_hour,
        )


@cache
def settings() -> Settings:
    return Settings.from_environ()


@dataclass(frozen=True)
class Clock:
    """Injected time: the core never reads the clock (ids derive from request data, never from uuids)."""

    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000


# A JSON string literal or number token of a serialized log line.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?')
_REDACTED_JSON = json.dumps(REDACTED)


def redact_log_line(line: str) -> str:
    """``line`` (a serialized JSON log line) with every card number the detector finds in it replaced.

    The JSON stays valid: inside a string literal the number's written form (escapes included)
    becomes ``[REDACTED-PAN]``; a number written as JSON numbers (``4111111111111111``,
    ``4111111111111111.0``, ``[4111,1111,1111,1111]``) has each number token it touches replaced by
    the string ``"[REDACTED-PAN]"``. Text outside any token (not JSON) is replaced as is.
    """
    spans = pan_spans(line)
    if not spans:
        return line
    edits: list[tuple[int, int, str]] = []
    outside = list(spans)
    for token in _JSON_TOKEN.finditer(line):
        a, b = token.span()
        touching = [(s, e) for s, e in spans if s < b and e > a]
        if not touching:
            continue
        outside = [span for span in outside if span not in touching]
        if line[a] == '"':
            edits += [(max(s, a + 1), min(e, b - 1), REDACTED) for s, e in touching]
        else:
            edits.append((a, b, _REDACTED_JSON))
    edits += [(s, e, REDACTED) for s, e in outside]
    out, last = [], 0
    for start, end, replacement in sorted(set(edits)):
        out += [line[last:start], replacement]
        last = end
    out.append(line[last:])
    return "".join(out)


def redact_log_value(value: Any) -> Any:
    """A log record's value with card numbers redacted in every string, key and number (numbers become the marker)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return REDACTED if number_holds_pan(value) else value
    if isinstance(value, dict):
        return {(redact(k) if isinstance(k, str) else k): redact_log_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_log_value(v) for v in value]
    return value  # anything else is serialized with str() and seen by redact_log_line


class RedactingFormatter(LambdaPowertoolsFormatter):
    """JSON log lines without card numbers, however written, whatever field they slipped into.

    Two passes with the one detector: every value of the record before serialization (strings, keys,
    numbers), then the serialized line (numbers spread over several JSON tokens, objects serialized
    with ``str()``, escapes the serializer wrote: Powertools writes non-ASCII as is by default,
    ``ensure_ascii=True`` serializers as ``\\uXXXX``).
    """

    def serialize(self, log: Any) -> str:
        return super().serialize(redact_log_value(log))

    def format(self, record: logging.LogRecord) -> str:
        return redact_log_line(super().format(record))


def make_logger(**kwargs: Any) -> Logger:
    """The structured logger; it does not propagate, so the Lambda runtime's root handler never
    writes an unredacted copy of a record."""
    made = Logger(logger_formatter=RedactingFormatter(), **kwargs)
    logging.getLogger(made.name).propagate = False
    return made


logger = make_logger()
