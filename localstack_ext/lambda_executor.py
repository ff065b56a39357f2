"""Lambda for host-mode LocalStack: python3.12 functions run as local worker processes (no Docker).

LocalStack's own runtime executor starts one Docker container per execution environment and downloads its
runtime-init binary: neither is possible here. This executor starts, per execution environment, one
``lambda_worker.py`` process under a Python 3.12 interpreter (``PAYGATE_LAMBDA_PYTHON``), in its own process
group, with the function's unzipped code as working directory and ``PYTHONPATH``, and with only the
environment LocalStack built for the function (plus ``PATH``, ``LANG``, ``HOME``): nothing else of the host
leaks in. Requests and responses travel as JSON lines over two pipes; the worker's merged stdout/stderr are
the function's logs, returned with each result (LocalStack stores them into CloudWatch Logs) framed by
``START``/``END``/``REPORT`` lines like AWS's.

The executor enforces the function timeout itself (``Sandbox.Timedout``), reports a worker that dies as
``Runtime.ExitError``, and after either respawns the worker on the next invoke (a cold start, as AWS resets
the sandbox). Only ``python3.12`` is accepted: ``prepare_version`` refuses other runtimes.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=paygate-local``; registered as the entry point ``paygate-local`` in
the plux namespace ``localstack.lambda.runtime_executor`` (the value is the plugin class; plux takes the
name from it).

Not covered: layers, container-image functions, extensions, response streaming, SnapStart, more than one
invocation at a time per environment (LocalStack never sends that), memory limits (reported, not enforced).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from localstack import config

LOG = logging.getLogger(__name__)

EXECUTOR_NAME = "paygate-local"
PYTHON_ENV = "PAYGATE_LAMBDA_PYTHON"
SUPPORTED_RUNTIMES = ("python3.12",)
WORKER = Path(__file__).with_name("lambda_worker.py")
HOST = "127.0.0.1"
INIT_ID = "init"  # the worker's end marker for its init phase (see lambda_worker.py)
MARKER_WAIT_SECONDS = 2.0  # for the last log lines of an invocation, after its response
STOP_GRACE_SECONDS = 2.0
LOG_LINES_KEPT = 10_000  # a warm worker's log buffer after each invocation (for get_logs); its own lines go whole
HISTORY_KEPT = 5  # logs of an environment's earlier workers (timed out, crashed) kept for get_logs


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = EXECUTOR_NAME

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return LocalProcessRuntimeExecutor


def lambda_python() -> Path:
    """The python3.12 interpreter the workers run under, or a LambdaRuntimeException saying what is wrong."""
    value = os.environ.get(PYTHON_ENV, "")
    if not value:
        raise LambdaRuntimeException(
            f"{PYTHON_ENV} is not set: LocalStack needs the path of a python3.12 interpreter to run Lambda "
            f"functions with LAMBDA_RUNTIME_EXECUTOR={EXECUTOR_NAME}"
        )
    if not os.access(value, os.X_OK):
        raise LambdaRuntimeException(f"{PYTHON_ENV}={value} is not an executable python3.12 interpreter")
    return Path(value)


def exit_reason(returncode: int | None) -> str:
    """How Go's ``ExitError`` (AWS's runtime API) words a process exit: ``exit status 3``, ``signal: killed``."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


