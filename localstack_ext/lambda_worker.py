"""The process that runs one Lambda execution environment's Python handler (``lambda_executor.py`` spawns it).

Runs under a Python 3.12 interpreter (the function's runtime), never under LocalStack's, so it uses the
standard library only and never imports ``localstack``. Its working directory and ``sys.path[0]`` are the
function's unzipped code; its environment is the one LocalStack built for the function.

Protocol with the executor: two pipes whose fd numbers arrive in ``PAYGATE_WORKER_FDS`` ("<read>,<write>"),
newline-delimited JSON. The worker imports the handler named by ``_HANDLER`` and answers
``{"type": "ready", ...}``; then for each request (``invoke-id``, ``invoked-function-arn``, ``payload``,
``trace-id``) it calls the handler and answers ``{"type": "result", "ok": ..., "payload": ...}``. Its
stdout and stderr (one pipe) are the function's logs; after the init phase and after each invocation it
prints the line ``<PAYGATE_WORKER_MARKER> <request id>`` so the executor knows it has every log line of it.
Errors are shaped as AWS's Python runtime shapes them (``Runtime.ImportModuleError``,
``Runtime.HandlerNotFound``, ``Runtime.MarshalError``, unhandled exceptions with ``stackTrace``).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

INIT_ID = "init"
PARENT_POLL_SECONDS = 0.5


class LambdaContext:
    """The attributes of AWS's ``LambdaContext`` (``awslambdaric``) that handlers read."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r})"


def error(error_type: str, message: str, request_id: str = "", stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "requestId": request_id, "stackTrace": stack or []}


def log_error(failure: dict[str, Any], tb: Any = None) -> None:
    """Print an error to the logs as AWS's runtime does: ``[ERROR] <Type>: <message>`` and the traceback."""
    lines = [f"[ERROR] {failure['errorType']}: {failure['errorMessage']}", "Traceback (most recent call last):"]
    if tb is not None:
        lines.extend(frame.rstrip("\n") for frame in traceback.format_list(traceback.extract_tb(tb)))
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def load_handler(spec: str) -> tuple[Callable[..., Any] | None, dict[str, Any] | None]:
    """Import ``module.path.function`` from ``_HANDLER``: the handler, or the AWS-shaped init error."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError:
        failure = error("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
        log_error(failure)
        return None, failure
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # what AWS reports for any exception at import time
        failure = error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
        log_error(failure, exc.__traceback__)
        return None, failure
    handler = getattr(module, function_name, None)
    if handler is None:
        failure = error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
        log_error(failure)
        return None, failure
    return handler, None


def max_rss_mb() -> int:
    """Peak resident memory of this worker (the REPORT line's Max Memory Used).

    VmHWM, not ``ru_maxrss``: the latter keeps the high-water mark from before ``exec``, i.e. that of the
    LocalStack process this worker was forked from (~900 MB).
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return max(int(line.split()[1]) // 1024, 1)
    except OSError:
        pass
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, 1)


def invoke(handler: Callable[..., Any], request: dict[str, Any]) -> tuple[bool, str]:
    """Run the handler for one request: (succeeded, JSON payload of the result or the error)."""
    request_id = str(request.get("invoke-id", ""))
    os.environ["_X_AMZN_TRACE_ID"] = str(request.get("trace-id") or "")
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    started_ms = int(time.time() * 1000)
    arn = str(request.get("invoked-function-arn", ""))
    context = LambdaContext(request_id, arn, started_ms + int(timeout_s * 1000))
    try:
        event = json.loads(request.get("payload") or "null")
        result = handler(event, context)
    except Exception as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this frame, as AWS drops its own
        stack = [frame.rstrip("\n") for frame in traceback.format_list(traceback.extract_tb(tb))]
        failure = error(type(exc).__name__, str(exc), request_id, stack)
        log_error(failure, tb)
        return False, json.dumps(failure)
    try:
        return True, json.dumps(result)
    except (TypeError, ValueError, OverflowError) as exc:
        failure = error("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)
        log_error(failure)
        return False, json.dumps(failure)


def watch_parent(parent: int) -> None:
    """Exit when the executor's process (LocalStack) is gone, even while a handler is still running."""
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def end_marker(stdout: TextIO, marker: str, request_id: str) -> None:
    stdout.flush()
    sys.stderr.flush()
    stdout.write(f"{marker} {request_id}\n")
    stdout.flush()


def main() -> int:
    read_fd, write_fd = (int(fd) for fd in os.environ.pop("PAYGATE_WORKER_FDS").split(","))
    marker = os.environ.pop("PAYGATE_WORKER_MARKER")
    for fd in (read_fd, write_fd):
        os.set_inheritable(fd, False)  # the handler's own child processes must not hold the protocol pipes
    # sys.path[0] is this file's folder (the project's localstack_ext): the function's code comes first instead.
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or str(Path.cwd())
    sys.path[0] = task_root
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    requests = os.fdopen(read_fd, "r", encoding="utf-8")
    responses = os.fdopen(write_fd, "w", encoding="utf-8")
    stdout = sys.stdout

    def answer(message: dict[str, Any]) -> None:
        responses.write(json.dumps(message) + "\n")
        responses.flush()

    started = time.perf_counter()
    handler, init_error = load_handler(os.environ.get("_HANDLER", ""))
    init_ms = (time.perf_counter() - started) * 1000
    end_marker(stdout, marker, INIT_ID)
    answer({"type": "ready", "init_ms": init_ms, "max_memory_mb": max_rss_mb()})
    for line in requests:
        request = json.loads(line)
        if init_error is not None or handler is None:
            failure = dict(init_error or error("Runtime.Unknown", "no handler"))
            log_error(failure)
            ok, payload = False, json.dumps(failure)
        else:
            ok, payload = invoke(handler, request)
        end_marker(stdout, marker, str(request.get("invoke-id", "")))
        answer({"type": "result", "ok": ok, "payload": payload, "max_memory_mb": max_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
