"""pytest plugin for the mutation run only (``[tool.mutmut] pytest_add_cli_args``; `make mutation`).

Each mutant's verdict must not depend on luck or on earlier mutants: hypothesis draws from a seed
fixed per test (``derandomize``), keeps no example database (a failing example saved while one
mutant ran would otherwise be replayed against the next), and has no per-example deadline (mutated
code runs through mutmut's trampolines, and the machine is shared).

mutmut runs several pytest sessions in one process (stats, clean run, then forks one per mutant). A
logging handler made while an earlier session captured output still holds that session's capture
stream, closed since; each session starts by pointing such handlers at the current ``sys.stderr``.
"""

from __future__ import annotations

import logging
import sys

import pytest
from hypothesis import settings

settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
settings.load_profile("mutation")


def _closed_stream_handlers() -> list[logging.StreamHandler]:  # type: ignore[type-arg]
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    return [
        handler
        for logger in loggers
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False)
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    for handler in _closed_stream_handlers():
        handler.stream = sys.stderr


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the pure core before the ones on moto: mutmut stops at the first failure (-x)."""
    items.sort(key=lambda item: "aws" in getattr(item, "fixturenames", ()))
