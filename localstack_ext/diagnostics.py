"""Diagnostics for a running host-mode LocalStack: thread dumps on demand, DEBUG logs for chosen loggers.

- ``kill -USR2 <pid>`` writes every thread's stack into its log. A stuck LocalStack (an event source mapping
  that stops polling, an invocation that never returns) leaves nothing in an INFO log; ``faulthandler``
  dumps all threads from its signal handler, even while the interpreter is blocked, into ``stderr`` (the
  instance's ``localstack.log``). ``pipeline/localstack/instance.py`` (``dump_threads``) sends the signal; the e2e
  run does so when a test fails, before tearing down.
- ``PAYGATE_LOCALSTACK_DEBUG_LOGGERS=name,name`` (passed on by ``pipeline/localstack/instance.py``) sets those
  loggers to DEBUG, e.g. ``localstack.services.lambda_.event_source_mapping``: LocalStack's own
  ``LS_LOG=debug`` is all or nothing, and all is hundreds of lines per request.

Registered as the hook ``paygate_diagnostics`` in ``localstack.hooks.on_infra_start``.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys

from localstack.runtime import hooks

DUMP_SIGNAL = signal.SIGUSR2
DEBUG_LOGGERS_ENV = "PAYGATE_LOCALSTACK_DEBUG_LOGGERS"


@hooks.on_infra_start()
def paygate_diagnostics() -> None:
    faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True)
    names = [part.strip() for part in os.environ.get(DEBUG_LOGGERS_ENV, "").split(",") if part.strip()]
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    if names:  # LocalStack's handler filters at its own level too; other loggers stay at theirs
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.DEBUG)
