"""Cold-start wiring shared by the handlers: settings, clients, clock and ids, built once on first use."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from lambdas.shared.pan import redact
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
    state_machine_arn: str | None = None
    events_topic_arn: str | None = None
    batches_table: str | None = None
    payment_queue_url: str | None = None
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
            state_machine_arn=e.get("STATE_MACHINE_ARN"),
            events_topic_arn=e.get("EVENTS_TOPIC_ARN"),
            batches_table=e.get("BATCHES_TABLE"),
            payment_queue_url=e.get("PAYMENT_QUEUE_URL"),
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


# Ids the platform or AWS mints; hex digests may hold long digit runs that are not card numbers.
_MINTED_ID = re.compile(
    r"\b(?:pay|bat)_[a-f0-9]{32}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def redact_log_line(line: str) -> str:
    """``line`` with card numbers replaced everywhere except inside minted ids."""
    out, last = [], 0
    for match in _MINTED_ID.finditer(line):
        out += [redact(line[last : match.start()]), match.group()]
        last = match.end()
    out.append(redact(line[last:]))
    return "".join(out)


def _numbers_as_text(value: Any) -> Any:
    """Long integers become strings, so the line-level redaction keeps the JSON valid."""
    if isinstance(value, dict):
        return {k: _numbers_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers_as_text(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return str(value)
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """JSON log lines with any card number replaced, whatever field it slipped into (minted ids kept)."""

    def serialize(self, log: Any) -> str:
        return super().serialize(_numbers_as_text(log))

    def format(self, record: logging.LogRecord) -> str:
        return redact_log_line(super().format(record))


def make_logger(**kwargs: Any) -> Logger:
    """The structured logger; it does not propagate, so the Lambda runtime's root handler never
    writes an unredacted copy of a record."""
    made = Logger(logger_formatter=RedactingFormatter(), **kwargs)
    logging.getLogger(made.name).propagate = False
    return made


logger = make_logger()
