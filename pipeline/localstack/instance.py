"""LocalStack as a managed component: started on the host (no Docker) from its own venv, stopped and cleaned.

One instance per LocalStack directory (``build/localstack``): ``state.json`` there records the pid
(also the process group), port and endpoint of the running instance. :func:`start` with
``reuse=True`` (``localstack-up``) hands back an instance that is already running and healthy;
with ``reuse=False`` (:func:`running_localstack`, which owns what it starts) it refuses. A state
file whose process is gone is stale and cleaned before a new start. :func:`stop` is idempotent.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.core import procs
from pipeline.core.errors import PipelineError
from pipeline.core.runner import spawn
from pipeline.core.settings import Settings
from pipeline.core.toolchain import find_python
from pipeline.localstack import venv as localstack_venv

HOST = "127.0.0.1"
MODULE = "localstack.runtime.main"
READY_LINE = "Ready."
HEALTH_PATH = "/_localstack/health"
START_TIMEOUT_SECONDS = 90.0
STOP_GRACE_SECONDS = 20.0
DEBUG_LOGGERS_ENV = "PAYGATE_LOCALSTACK_DEBUG_LOGGERS"  # passed on: loggers LocalStack runs at DEBUG
THREAD_DUMP_SIGNAL = signal.SIGUSR2  # localstack_ext/diagnostics.py registers it (faulthandler)
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 30
SQS_METRICS_INTERVAL_SECONDS = 2  # queue-depth metrics reach CloudWatch alarms in seconds, not a minute
# An idle event source mapping backs off up to 10 s (x1.5 jitter) between polls of an empty queue: a message
# then waits up to 15 s for its consumer. Lambda long-polls SQS continuously, so a message is taken at once.
ESM_EMPTY_POLL_BACKOFF_SECONDS = 1
# LocalStack evaluates an alarm once per EvaluationPeriods x Period counted from its creation; AWS about every
# minute on a sliding window. localstack_ext/alarm_evaluation.py evaluates the same window this often.
ALARM_EVALUATION_SECONDS = 2
# DynamoDB from moto in-process (localstack_ext/dynamodb.py, installed into LocalStack's venv with the
# project package): LocalStack's own provider downloads Java and DynamoDB Local, which fails offline.
DYNAMODB_PROVIDER = "paygate"
# localstack_ext/s3.py: object bodies under $TMPDIR (the run dir), not the shared /tmp folder.
S3_PROVIDER = "paygate"
# localstack_ext/wafv2.py: WAFv2 from moto in-process (the free core has none); rules are stored, not evaluated.
WAFV2_PROVIDER = "paygate"
# localstack_ext/signer.py: AWS Signer profiles from moto plus signing jobs (the free core has no Signer); the
# signed object is a copy of the source version, Lambda's code-signing check reads which job wrote it.
SIGNER_PROVIDER = "paygate"
# localstack_ext/lambda_executor.py: python3.12 functions as local worker processes (no Docker).
LAMBDA_EXECUTOR = "paygate-local"


class LocalStackError(PipelineError):
    """LocalStack could not be started, reached or stopped."""


@dataclass(frozen=True)
class Layout:
    """Where one LocalStack instance keeps its files."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> Layout:
        return cls(settings.localstack_dir)

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def log(self) -> Path:
        return self.run_dir / "localstack.log"


