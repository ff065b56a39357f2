"""Thread dumps from a running host-mode LocalStack: ``kill -USR2 <pid>`` writes every thread's stack to its log.

A stuck LocalStack (an event source mapping that stops polling, an invocation that never returns) leaves
nothing in an INFO log. ``faulthandler`` dumps all threads from its signal handler, even while the
interpreter is blocked, into ``stderr``: the instance's ``localstack.log``. ``pipeline/localstack.py``
(``dump_threads``) sends the signal; the e2e run does so when a test fails, before tearing down.

Registered as the hook ``paygate_thread_dumps`` in ``localstack.hooks.on_infra_start``.
"""

from __future__ import annotations

import faulthandler
import signal
import sys

from localstack.runtime import hooks

DUMP_SIGNAL = signal.SIGUSR2


@hooks.on_infra_start()
def paygate_thread_dumps() -> None:
    faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True)
