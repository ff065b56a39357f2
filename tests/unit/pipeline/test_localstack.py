"""LocalStack as a managed component: its venv, its environment and state, and a real start/health/stop cycle.

The real cycles run the LocalStack of ``build/localstack/venv`` (``make unit`` creates it first); a
missing venv fails these tests with the command to run, it never skips them.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.core import procs
from pipeline.core.errors import PipelineError
from pipeline.core.runner import spawn
from pipeline.core.settings import Settings
from pipeline.core.toolchain import MISSING_LOCALSTACK_PYTHON, MissingPrerequisite, find_localstack_python
from pipeline.localstack import instance as localstack
from pipeline.localstack import venv as localstack_venv
from pipeline.localstack.instance import Instance, Layout, LocalStackError
from tests import aws_clients

REPO_ROOT = Path(__file__).resolve().parents[3]
REAL_VENV = REPO_ROOT / "build" / "localstack" / "venv"
# Installing a project builds it with hatchling, which `make venv` has put in the repository's uv cache
# (the tests' own fresh caches would have to download it).
REPO_UV_CACHE = {"UV_CACHE_DIR": str(REPO_ROOT / "build" / "cache" / "uv")}
# pyenv finds its interpreters through PYENV_ROOT (the test settings point HOME elsewhere).
PYENV = {name: os.environ[name] for name in ("PYENV_ROOT",) if name in os.environ}
# The interpreter LocalStack's Lambda workers run (pipeline.localstack.instance resolves it before starting).
LAMBDA_PYTHON = {"PAYGATE_PYTHON": str(Path(sys.base_prefix) / "bin" / "python3.12")}
SettingsFactory = Callable[..., Settings]
ExecutableFactory = Callable[[str, str], Path]


def listening_socket() -> socket.socket:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind((localstack.HOST, 0))
    holder.listen()
    return holder


# --- ports, environment, state file ------------------------------------------------------------------


def test_a_free_port_can_be_bound_and_a_listening_one_cannot() -> None:
    port = localstack.free_port()
    assert 1024 <= port <= 65535
    assert localstack.port_is_free(port)
    with listening_socket() as holder:
        assert not localstack.port_is_free(holder.getsockname()[1])


def test_environment_binds_loopback_keeps_every_file_in_the_run_dir_and_inherits_only_path(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(AWS_ACCESS_KEY_ID="real", LOCALSTACK_AUTH_TOKEN="secret", GATEWAY_LISTEN="0.0.0.0:1")
    run_dir = tmp_path / "run"
    env = localstack.build_env(settings, 4599, run_dir, {"LAMBDA_RUNTIME_EXECUTOR": "local"})
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4599"
    assert env["LOCALSTACK_HOST"] == "localhost:4599"
    assert (env["GATEWAY_SERVER"], env["DNS_ADDRESS"], env["OVERRIDE_IN_DOCKER"], env["DISABLE_EVENTS"]) == (
        "hypercorn",
        "0",
        "0",
        "1",
    )
    assert env["SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL"] == "2"
    assert env["LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC"] == "1"
    assert env["PAYGATE_CLOUDWATCH_ALARM_EVALUATION_SECONDS"] == "2"
    for key in ("HOME", "FILESYSTEM_ROOT", "TMPDIR", "XDG_CACHE_HOME"):
        assert Path(env[key]).is_relative_to(run_dir), key
    assert env["PATH"] == settings.path
    assert "AWS_ACCESS_KEY_ID" not in env and "LOCALSTACK_AUTH_TOKEN" not in env
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "local"
    assert localstack.DEBUG_LOGGERS_ENV not in env


def test_every_provider_the_environment_selects_is_registered_by_the_project_package(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """PROVIDER_OVERRIDE_<API>=paygate names the plux entry point "<api>:paygate" of localstack_ext (pyproject.toml):
    DynamoDB and S3 replace LocalStack's own, WAFv2 and Signer add ones the free core lacks (localstack_ext/wafv2.py,
    localstack_ext/signer.py; Signer's requests reach it through the hook that routes them)."""
    import tomllib

    env = localstack.build_env(make_settings(), 4599, tmp_path / "run", {})
    selected = {
        key.removeprefix("PROVIDER_OVERRIDE_").lower(): value
        for key, value in env.items()
        if "PROVIDER_OVERRIDE_" in key
    }
    assert selected == {"dynamodb": "paygate", "s3": "paygate", "wafv2": "paygate", "signer": "paygate"}
    project = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text(encoding="utf-8"))
    registered = project["project"]["entry-points"]["localstack.aws.provider"]
    assert registered["wafv2:paygate"] == "localstack_ext.wafv2:wafv2_paygate"
    assert registered["signer:paygate"] == "localstack_ext.signer:signer_paygate"
    hooks = project["project"]["entry-points"]["localstack.hooks.on_infra_start"]
    assert hooks["paygate_signer_routing"] == "localstack_ext.signer:paygate_signer_routing"
    # API Gateway's integration requests made once (a throttled Lambda answers the client at once, as on AWS)
    assert hooks["paygate_apigateway_integration_retries"] == (
        "localstack_ext.apigateway_integration_retries:paygate_apigateway_integration_retries"
    )
    assert all(f"{api}:{name}" in registered for api, name in selected.items())


