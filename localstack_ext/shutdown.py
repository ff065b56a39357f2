"""A host-mode LocalStack exits within a second or two of SIGTERM, not after the 20 s grace and a SIGKILL.

Three emulator-side causes of a slow or stuck exit, found with thread dumps (``kill -USR2``, diagnostics.py) and
measured on this machine (``kill -TERM`` to process exit):

- **Threads waiting on the stopped gateway.** SQS publishes its CloudWatch metrics from a thread pool, as
  requests to LocalStack's own gateway. A request still in flight when the gateway stops never gets an answer (no
  read timeout shorter than botocore's 60 s), and the interpreter's exit joins those threads first
  (``threading._shutdown`` -> ``concurrent.futures.thread._python_exit``). An instance stopped within a few seconds
  of an SQS call hung every time: ``test_real_localstack_logs_only_the_chosen_loggers_at_debug`` took 24 s, 20 of
  them the grace before SIGKILL. Once the runtime has stopped (its server loop returned, its shutdown hooks ran),
  the process now exits after :data:`EXIT_GRACE_S` whatever still waits, naming those threads in the log.
- **A lost wake-up.** LocalStack 2026.3's ``HypercornRuntimeServer.shutdown`` ends with ``loop.stop()`` from the
  ``Runtime-Shutdown`` thread, which only sets a flag. When the loop has handled the shutdown's earlier
  thread-safe calls before the flag is set, it sleeps in ``select()`` with nothing to wake it (seen on an instance
  stopped right after it became ready). The same thread pokes the loop (a thread-safe no-op every
  :data:`POKE_INTERVAL_S`) until the runtime has stopped.
- **The final garbage collection.** At exit CPython collects every object still alive (moto's backends,
  botocore's models, ...): 2.5-3.5 s of the 3.7-5.1 s an idle instance took to exit, more after an e2e run.
  :func:`paygate_quick_exit` freezes the heap at exit (``gc.freeze``: frozen objects are not traversed); an idle
  instance then exits in 1.3-2.1 s.

Nothing is lost: in host mode nothing is saved at exit (the run directory is removed after the process is gone),
and log records are written as they are emitted. Registered as hooks in ``localstack.hooks.on_infra_start`` and
``localstack.hooks.on_infra_shutdown``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import os
import sys
import threading
from typing import Any

from localstack.runtime import hooks
from localstack.runtime.current import get_current_runtime

LOG = logging.getLogger(__name__)
POKE_INTERVAL_S = 0.1
EXIT_GRACE_S = 1.0
LAST = -1_000_000  # below every LocalStack shutdown hook's priority: runs after the services have stopped


@hooks.on_infra_start()
def paygate_quick_exit() -> None:
    atexit.register(gc.freeze)


@hooks.on_infra_shutdown(priority=LAST)
def paygate_exit_watchdog() -> None:
    runtime = get_current_runtime()
    loop = getattr(runtime.components.runtime_server, "loop", None)
    threading.Thread(target=watch, args=(runtime, loop), name="paygate-exit-watchdog", daemon=True).start()


def poke_until(loop: asyncio.AbstractEventLoop | None, stopped: threading.Event) -> int:
    """Wake ``loop`` every :data:`POKE_INTERVAL_S` until ``stopped`` is set; returns the number of pokes.

    Pokes end early when the loop is closed (its thread has left ``run_forever``) or is not an asyncio loop.
    """
    pokes = 0
    while not stopped.wait(POKE_INTERVAL_S):
        if not isinstance(loop, asyncio.AbstractEventLoop):
            continue
        try:
            loop.call_soon_threadsafe(lambda: None)
        except RuntimeError:  # closed
            loop = None
            continue
        pokes += 1
    return pokes


def waiting_threads() -> list[str]:
    """Names of the live non-daemon threads other than the main one: what the interpreter's exit would join."""
    main = threading.main_thread()
    return sorted(t.name for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive())


def watch(runtime: Any, loop: asyncio.AbstractEventLoop | None) -> None:
    poke_until(loop, runtime.stopped)
    # The main thread now returns from LocalStack's main and exits; if it is still here after the grace, it waits.
    threading.Event().wait(EXIT_GRACE_S)
    LOG.warning(
        "paygate: LocalStack stopped %.1f s ago but its process is still here (threads still waiting: %s); exiting",
        EXIT_GRACE_S,
        ", ".join(waiting_threads()) or "none",
    )
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(getattr(runtime, "exit_code", 0) or 0)