@dataclass(frozen=True)
class Instance:
    """A started LocalStack: its process (group leader), port and endpoint, as written to ``state.json``."""

    pid: int
    port: int
    endpoint: str
    run_dir: str
    log: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: Path) -> Instance:
        try:
            data = json.loads(text)
            return cls(
                int(data["pid"]), int(data["port"]), str(data["endpoint"]), str(data["run_dir"]), str(data["log"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LocalStackError(f"{source} is not a LocalStack state file ({exc!r}): remove it.") from None


# --- pure parts ------------------------------------------------------------------------------------


def endpoint_for(port: int) -> str:
    return f"http://localhost:{port}"


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether ``host:port`` can be bound right now (no listener, not held by anything)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port the kernel considers free on ``host`` (checked again right before LocalStack binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def build_env(
    settings: Settings,
    port: int,
    run_dir: Path,
    extra: Mapping[str, str] | None = None,
    *,
    lambda_python: Path | None = None,
) -> dict[str, str]:
    """The whole environment of the LocalStack process: host mode, bound to 127.0.0.1, every file in ``run_dir``.

    ``lambda_python`` (a Python 3.12) runs the functions' worker processes (localstack_ext/lambda_executor.py).

    Built from scratch (only ``PATH`` is inherited) so credentials or LOCALSTACK_* settings of the
    caller cannot change what runs; ``PAYGATE_LOCALSTACK_DEBUG_LOGGERS`` (loggers to run at DEBUG, see
    ``localstack_ext/diagnostics.py``) is passed on.
    """
    env = {
        "PATH": settings.path,
        "LANG": "C.UTF-8",
        "HOME": str(run_dir / "home"),
        "GATEWAY_LISTEN": f"{HOST}:{port}",
        "GATEWAY_SERVER": "hypercorn",  # the default server binds 0.0.0.0
        "LOCALSTACK_HOST": f"localhost:{port}",
        "DNS_ADDRESS": "0",  # else it binds :53
        "OVERRIDE_IN_DOCKER": "0",  # the sandbox looks like a container
        "FILESYSTEM_ROOT": str(run_dir / "filesystem"),
        "TMPDIR": str(run_dir / "tmp"),
        "XDG_CACHE_HOME": str(run_dir / "cache"),
        "DISABLE_EVENTS": "1",  # no analytics calls
        "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL": str(SQS_METRICS_INTERVAL_SECONDS),
        "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": str(ESM_EMPTY_POLL_BACKOFF_SECONDS),
        "PAYGATE_CLOUDWATCH_ALARM_EVALUATION_SECONDS": str(ALARM_EVALUATION_SECONDS),
        "PROVIDER_OVERRIDE_DYNAMODB": DYNAMODB_PROVIDER,
        "PROVIDER_OVERRIDE_S3": S3_PROVIDER,
        "PROVIDER_OVERRIDE_WAFV2": WAFV2_PROVIDER,
        "PROVIDER_OVERRIDE_SIGNER": SIGNER_PROVIDER,
        "LAMBDA_RUNTIME_EXECUTOR": LAMBDA_EXECUTOR,
    }
    if lambda_python is not None:
        env["PAYGATE_LAMBDA_PYTHON"] = str(lambda_python)
    if debug_loggers := settings.environ.get(DEBUG_LOGGERS_ENV):
        env[DEBUG_LOGGERS_ENV] = debug_loggers
    env.update(extra or {})
    return env


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not log.is_file():
        return f"(no log at {log})"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# --- processes -------------------------------------------------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid``."""
    return procs.group_members(pgid)


def is_localstack(pid: int) -> bool:
    """Whether ``pid`` is alive and a LocalStack runtime (not a recycled pid)."""
    return procs.alive(pid) and MODULE in procs.cmdline(pid)


def rss_bytes(pgid: int) -> int:
    """Resident memory of the whole process group."""
    return sum(procs.rss(pid) for pid in group_members(pgid))


def health(port: int, timeout: float = 2.0) -> dict[str, object] | None:
    """The parsed ``/_localstack/health`` document, or None when nothing healthy answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", HEALTH_PATH)
        response = connection.getresponse()
        body = response.read()
    except OSError:
        return None
    finally:
        connection.close()
    if response.status != http.HTTPStatus.OK:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def wait_until(condition: Callable[[], bool], deadline: float) -> bool:
    """Poll ``condition`` every ``POLL_SECONDS`` until it holds (True) or ``time.monotonic()`` passes ``deadline``."""
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def read_state(layout: Layout) -> Instance | None:
    if not layout.state_file.is_file():
        return None
    return Instance.from_json(layout.state_file.read_text(encoding="utf-8"), layout.state_file)


def running(layout: Layout) -> Instance | None:
    """The instance ``state.json`` names, if its process is still a live LocalStack."""
    instance = read_state(layout)
    return instance if instance is not None and is_localstack(instance.pid) else None


# --- start / stop ----------------------------------------------------------------------------------


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _terminate(pgid: int, grace: float, child: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group, SIGKILL whatever is left after ``grace`` seconds; reap our own child."""

    def gone() -> bool:
        if child is not None:
            child.poll()
        return not group_members(pgid)

    _kill_group(pgid, signal.SIGTERM)
    if not wait_until(gone, time.monotonic() + grace):
        _kill_group(pgid, signal.SIGKILL)
        wait_until(gone, time.monotonic() + grace)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=grace)


def _clean(layout: Layout) -> None:
    """Remove the run dir (state, S3 objects, unzipped functions, logs) and the state file."""
    shutil.rmtree(layout.run_dir, ignore_errors=True)
    layout.state_file.unlink(missing_ok=True)


def start(
    settings: Settings,
    *,
    port: int = 0,
    reuse: bool = False,
    timeout: float = START_TIMEOUT_SECONDS,
    extra_env: Mapping[str, str] | None = None,
) -> Instance:
    """Start LocalStack on ``port`` (0: a free one) and wait for "Ready." and a healthy health check.

    An instance already running from this directory is returned when ``reuse`` and healthy, refused
    otherwise. On failure the process group is stopped and the message carries the log tail.
    """
    return _start(settings, port=port, reuse=reuse, timeout=timeout, extra_env=extra_env)[0]


def start_owned(
    settings: Settings, *, port: int = 0, timeout: float = START_TIMEOUT_SECONDS
) -> tuple[Instance, subprocess.Popen[bytes] | None]:
    """A fresh instance and its process, for a caller that stops it itself (``stop(settings, child=...)``)."""
    return _start(settings, port=port, reuse=False, timeout=timeout, extra_env=None)


def _start(
    settings: Settings, *, port: int, reuse: bool, timeout: float, extra_env: Mapping[str, str] | None
) -> tuple[Instance, subprocess.Popen[bytes] | None]:
    layout = Layout.of(settings)
    current = running(layout)
    if current is not None:
        healthy = health(current.port) is not None
        if reuse and healthy:
            return current, None
        if not healthy:
            raise LocalStackError(
                f"LocalStack from {layout.root} (pid {current.pid}, {current.endpoint}) runs but is not healthy "
                f"(log {current.log}): restart it with `make localstack-down localstack-up`."
            )
        raise LocalStackError(
            f"LocalStack is already running from {layout.root} (pid {current.pid}, {current.endpoint}): "
            "stop it with `make localstack-down` first."
        )
    if read_state(layout) is not None:
        stop(settings)  # stale: its leader is gone; stop what is left of the group and clean
    python = localstack_venv.require(settings)
    chosen = port or free_port()
    if not port_is_free(chosen):
        raise LocalStackError(
            f"port {chosen} on {HOST} is already in use: stop what listens there or pick another port "
            "(a second LocalStack would log 'Ready.' while the first one answers)."
        )
    shutil.rmtree(layout.run_dir, ignore_errors=True)
    env = build_env(settings, chosen, layout.run_dir, extra_env, lambda_python=find_python(settings).path)
    for key in ("HOME", "FILESYSTEM_ROOT", "TMPDIR", "XDG_CACHE_HOME"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    child = spawn([python, "-m", MODULE], env=env, cwd=layout.run_dir, log=layout.log)
    instance = Instance(child.pid, chosen, endpoint_for(chosen), str(layout.run_dir), str(layout.log))
    layout.state_file.write_text(instance.to_json(), encoding="utf-8")
    try:
        _await_ready(instance, child, layout, time.monotonic() + timeout)
    except BaseException:  # also Ctrl-C while waiting: never leave a half-started instance behind
        stop(settings, child=child)
        raise
    return instance, child


def _await_ready(instance: Instance, child: subprocess.Popen[bytes], layout: Layout, deadline: float) -> None:
    def ready() -> bool:
        if child.poll() is not None:
            raise LocalStackError(
                f"LocalStack exited with status {child.returncode} while starting; log {layout.log}:\n"
                f"{log_tail(layout.log)}"
            )
        text = layout.log.read_text(encoding="utf-8", errors="replace") if layout.log.is_file() else ""
        return READY_LINE in text.splitlines() and health(instance.port) is not None

    if not wait_until(ready, deadline):
        raise LocalStackError(
            f"LocalStack did not become healthy on {instance.endpoint} within the deadline; log {layout.log}:\n"
            f"{log_tail(layout.log)}"
        )


def stop(
    settings: Settings, *, grace: float = STOP_GRACE_SECONDS, child: subprocess.Popen[bytes] | None = None
) -> Instance | None:
    """Stop the recorded instance's process group (SIGTERM, SIGKILL after ``grace``) and clean; idempotent.

    Returns the instance that was recorded, None when there was none. ``child`` (when this process
    started it) is reaped too.
    """
    layout = Layout.of(settings)
    instance = read_state(layout)
    if child is not None:
        _terminate(child.pid, grace, child)
    elif instance is not None and _owns_group(instance.pid):
        _terminate(instance.pid, grace)
    _clean(layout)
    return instance


def dump_threads(instance: Instance | None) -> bool:
    """Ask a running LocalStack to write every thread's stack into its log (``localstack_ext/diagnostics.py``).

    For a failure that left LocalStack stuck rather than erroring; False when no such process runs.
    """
    if instance is None or not is_localstack(instance.pid):
        return False
    try:
        os.kill(instance.pid, THREAD_DUMP_SIGNAL)
    except ProcessLookupError:
        return False
    return True


def _owns_group(pid: int) -> bool:
    """Whether group ``pid`` is still ours: its leader is LocalStack, or gone while members remain."""
    if is_localstack(pid):
        return True
    return not procs.alive(pid) and bool(group_members(pid))


@contextlib.contextmanager
def running_localstack(
    settings: Settings,
    *,
    port: int = 0,
    timeout: float = START_TIMEOUT_SECONDS,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Instance]:
    """A fresh LocalStack for the ``with`` block, always stopped and cleaned on exit (also on Ctrl-C)."""
    instance, child = _start(settings, port=port, reuse=False, timeout=timeout, extra_env=extra_env)
    try:
        yield instance
    finally:
        stop(settings, child=child)