def test_environment_passes_on_the_loggers_to_debug(make_settings: SettingsFactory, tmp_path: Path) -> None:
    loggers = "localstack.services.sqs.models,localstack.services.lambda_.event_source_mapping"
    settings = make_settings(PAYGATE_LOCALSTACK_DEBUG_LOGGERS=loggers)
    assert localstack.build_env(settings, 4599, tmp_path)["PAYGATE_LOCALSTACK_DEBUG_LOGGERS"] == loggers


def test_state_file_round_trips_and_a_broken_one_says_to_remove_it(tmp_path: Path) -> None:
    instance = Instance(123, 4566, localstack.endpoint_for(4566), "/run", "/run/localstack.log")
    source = tmp_path / "state.json"
    assert Instance.from_json(instance.to_json(), source) == instance
    assert instance.endpoint == "http://localhost:4566"
    for broken in ("{", "[]", '{"pid": 1}', '{"pid": "x", "port": 1, "endpoint": "", "run_dir": "", "log": ""}'):
        with pytest.raises(LocalStackError, match=r"state.json is not a LocalStack state file .*: remove it\."):
            Instance.from_json(broken, source)


def test_log_tail_keeps_the_last_lines_and_names_a_missing_log(tmp_path: Path) -> None:
    log = tmp_path / "localstack.log"
    assert localstack.log_tail(log) == f"(no log at {log})"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    assert localstack.log_tail(log, 3) == "line 47\nline 48\nline 49"


# --- processes and health ----------------------------------------------------------------------------


