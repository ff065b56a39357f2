"""Cold-start wiring shared by the handlers: logger and settings read once, never at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from aws_lambda_powertools import Logger


@dataclass(frozen=True)
class Settings:
    """Environment of a function, as the stack sets it."""

    environment: str
    payments_table: str
    audit_table: str

    @classmethod
    def from_environ(cls) -> Settings:
        return cls(
            environment=os.environ["PAYGATE_ENVIRONMENT"],
            payments_table=os.environ["PAYMENTS_TABLE"],
            audit_table=os.environ["AUDIT_TABLE"],
        )


@cache
def settings() -> Settings:
    return Settings.from_environ()


logger = Logger()
