"""Lambda on host-mode LocalStack through the project's executor (``localstack_ext/lambda_executor.py``).

One real LocalStack for the module (``pipeline.localstack.instance`` starts it with
``LAMBDA_RUNTIME_EXECUTOR=paygate-local`` and ``PAYGATE_LAMBDA_PYTHON``), functions created with boto3 from
in-memory zips and invoked for real: results, context, environment, warm reuse, the AWS error shapes
(unhandled, import error, missing handler, timeout, crash), recovery after a timeout or a crash, logs in
CloudWatch Logs, and no worker process left once LocalStack is stopped. A missing LocalStack venv fails with
the command to run, it never skips. The worker itself is also driven directly over its pipe protocol.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from pipeline.core import procs
from pipeline.localstack import instance as localstack
from pipeline.localstack.instance import Instance
from tests.unit.pipeline.real_localstack import BASE_PYTHON, REGION, REPO_ROOT, client, running_in

WORKER = REPO_ROOT / "localstack_ext" / "lambda_worker.py"
ROLE = "arn:aws:iam::000000000000:role/x"
RUN_MARKER_VAR = "PAYGATE_TEST_RUN"

APP = """
import os
import sys
import time


def handler(event, context):
    print(f"hello from {context.function_name} {event.get('n')}")
    print("to stderr", file=sys.stderr)
    if event.get("fail"):
        raise ValueError(f"boom {event['n']}")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit") is not None:
        os._exit(event["exit"])
    if event.get("signal"):
        os.kill(os.getpid(), event["signal"])
    if event.get("unserializable"):
        return {"x": object()}
    return {
        "event": event,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "greeting": os.environ.get("GREETING"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "leaked": sorted(k for k in os.environ if k.startswith(("PAYGATE_WORKER", "PYTEST", "VIRTUAL_ENV"))),
        "cwd": os.getcwd(),
    }
"""

_run_marker: list[str] = []


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("localstack-lambda")
    _run_marker.append(str(tmp))
    with running_in(tmp) as (_, running):
        yield running


def fail_fast(instance: Instance, service: str) -> Any:
    """A client that does not retry: a function error must show on the first invoke."""
    return client(instance, service, Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60))


@pytest.fixture(scope="module")
def lam(instance: Instance) -> Any:
    return fail_fast(instance, "lambda")


@pytest.fixture(scope="module")
def functions(lam: Any) -> dict[str, str]:
    """All functions of the module, created up front (they become active in parallel)."""
    env = {"Variables": {"GREETING": "hi", RUN_MARKER_VAR: _run_marker[0]}}
    specs = {
        "app": ("app.handler", {"app.py": APP}, 3),
        "slow": ("app.handler", {"app.py": APP}, 1),
        "crashy": ("app.handler", {"app.py": APP}, 3),
        "broken-import": ("bad.handler", {"bad.py": "import does_not_exist_anywhere\n"}, 3),
        "no-handler": ("app.nope", {"app.py": APP}, 3),
        "throttled": ("app.handler", {"app.py": APP}, 3),  # reserved concurrency 0 in the API Gateway test
    }
    for name, (handler, files, timeout) in specs.items():
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": zipped(files)},
            Timeout=timeout,
            MemorySize=256,
            Environment=env,
        )
    waiter = lam.get_waiter("function_active_v2")
    for name in specs:
        waiter.wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return {name: name for name in specs}


def invoke(lam: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    """(response, decoded payload, tail of the logs)."""
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    payload = json.loads(response["Payload"].read())
    logs = base64.b64decode(response.get("LogResult", "")).decode()
    return response, payload, logs


def test_a_handler_gets_its_event_context_and_environment(lam: Any, functions: dict[str, str]) -> None:
    started = time.perf_counter()
    response, result, logs = invoke(lam, functions["app"], {"n": 1, "hello": "world"})
    cold = time.perf_counter() - started
    assert "FunctionError" not in response, result
    assert result["event"] == {"n": 1, "hello": "world"}
    assert result["function_name"] == "app" and result["memory"] == 256
    assert result["arn"].endswith(":function:app")
    assert result["log_group"] == "/aws/lambda/app"
    assert 0 < result["remaining_ms"] <= 3000
    assert result["greeting"] == "hi"
    assert result["trace"] and result["trace"].startswith("Root=")
    assert result["leaked"] == []
    assert result["task_root"] == result["cwd"]
    request_id = result["request_id"]
    assert f"START RequestId: {request_id} Version: $LATEST" in logs
    assert "hello from app 1" in logs and "to stderr" in logs
    assert f"END RequestId: {request_id}" in logs
    assert f"REPORT RequestId: {request_id}\tDuration:" in logs and "Init Duration:" in logs
    # The worker's own peak (VmHWM), not the LocalStack process it was forked from (~900 MB).
    used = int(re.search(r"Max Memory Used: (\d+) MB", logs)[1])  # type: ignore[index]
    assert 1 <= used < 200, used
    assert "__paygate_end_" not in logs
    print(f"cold invoke: {cold * 1000:.0f} ms")


def test_the_worker_is_reused_while_warm(lam: Any, functions: dict[str, str]) -> None:
    timings = []
    pids = []
    for n in range(3):
        started = time.perf_counter()
        _, result, logs = invoke(lam, functions["app"], {"n": n})
        timings.append(time.perf_counter() - started)
        pids.append(result["pid"])
        assert "Init Duration" not in logs
    assert len(set(pids)) == 1
    print(f"warm invokes: {', '.join(f'{t * 1000:.0f} ms' for t in timings)}")


def test_an_unhandled_exception_is_a_function_error(lam: Any, functions: dict[str, str]) -> None:
    response, error, logs = invoke(lam, functions["app"], {"n": 7, "fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom 7"
    assert any("in handler" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: boom 7" in logs and "Traceback (most recent call last):" in logs


def test_an_unserializable_result_is_a_marshal_error(lam: Any, functions: dict[str, str]) -> None:
    response, error, _ = invoke(lam, functions["app"], {"n": 8, "unserializable": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.MarshalError"


def test_an_import_error_is_reported_as_aws_does(lam: Any, functions: dict[str, str]) -> None:
    for _ in range(2):  # every invoke of a broken function answers the init error
        response, error, logs = invoke(lam, functions["broken-import"], {})
        assert response["FunctionError"] == "Unhandled"
        assert error["errorType"] == "Runtime.ImportModuleError"
        assert error["errorMessage"] == "Unable to import module 'bad': No module named 'does_not_exist_anywhere'"
        assert "[ERROR] Runtime.ImportModuleError" in logs


def test_a_missing_handler_is_reported_as_aws_does(lam: Any, functions: dict[str, str]) -> None:
    response, error, _ = invoke(lam, functions["no-handler"], {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'nope' missing on module 'app'"


def test_a_timeout_kills_the_worker_and_the_next_invoke_starts_a_new_one(lam: Any, functions: dict[str, str]) -> None:
    _, first, _ = invoke(lam, functions["slow"], {"n": 1})
    started = time.perf_counter()
    response, error, logs = invoke(lam, functions["slow"], {"n": 2, "sleep": 5})
    elapsed = time.perf_counter() - started
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert "hello from slow 2" in logs and "Status: timeout" in logs
    assert elapsed < 4
    _, after, logs = invoke(lam, functions["slow"], {"n": 3})
    assert after["pid"] != first["pid"] and "Init Duration" in logs
    assert not Path(f"/proc/{first['pid']}").exists()


def test_a_crash_is_an_exit_error_and_the_next_invoke_starts_a_new_one(lam: Any, functions: dict[str, str]) -> None:
    _, first, _ = invoke(lam, functions["crashy"], {"n": 1})
    response, error, logs = invoke(lam, functions["crashy"], {"n": 2, "exit": 3})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert "hello from crashy 2" in logs
    _, after, _ = invoke(lam, functions["crashy"], {"n": 3})
    assert after["pid"] != first["pid"]
    response, error, _ = invoke(lam, functions["crashy"], {"n": 4, "signal": 9})
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    _, again, _ = invoke(lam, functions["crashy"], {"n": 5})
    assert again["pid"] not in (first["pid"], after["pid"])


def test_api_gateway_sends_an_integration_request_once_so_a_throttled_function_is_answered_at_once(
    instance: Instance, lam: Any, functions: dict[str, str]
) -> None:
    """AWS_PROXY to a function at reserved concurrency 0: Lambda refuses the invoke (TooManyRequests) and API Gateway
    answers the integration failure without retrying (localstack_ext/apigateway_integration_retries.py), as AWS
    does. LocalStack's own integration client retried it up to 4 times: 7.5 s of backoff a request on average,
    so three requests took ~22 s; under 6 s they can only have been sent once each."""
    apigw = fail_fast(instance, "apigateway")
    lam.put_function_concurrency(FunctionName=functions["throttled"], ReservedConcurrentExecutions=0)
    arn = lam.get_function(FunctionName=functions["throttled"])["Configuration"]["FunctionArn"]
    api = apigw.create_rest_api(name="throttled")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api,
        resourceId=root,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
    )
    apigw.create_deployment(restApiId=api, stageName="test")
    url = f"{instance.endpoint}/restapis/{api}/test/_user_request_/"
    statuses = []
    started = time.monotonic()
    for _ in range(3):
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                statuses.append(answer.status)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)
    elapsed = time.monotonic() - started
    assert len(set(statuses)) == 1 and statuses[0] >= 500, statuses  # the integration failure, each time
    assert elapsed < 6.0, f"3 throttled requests took {elapsed:.1f} s: the invoke was retried inside LocalStack"


def test_handler_output_reaches_cloudwatch_logs(instance: Instance, lam: Any, functions: dict[str, str]) -> None:
    _, result, _ = invoke(lam, functions["app"], {"n": 42})
    logs = fail_fast(instance, "logs")
    deadline = time.monotonic() + 15
    messages: list[str] = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/app")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [event["message"] for event in events]
        if any(f"END RequestId: {result['request_id']}" in message for message in messages):
            break
        time.sleep(0.1)
    text = "".join(messages)
    assert "hello from app 42" in text, text[-2000:]
    assert f"START RequestId: {result['request_id']}" in text


def test_a_runtime_other_than_python312_is_refused(lam: Any) -> None:
    lam.create_function(
        FunctionName="node",
        Runtime="nodejs20.x",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zipped({"index.js": "exports.handler = async () => 1;"})},
    )
    deadline = time.monotonic() + 15
    config = lam.get_function(FunctionName="node")["Configuration"]
    while config["State"] == "Pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        config = lam.get_function(FunctionName="node")["Configuration"]
    assert config["State"] == "Failed"
    assert "'nodejs20.x' is not supported" in config["StateReason"] and "python3.12" in config["StateReason"]


def test_workers_run_while_localstack_does_with_only_the_function_environment(
    instance: Instance, functions: dict[str, str]
) -> None:
    # Also the positive control for the finalizer below: our workers are visible with the run marker.
    pids = worker_pids(_run_marker[0])
    assert pids
    for pid in pids:
        names = {item.split("=", 1)[0] for item in process_environ(pid)}
        leaked = names & {"GATEWAY_LISTEN", "PAYGATE_LAMBDA_PYTHON", "LAMBDA_RUNTIME_EXECUTOR", "TMPDIR", "PAYGATE_UV"}
        assert not leaked, leaked
        assert {"_HANDLER", "AWS_ENDPOINT_URL", "GREETING", "LAMBDA_TASK_ROOT", "PYTHONPATH", "HOME"} <= names


def test_s3_objects_are_kept_in_the_instance_run_dir(instance: Instance) -> None:
    """localstack_ext/s3.py: object bodies under the run dir's temp folder, not the shared /tmp folder."""
    s3 = client(instance, "s3")
    s3.create_bucket(Bucket="plugin-check", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="plugin-check", Key="k", Body=b"kept in the run dir")

    # The store keeps each bucket's folder there (small bodies stay in memory until they grow).
    assert (Path(instance.run_dir) / "tmp" / "s3-storage" / "plugin-check").is_dir()
    assert s3.get_object(Bucket="plugin-check", Key="k")["Body"].read() == b"kept in the run dir"


def test_the_module_instance_is_stopped_and_cleaned_afterwards(instance: Instance) -> None:
    # Runs last in this module: the module fixture is torn down after it; running_in() and the finalizer below check.
    assert localstack.is_localstack(instance.pid)


def worker_pids(marker: str) -> list[int]:
    """Live lambda_worker.py processes whose environment carries this module's run marker."""
    found = []
    for pid in procs.all_pids():
        if not any(part.endswith("lambda_worker.py") for part in procs.cmdline(pid)) or not procs.alive(pid):
            continue
        if f"{RUN_MARKER_VAR}={marker}" in process_environ(pid):
            found.append(pid)
    return found


def process_environ(pid: int) -> list[str]:
    """The ``NAME=value`` entries a process was started with (none when it has gone)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@pytest.fixture(scope="module", autouse=True)
def _workers_stopped_after_the_module() -> Iterator[None]:
    yield  # after the module instance's teardown (running_in() checks LocalStack itself is gone)
    for marker in _run_marker:
        deadline = time.monotonic() + 5
        while worker_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker_pids(marker) == []


# --- the worker alone, over its pipe protocol --------------------------------------------------------


class DirectWorker:
    """lambda_worker.py started as the executor starts it, driven from the test."""

    def __init__(self, code: Path, handler: str, timeout: int = 3) -> None:
        request_read, self.request_write = os.pipe()
        self.response_read, response_write = os.pipe()
        env = {
            "PATH": os.environ["PATH"],
            "_HANDLER": handler,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
            "AWS_LAMBDA_FUNCTION_NAME": "direct",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "LAMBDA_TASK_ROOT": str(code),
            "PYTHONPATH": str(code),
            "PAYGATE_WORKER_FDS": f"{request_read},{response_write}",
            "PAYGATE_WORKER_MARKER": "END-MARK",
        }
        self.process = subprocess.Popen(
            [str(BASE_PYTHON), "-u", "-s", str(WORKER)],
            cwd=code,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(request_read, response_write),
        )
        os.close(request_read)
        os.close(response_write)
        self.requests = os.fdopen(self.request_write, "wb", buffering=0)
        self.responses = os.fdopen(self.response_read, "rb")

    def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.responses.readline())
        return message

    def invoke(self, request_id: str, event: Any) -> dict[str, Any]:
        request = {"invoke-id": request_id, "invoked-function-arn": "arn", "payload": json.dumps(event), "trace-id": ""}
        self.requests.write(json.dumps(request).encode() + b"\n")
        return self.receive()

    def finish(self) -> str:
        self.requests.close()
        output, _ = self.process.communicate(timeout=10)
        self.responses.close()
        return output.decode()


def test_worker_protocol_directly(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    worker = DirectWorker(tmp_path, "app.handler")
    try:
        ready = worker.receive()
        assert ready["type"] == "ready" and ready["init_ms"] >= 0
        ok = worker.invoke("r-1", {"n": 1})
        assert ok["type"] == "result" and ok["ok"] is True
        assert json.loads(ok["payload"])["request_id"] == "r-1"
        failed = worker.invoke("r-2", {"n": 2, "fail": True})
        assert failed["ok"] is False and json.loads(failed["payload"])["errorType"] == "ValueError"
    finally:
        output = worker.finish()
    assert worker.process.returncode == 0
    lines = output.splitlines()
    assert lines.index("END-MARK init") < lines.index("hello from direct 1") < lines.index("END-MARK r-1")
    assert "[ERROR] ValueError: boom 2" in output and lines[-1] == "END-MARK r-2"


def test_worker_does_not_shadow_function_modules_with_its_own_folder(tmp_path: Path) -> None:
    # localstack_ext/ holds s3.py; a function's own s3.py must win (sys.path[0] is the code, not the worker).
    (tmp_path / "s3.py").write_text("WHO = 'function'\n")
    (tmp_path / "app.py").write_text("import s3\n\ndef handler(event, context):\n    return s3.WHO\n")
    worker = DirectWorker(tmp_path, "app.handler")
    try:
        assert worker.receive()["type"] == "ready"
        assert json.loads(worker.invoke("r-1", {})["payload"]) == "function"
    finally:
        worker.finish()


TRIM_SCRIPT = """
import json, sys
from pathlib import Path
from localstack_ext import lambda_executor as executor

executor.LOG_LINES_KEPT = 50
code = sys.argv[2]
env = {"_HANDLER": "app.handler", "PATH": "/usr/bin:/bin", "PYTHONPATH": code, "LAMBDA_TASK_ROOT": code}
worker = executor.Worker(Path(sys.argv[1]), Path(code), env)
assert worker.receive(30)["type"] == "ready"
worker.logs_since(0, executor.INIT_ID)
seen = []
for tag, count in (("a", 120), ("b", 30), ("c", 70)):
    start = worker.log_count()
    request = {"invoke-id": tag, "payload": json.dumps({"tag": tag, "n": count}), "invoked-function-arn": "arn"}
    worker.send(request)
    result = worker.receive(30)["payload"]
    lines = worker.logs_since(start, tag)
    own = [line for line in lines if line.startswith("line " + tag + " ")]
    kept, count = len(worker.lines), worker.log_count()
    seen.append({"result": result, "own": len(own), "first": own[0], "kept": kept, "count": count})
worker.kill(0)
print(json.dumps(seen))
"""


def test_a_warm_workers_log_buffer_keeps_only_its_last_lines_and_every_invocation_gets_all_of_its_own(
    tmp_path: Path,
) -> None:
    """The executor's Worker, in LocalStack's venv: a warm worker's logs do not grow without bound."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(
        "def handler(event, context):\n"
        "    for i in range(event['n']):\n"
        "        print(f\"line {event['tag']} {i}\")\n"
        "    return event['tag']\n"
    )
    venv_python = REPO_ROOT / "build" / "localstack" / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(venv_python), "-c", TRIM_SCRIPT, str(BASE_PYTHON), str(code)],
        cwd=REPO_ROOT,  # this checkout's localstack_ext, with LocalStack's venv for its imports
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(s["result"], s["own"], s["first"]) for s in seen] == [
        ('"a"', 120, "line a 0"),
        ('"b"', 30, "line b 0"),
        ('"c"', 70, "line c 0"),
    ]
    assert all(s["kept"] <= 50 for s in seen), seen
    counts = [s["count"] for s in seen]
    assert counts == sorted(counts) and counts[-1] >= 220, "indexes keep counting from the worker's start"