def test_process_helpers_see_this_process_group_and_reject_what_is_not_localstack() -> None:
    group = os.getpgid(0)
    assert os.getpid() in localstack.group_members(group)
    assert localstack.rss_bytes(group) > 0
    assert not localstack.is_localstack(os.getpid())
    assert not localstack.is_localstack(2**22 + 1)  # above pid_max: never a process
    assert localstack.group_members(2**22 + 1) == []


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def answering() -> Iterator[Callable[[int, bytes], int]]:
    """An HTTP server on 127.0.0.1 answering every GET with a chosen status and body; yields a setter -> port."""
    server = http.server.ThreadingHTTPServer((localstack.HOST, 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()

    def answer(status: int, body: bytes) -> int:
        _Answer.status, _Answer.body = status, body
        return int(server.server_address[1])

    yield answer
    server.shutdown()  # serve_forever notices within its poll interval
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    ("status", "body", "healthy"),
    [
        (200, b'{"services": {"s3": "available"}}', True),
        (500, b'{"services": {}}', False),
        (200, b"not json", False),
        (200, b"[]", False),
    ],
)
def test_health_is_only_a_json_object_with_200(
    answering: Callable[[int, bytes], int], status: int, body: bytes, healthy: bool
) -> None:
    port = answering(status, body)
    assert (localstack.health(port) is not None) is healthy


def test_health_of_a_port_nobody_listens_on_is_none() -> None:
    assert localstack.health(localstack.free_port()) is None


# --- the virtualenv ----------------------------------------------------------------------------------


def plugin_project(root: Path) -> Path:
    """A minimal project with a ``localstack_ext`` package, standing in for the repository."""
    (root / "localstack_ext").mkdir(parents=True)
    (root / "localstack_ext" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "probe"\nversion = "0"\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["localstack_ext"]\n'
    )
    return root


def test_venv_is_rebuilt_only_when_the_lock_changes_and_the_project_reinstalled_when_it_changes(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    # An empty lock keeps this fast; the real lock is installed by `make localstack-venv`.
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "ls"), **PYENV, **LAMBDA_PYTHON, **REPO_UV_CACHE)
    lock = tmp_path / "requirements.lock"
    lock.write_text("# nothing pinned\n")
    project = plugin_project(tmp_path / "project")
    assert not localstack_venv.is_current(settings, lock, project)
    first = localstack_venv.ensure(settings, lock, project)
    assert first.rebuilt and first.project_installed and first.python == localstack_venv.venv_python(settings)
    site = next((localstack_venv.venv_dir(settings) / "lib").glob("python3.*/site-packages"))
    assert (site / "localstack_ext" / "__init__.py").is_file()
    assert localstack_venv.is_current(settings, lock, project)
    assert localstack_venv.require(settings) == first.python
    again = localstack_venv.ensure(settings, lock, project)
    assert not again.rebuilt and not again.project_installed
    (project / "localstack_ext" / "dynamodb.py").write_text("PROVIDER = 1\n")
    assert not localstack_venv.is_current(settings, lock, project)
    changed = localstack_venv.ensure(settings, lock, project)
    assert (changed.rebuilt, changed.project_installed) == (False, True)
    assert (site / "localstack_ext" / "dynamodb.py").read_text() == "PROVIDER = 1\n"
    lock.write_text("# changed\n")
    assert not localstack_venv.is_current(settings, lock, project)
    assert localstack_venv.ensure(settings, lock, project).rebuilt


def test_the_project_to_install_must_have_a_pyproject(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "ls"), **PYENV, **LAMBDA_PYTHON)
    lock = tmp_path / "requirements.lock"
    lock.write_text("# nothing pinned\n")
    with pytest.raises(PipelineError, match=r"has no pyproject\.toml: it is not the project"):
        localstack_venv.ensure(settings, lock, tmp_path / "empty")


def test_venv_errors_say_what_to_run(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "ls"), **PYENV, **LAMBDA_PYTHON)
    with pytest.raises(PipelineError, match=r"requirements\.lock is missing: it is committed"):
        localstack_venv.ensure(settings, tmp_path / "requirements.lock")
    with pytest.raises(PipelineError, match=r"LocalStack's virtualenv is missing .*: run `make localstack-venv`\."):
        localstack_venv.require(settings)
    with pytest.raises(PipelineError, match="run `make localstack-venv`"):
        localstack.start(settings)


def test_python_313_is_found_or_missing_in_one_sentence(
    make_settings: SettingsFactory, make_executable: ExecutableFactory, tmp_path: Path
) -> None:
    assert find_localstack_python(make_settings(**PYENV, **LAMBDA_PYTHON)).version.startswith("3.13.")
    with pytest.raises(MissingPrerequisite) as missing:
        find_localstack_python(make_settings(PATH=str(tmp_path / "empty")))
    assert str(missing.value) == MISSING_LOCALSTACK_PYTHON
    wrong = make_executable("python3.13", "echo 3.12.1\n")
    with pytest.raises(MissingPrerequisite, match=r"PAYGATE_LOCALSTACK_PYTHON=.* is not a working Python 3\.13"):
        find_localstack_python(make_settings(PAYGATE_LOCALSTACK_PYTHON=str(wrong)))


# --- start / stop without a real LocalStack ------------------------------------------------------------