class Worker:
    """One running ``lambda_worker.py`` process: its pipes, its reader threads and its log buffer."""

    def __init__(self, python: Path, code_dir: Path, env: dict[str, str]) -> None:
        self.marker = f"__paygate_end_{secrets.token_hex(8)}__"
        self.lines: list[str] = []
        self.dropped = 0  # lines trimmed from the front of ``lines``: indexes count from the worker's start
        self.markers: set[str] = set()
        self.changed = threading.Condition()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        request_read, self.request_write = os.pipe()
        self.response_read, response_write = os.pipe()
        env = {**env, "PAYGATE_WORKER_FDS": f"{request_read},{response_write}", "PAYGATE_WORKER_MARKER": self.marker}
        try:
            self.process = subprocess.Popen(
                [str(python), "-u", "-s", str(WORKER)],
                cwd=code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, response_write),
                start_new_session=True,
            )
        except BaseException:
            for fd in (request_read, response_write, self.request_write, self.response_read):
                os.close(fd)
            raise
        os.close(request_read)
        os.close(response_write)
        self.requests: IO[bytes] = os.fdopen(self.request_write, "wb", buffering=0)
        self.readers = [
            threading.Thread(target=self._read_logs, name=f"lambda-logs-{self.process.pid}", daemon=True),
            threading.Thread(target=self._read_responses, name=f"lambda-responses-{self.process.pid}", daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_logs(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            at = line.find(self.marker)
            with self.changed:
                if at < 0:
                    self.lines.append(line)
                else:  # a handler's output without a final newline sits before the marker
                    if line[:at]:
                        self.lines.append(line[:at])
                    self.markers.add(line[at + len(self.marker) :].strip())
                self.changed.notify_all()

    def _read_responses(self) -> None:
        with os.fdopen(self.response_read, "rb") as responses:
            for raw in responses:
                try:
                    self.messages.put(json.loads(raw))
                except ValueError:
                    LOG.warning("Invalid message from Lambda worker %s: %r", self.process.pid, raw[:200])
        self.messages.put(None)

    def send(self, request: dict[str, str]) -> None:
        self.requests.write(json.dumps(request).encode() + b"\n")

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message; None when the worker closed its pipe (exited); raises queue.Empty on timeout."""
        return self.messages.get(timeout=max(timeout, 0.0))

    def log_count(self) -> int:
        with self.changed:
            return self.dropped + len(self.lines)

    def logs_since(self, start: int, marker_id: str | None) -> list[str]:
        """Log lines from index ``start``, after waiting (briefly) for the end marker ``marker_id``.

        Then the buffer keeps only its last ``LOG_LINES_KEPT`` lines: a warm worker lives for many
        invocations, and each has had its lines by now.
        """
        with self.changed:
            if marker_id is not None:
                self.changed.wait_for(lambda: marker_id in self.markers, timeout=MARKER_WAIT_SECONDS)
                self.markers.discard(marker_id)
            since = self.lines[max(start - self.dropped, 0) :]
            if len(self.lines) > LOG_LINES_KEPT:
                trimmed = len(self.lines) - LOG_LINES_KEPT
                del self.lines[:trimmed]
                self.dropped += trimmed
            return since

    def all_logs(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def kill(self, grace: float) -> None:
        """End the worker's whole process group (SIGTERM, SIGKILL after ``grace`` s), close pipes, join readers."""
        pgid = self.process.pid  # start_new_session: the worker leads its own group
        if grace > 0 and self.process.poll() is None:
            self._signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        self._signal_group(pgid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            LOG.warning("Lambda worker %s did not exit after SIGKILL", pgid)
        with contextlib.suppress(OSError):
            self.requests.close()
        for reader in self.readers:
            reader.join(timeout=2)
        if self.process.stdout is not None:
            self.process.stdout.close()

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """One execution environment = one worker process (respawned after a timeout or a crash)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._env: dict[str, str] = {}
        self._worker: Worker | None = None
        # logs of the workers this environment has had before the current one (the last HISTORY_KEPT)
        self._history: collections.deque[str] = collections.deque(maxlen=HISTORY_KEPT)
        self._invoke_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stopped = False
        self._init_logs: list[str] = []
        self._init_ms: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        code_dir = self._code_dir()
        home = self._home()
        home.mkdir(parents=True, exist_ok=True)
        self._env = {key: str(value) for key, value in env_vars.items()}
        self._env.update(
            {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "LAMBDA_TASK_ROOT": str(code_dir),
                "PYTHONPATH": str(code_dir),
                "HOME": str(home),
            }
        )
        self._spawn()

    def _home(self) -> Path:
        return Path(tempfile.gettempdir()) / "lambda-home" / self.id

    def _code_dir(self) -> Path:
        code = self.function_version.config.code
        if code is None:
            raise LambdaRuntimeException(f"Function {self.function_version.qualified_arn} has no code archive")
        return Path(code.get_unzipped_code_location())

    def _spawn(self) -> None:
        """Start a worker and wait until it has imported the handler (or failed to: it still reports ready)."""
        with self._state_lock:
            if self._stopped:
                raise LambdaRuntimeException(f"Execution environment {self.id} is stopped")
            worker = Worker(lambda_python(), self._code_dir(), self._env)
            self._worker = worker
        started = time.perf_counter()
        try:
            message = worker.receive(timeout=config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        except queue.Empty:
            message = None
        if message is None or message.get("type") != "ready":
            self._retire(worker, grace=0)
            raise LambdaRuntimeException(
                f"Lambda worker for {self.function_version.qualified_arn} did not start "
                f"({exit_reason(worker.process.returncode)}): {worker.all_logs()[-2000:]}"
            )
        self._init_logs = worker.logs_since(0, INIT_ID)
        self._init_ms = float(message.get("init_ms") or (time.perf_counter() - started) * 1000)
        LOG.debug("Lambda worker %s for %s ready", worker.process.pid, self.function_version.qualified_arn)

    def _retire(self, worker: Worker, grace: float) -> None:
        worker.kill(grace)
        with self._state_lock:
            if self._worker is worker:  # else stop() has already retired it
                self._history.append(worker.all_logs())
                self._worker = None

    def stop(self) -> None:
        with self._state_lock:
            self._stopped = True
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill(STOP_GRACE_SECONDS)
            with self._state_lock:
                self._history.append(worker.all_logs())
        shutil.rmtree(self._home(), ignore_errors=True)

    # --- addresses ---------------------------------------------------------------------------------------

    def get_address(self) -> str:
        return HOST

    def get_endpoint_from_executor(self) -> str:
        return HOST

    def get_runtime_endpoint(self) -> str:
        return f"http://{HOST}:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    # --- invocations -------------------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = str(payload.get("invoke-id", ""))
        with self._invoke_lock:
            try:
                return self._invoke(request_id, payload)
            except Exception as exc:  # an environment failure must not escape as a LocalStack error
                LOG.exception("Lambda invoke %s failed in the executor", request_id)
                body = {"errorType": "Runtime.Unknown", "errorMessage": f"RequestId: {request_id} Error: {exc}"}
                return InvocationResult(request_id, json.dumps(body).encode(), True, f"{body['errorMessage']}\n")

    def _invoke(self, request_id: str, payload: dict[str, str]) -> InvocationResult:
        if self._worker is None:  # after a timeout or a crash: a fresh sandbox
            self._spawn()
        worker = self._worker
        assert worker is not None
        init_ms, self._init_ms = self._init_ms, None
        init_logs, self._init_logs = self._init_logs, []
        timeout = float(self.function_version.config.timeout)
        start = worker.log_count()
        began = time.perf_counter()
        try:
            worker.send(payload)
            message = worker.receive(timeout=timeout)
        except queue.Empty:
            message = {"type": "timeout"}
        except OSError:  # the worker is gone (broken pipe)
            message = None
        duration_ms = (time.perf_counter() - began) * 1000
        if message is not None and message.get("type") == "result":
            lines = worker.logs_since(start, request_id)
            body = str(message.get("payload", "null")).encode()
            is_error = not message.get("ok")
            status = ""
            memory = int(message.get("max_memory_mb") or 0)
        elif message is not None and message.get("type") == "timeout":
            self._retire(worker, grace=0)
            lines = worker.logs_since(start, None)
            text = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            lines.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}")
            body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": text}).encode()
            is_error, status, memory = True, "timeout", 0
        else:
            self._retire(worker, grace=0)
            lines = worker.logs_since(start, None)
            text = f"RequestId: {request_id} Error: Runtime exited with error: {exit_reason(worker.process.returncode)}"
            lines.append(text)
            body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": text}).encode()
            is_error, status, memory = True, "error", 0
        logs = self._frame(request_id, init_logs, lines, duration_ms, init_ms, memory, status)
        return InvocationResult(request_id, body, is_error, logs)

    def _frame(
        self,
        request_id: str,
        init_logs: list[str],
        lines: list[str],
        duration_ms: float,
        init_ms: float | None,
        memory_mb: int,
        status: str,
    ) -> str:
        """The invocation's logs as AWS writes them: START, the function's lines, END, REPORT."""
        memory_size = self.function_version.config.memory_size
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(int(duration_ms + 0.999), 1)} ms\tMemory Size: {memory_size} MB\t"
            f"Max Memory Used: {memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        framed = [
            *init_logs,
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}",
            *lines,
            f"END RequestId: {request_id}",
            report,
        ]
        return "\n".join(framed) + "\n"

    def get_logs(self) -> str:
        with self._state_lock:
            parts = [*self._history]
            if self._worker is not None:
                parts.append(self._worker.all_logs())
        return "\n".join(part for part in parts if part)

    # --- versions ----------------------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime
        if runtime not in SUPPORTED_RUNTIMES:
            raise LambdaRuntimeException(
                f"Runtime {runtime!r} is not supported by the {EXECUTOR_NAME} Lambda executor "
                f"(supported: {', '.join(SUPPORTED_RUNTIMES)}; no container images, no Docker)"
            )
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to undo: the unzipped code belongs to LocalStack's code object (and its run directory)."""

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            python = lambda_python()
        except LambdaRuntimeException as exc:
            LOG.error("%s", exc)
            return False
        LOG.info("Lambda functions run as local %s processes under %s", EXECUTOR_NAME, python)
        return True
