"""pytest plugin for the mutation run only (``[tool.mutmut] pytest_add_cli_args``; `make mutation`).

Each mutant's verdict must not depend on luck or on earlier mutants: hypothesis draws from a seed
fixed per test (``derandomize``), keeps no example database (a failing example saved while one
mutant ran would otherwise be replayed against the next), and has no per-example deadline (mutated
code runs through mutmut's trampolines, and the machine is shared).

mutmut runs several pytest sessions in one process (stats, clean run, then forks one per mutant). A
logging handler made while an earlier session captured output still holds that session's capture
stream, closed since; each session starts by pointing such handlers at the current ``sys.stderr``.
And a ``functools.cache`` filled by an earlier session would answer a mutant's tests from the
original code (the fork inherits it), so each session starts with the project's caches emptied.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

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


PROJECT_PACKAGES = ("lambdas", "policies", "pipeline", "contracts")


def _project_caches() -> list[Any]:
    """The ``functools.cache``/``lru_cache`` wrappers at module level in the project's packages."""
    modules = [m for name, m in list(sys.modules.items()) if name.split(".")[0] in PROJECT_PACKAGES and m]
    return [v for m in modules for v in vars(m).values() if callable(getattr(v, "cache_clear", None))]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    for handler in _closed_stream_handlers():
        handler.stream = sys.stderr
    for cached in _project_caches():
        cached.cache_clear()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the pure core before the ones on moto: mutmut stops at the first failure (-x)."""
    items.sort(key=lambda item: "aws" in getattr(item, "fixturenames", ()))