def test_stop_is_idempotent_and_cleans_a_stale_state_file(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "ls"), **PYENV, **LAMBDA_PYTHON)
    layout = Layout.of(settings)
    assert localstack.stop(settings) is None
    layout.run_dir.mkdir(parents=True)
    stale = Instance(2**22 + 1, 1, "http://localhost:1", str(layout.run_dir), str(layout.log))
    layout.state_file.write_text(stale.to_json())
    assert localstack.running(layout) is None
    assert localstack.stop(settings) == stale
    assert not layout.state_file.exists() and not layout.run_dir.exists()


@pytest.fixture
def fake_venv(make_settings: SettingsFactory, tmp_path: Path) -> Callable[[str], Settings]:
    """Settings whose LocalStack "interpreter" is a shell script (for the failure paths of the start)."""

    def factory(script: str) -> Settings:
        root = tmp_path / "fake-ls"
        bin_dir = root / "venv" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        python = bin_dir / "python"
        python.write_text("#!/bin/sh\n" + script)
        python.chmod(0o755)
        return make_settings(PAYGATE_LOCALSTACK_DIR=str(root), **LAMBDA_PYTHON)

    return factory


def assert_nothing_left(settings: Settings, pid: int) -> None:
    layout = Layout.of(settings)
    assert localstack.group_members(pid) == []
    assert not layout.state_file.exists()
    assert not layout.run_dir.exists()


def test_a_start_that_exits_reports_its_status_and_log_and_leaves_nothing(fake_venv: Callable[[str], Settings]) -> None:
    settings = fake_venv("echo 'boom: cannot start'\nexit 3\n")
    with pytest.raises(LocalStackError, match=r"(?s)exited with status 3 while starting.*boom: cannot start"):
        localstack.start(settings, timeout=30)
    assert not Layout.of(settings).state_file.exists() and not Layout.of(settings).run_dir.exists()


def test_a_start_that_never_gets_healthy_times_out_with_the_log_and_is_killed(
    fake_venv: Callable[[str], Settings],
) -> None:
    settings = fake_venv("echo 'still booting'\nsleep 600 &\nwait\n")
    with pytest.raises(LocalStackError, match=r"(?s)did not become healthy on http://localhost:\d+.*still booting"):
        localstack.start(settings, timeout=0.5)
    assert not Layout.of(settings).state_file.exists()
    assert not any("sleep 600" in " ".join(procs.cmdline(pid)) for pid in procs.all_pids())


def test_stop_kills_a_group_that_ignores_sigterm_after_the_grace_period(fake_venv: Callable[[str], Settings]) -> None:
    settings = fake_venv("trap '' TERM\necho up\nwhile :; do sleep 0.05; done\n")
    layout = Layout.of(settings)
    layout.run_dir.mkdir(parents=True)
    python = layout.root / "venv" / "bin" / "python"
    child = spawn([python, "-m", localstack.MODULE], env={"PATH": os.defpath}, cwd=layout.run_dir, log=layout.log)
    instance = Instance(child.pid, 1, "http://localhost:1", str(layout.run_dir), str(layout.log))
    layout.state_file.write_text(instance.to_json())
    deadline = time.monotonic() + 10
    while "up" not in layout.log.read_text() and time.monotonic() < deadline:  # the trap is set
        time.sleep(0.01)
    assert localstack.running(layout) == instance
    started = time.monotonic()
    assert localstack.stop(settings, grace=0.3) == instance
    assert time.monotonic() - started >= 0.3  # SIGTERM was ignored; SIGKILL ended it
    child.wait(timeout=5)
    assert child.returncode == -signal.SIGKILL
    assert_nothing_left(settings, child.pid)


def test_a_stale_state_file_is_cleaned_before_a_new_start(fake_venv: Callable[[str], Settings]) -> None:
    settings = fake_venv("exit 4\n")
    layout = Layout.of(settings)
    layout.run_dir.mkdir(parents=True)
    (layout.run_dir / "old-file").write_text("from the last run")
    layout.state_file.write_text(Instance(2**22 + 1, 1, "x", str(layout.run_dir), str(layout.log)).to_json())
    with pytest.raises(LocalStackError, match="exited with status 4"):
        localstack.start(settings)
    assert not layout.state_file.exists() and not layout.run_dir.exists()


