"""Domain errors: each carries a stable code (the error contract's enum) and a message that never echoes input."""

from __future__ import annotations


class DomainError(ValueError):
    """A refusal of the core; ``code`` is stable, ``message`` is safe to return and to log."""

    code = "VALIDATION_FAILED"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class CardDataError(DomainError):
    """A card number (in any written form; lambdas.shared.pan) was found in the input."""

    code = "CARD_DATA_REFUSED"


class MalformedJsonError(DomainError):
    """A request body that is not I-JSON (RFC 7493) within the platform's bounds (lambdas/shared/http.py)."""

    code = "MALFORMED_JSON"


class BodyTooLargeError(DomainError):
    """A request body above the size bound (answered 413)."""


class MoneyError(DomainError):
    """An amount or currency the platform does not accept."""


class TransitionError(DomainError):
    """A payment state change that the state machine does not declare."""

    code = "ILLEGAL_TRANSITION"