def test_a_port_in_use_is_refused_before_anything_starts(fake_venv: Callable[[str], Settings]) -> None:
    settings = fake_venv("exit 0\n")
    with listening_socket() as holder:
        port = holder.getsockname()[1]
        with pytest.raises(LocalStackError, match=rf"port {port} on 127.0.0.1 is already in use"):
            localstack.start(settings, port=port)
    assert not Layout.of(settings).state_file.exists()


# --- the real LocalStack -------------------------------------------------------------------------------


@pytest.fixture
def real_settings(make_settings: SettingsFactory, tmp_path: Path) -> Iterator[Settings]:
    """Settings using the project's LocalStack venv, with this test's own run dir and state file."""
    assert (REAL_VENV / "bin" / "python").is_file(), (
        f"LocalStack's virtualenv is missing ({REAL_VENV}): run `make localstack-venv` (`make unit` does it first)"
    )
    root = tmp_path / "ls"
    root.mkdir()
    (root / "venv").symlink_to(REAL_VENV)
    settings = make_settings(PAYGATE_LOCALSTACK_DIR=str(root), **LAMBDA_PYTHON)
    yield settings
    localstack.stop(settings)  # a failed assertion must not leave LocalStack running


def settled_log(log: Path, needle: str, deadline_s: float = 10.0) -> str:
    """The log once it holds ``needle`` and has stopped growing for 0.5 s (a dump is written in pieces)."""
    deadline = time.monotonic() + deadline_s
    text, settled_since = "", time.monotonic()
    while time.monotonic() < deadline:
        current = log.read_text()
        if current != text:
            text, settled_since = current, time.monotonic()
        elif needle in text and time.monotonic() - settled_since >= 0.5:
            break
        time.sleep(0.05)
    return text


def run_cli(*argv: str, environ: Mapping[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_real_localstack_starts_healthy_refuses_a_second_start_and_stops_clean_even_on_ctrl_c(
    real_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(KeyboardInterrupt), localstack.running_localstack(real_settings) as instance:
        layout = Layout.of(real_settings)
        assert localstack.is_localstack(instance.pid)
        assert json.loads(layout.state_file.read_text())["port"] == instance.port
        document = localstack.health(instance.port)
        assert document is not None and "services" in document
        assert localstack.READY_LINE in Path(instance.log).read_text().splitlines()
        # SIGUSR2 (localstack_ext/diagnostics.py): every thread's stack in the log, LocalStack still healthy.
        assert localstack.dump_threads(instance)
        dumped = settled_log(Path(instance.log), "(most recent call first)")
        assert "Current thread" in dumped and dumped.count("(most recent call first)") >= 2, dumped[-3000:]
        assert "localstack/runtime/main.py" in dumped
        assert localstack.health(instance.port) is not None
        with pytest.raises(LocalStackError, match=r"already running .*`make localstack-down` first"):
            localstack.start(real_settings)
        assert localstack.start(real_settings, reuse=True) == instance
        # The state names this instance but a port nothing answers on: "running but not healthy".
        layout.state_file.write_text(dataclasses.replace(instance, port=localstack.free_port()).to_json())
        with pytest.raises(LocalStackError, match=r"runs but is not healthy .*`make localstack-down localstack-up`"):
            localstack.start(real_settings, reuse=True)
        layout.state_file.write_text(instance.to_json())
        # Another LocalStack directory asking for the same port is refused before it starts.
        other = dataclasses.replace(real_settings, localstack_dir=tmp_path / "other")
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "venv").symlink_to(REAL_VENV)
        with pytest.raises(LocalStackError, match=f"port {instance.port} on 127.0.0.1 is already in use"):
            localstack.start(other, port=instance.port)
        raise KeyboardInterrupt
    assert_nothing_left(real_settings, instance.pid)
    assert localstack.health(instance.port) is None
    assert not localstack.dump_threads(instance), "no signal for a LocalStack that is gone"


def test_real_localstack_logs_only_the_chosen_loggers_at_debug_and_exits_on_sigterm_right_after_sqs_calls(
    real_settings: Settings,
) -> None:
    """PAYGATE_LOCALSTACK_DEBUG_LOGGERS (localstack_ext/diagnostics.py): SQS's model at DEBUG, nothing else.

    Stopped right after SQS calls, LocalStack used to hang until the harness's SIGKILL: its SQS metric threads wait
    on requests to the stopped gateway, and the exit joins them (localstack_ext/shutdown.py). It now exits on
    SIGTERM alone, well within the grace the harness gives before a SIGKILL.
    """
    environ = {**real_settings.environ, localstack.DEBUG_LOGGERS_ENV: "localstack.services.sqs.models"}
    settings = dataclasses.replace(real_settings, environ=environ)
    with localstack.running_localstack(settings) as instance:
        sqs = aws_clients.client(instance.endpoint, "eu-west-1", "sqs")
        url = sqs.create_queue(QueueName="debugged")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["x"]
        log = Path(instance.log)
        debug = [line for line in log.read_text().splitlines() if " DEBUG --- " in line]
        os.killpg(instance.pid, signal.SIGTERM)
        exited = localstack.wait_until(
            lambda: not localstack.is_localstack(instance.pid), time.monotonic() + localstack.STOP_GRACE_SECONDS / 2
        )
        assert exited, localstack.log_tail(log)
        stopped = log.read_text()
    assert any("l.services.sqs.models" in line and "de-queued message" in line for line in debug), debug
    assert all("l.services.sqs.models" in line for line in debug), "only the chosen logger runs at DEBUG"
    assert "[shutdown] Stopping all services" in stopped


def test_cli_up_reuses_a_running_instance_reports_status_and_down_is_idempotent(
    real_settings: Settings,
) -> None:
    environ = dict(real_settings.environ)
    code, out, err = run_cli("localstack-up", "--timeout", "60", environ=environ)
    assert (code, err) == (0, ""), err
    assert "LocalStack healthy at http://localhost:" in out
    instance = localstack.running(Layout.of(real_settings))
    assert instance is not None
    code, out, _ = run_cli("localstack-up", environ=environ)
    assert (code, out.strip()) == (
        0,
        f"LocalStack is already running: reusing it at {instance.endpoint} (pid {instance.pid})",
    )
    code, out, _ = run_cli("localstack-status", environ=environ)
    assert code == 0 and f"pid {instance.pid} at {instance.endpoint}: healthy, RSS" in out
    code, out, _ = run_cli("localstack-down", environ=environ)
    assert code == 0 and f"LocalStack (pid {instance.pid}) stopped and cleaned" in out
    assert_nothing_left(real_settings, instance.pid)
    assert run_cli("localstack-down", environ=environ)[1] == "LocalStack was not running; its state is clean\n"
    code, _, err = run_cli("localstack-status", environ=environ)
    assert (code, err) == (1, "error: LocalStack is not running: start it with `make localstack-up`.\n")


def test_cli_localstack_venv_reports_an_up_to_date_venv_and_a_reinstalled_project(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("# nothing pinned\n")
    environ = dict(
        make_settings(PAYGATE_LOCALSTACK_DIR=str(tmp_path / "ls"), **PYENV, **LAMBDA_PYTHON, **REPO_UV_CACHE).environ
    )
    code, out, _ = run_cli("localstack-venv", "--lock", str(lock), environ=environ)
    assert code == 0 and "installed in" in out
    code, out, _ = run_cli("localstack-venv", "--lock", str(lock), environ=environ)
    assert code == 0 and out.endswith(": up to date\n")
    monkeypatch.setattr(localstack_venv, "project_digest", lambda project: "changed")
    code, out, _ = run_cli("localstack-venv", "--lock", str(lock), environ=environ)
    assert code == 0 and ": project package reinstalled in " in out
