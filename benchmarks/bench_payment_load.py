"""Payment load through the deployed API: N valid payments from C concurrent clients, each followed to its end.

Against a `make localstack-deploy`ed deployment (outputs in build/localstack/outputs.json, or --outputs).
Every payment is valid (its own Idempotency-Key and reference; one in ten above the screening threshold,
so it is DECLINED, the rest CAPTURED). The script sends them with C client threads, then waits (deadline
--deadline) until no accepted payment's workflow is still running, and prints:

- the answers per HTTP status (and the error codes of the non-2xx ones), request throughput and latency
  percentiles;
- the accepted payments per final status, and their executions per status (with the error of a failed
  one, e.g. RetryBudgetExhausted or PaymentFailed);
- how many task attempts Lambda throttled (TooManyRequests) and the state machine retried, and the
  workflow task function's durations (its REPORT lines), against the p99 the concurrency sizing assumes;
- every payment the run stored, per status (a request answered 5xx may still have made one).

--task-concurrency N sets the workflow task function's reserved concurrency to N for the run (restored
afterwards), e.g. 10, the value before issue 10, to load the retriers rather than the sizing.

Exit status 1 when an accepted payment did not end CAPTURED or DECLINED by the deadline.

Usage: .venv/bin/python benchmarks/bench_payment_load.py [--payments 200] [--clients 8] [--deadline 900]
       [--task-concurrency N] [--outputs build/localstack/outputs.json] [--out benchmarks/results/payment_load.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import aws_clients  # noqa: E402
from tests.localstack.support import Api, Callers, Deployed  # noqa: E402

DONE = {"CAPTURED", "DECLINED"}
SCREENING_OVER = 20_000_00  # above the dev stack's screening threshold (10,000.00): declined
DURATION = re.compile(r"\tDuration: (?P<ms>[0-9.]+) ms")


@dataclass
class Sent:
    index: int
    status: int
    seconds: float
    body: Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def request_for(run: str, index: int) -> dict[str, Any]:
    return {
        "merchant_id": f"m_load{run}{index % 4}",
        "reference": f"load-{run}-{index:05d}",
        "amount": SCREENING_OVER if index % 10 == 9 else 1000 + index,
        "currency": "EUR",
        "description": "load test order",
    }


def send_all(apis: dict[str, Api], run: str, payments: int, clients: int) -> tuple[list[Sent], float]:
    """Each request sent by the caller of its merchant (``apis``: merchant id -> the API as its caller)."""

    def one(index: int) -> Sent:
        started = time.monotonic()
        request = request_for(run, index)
        answer = apis[request["merchant_id"]].create(request, key=f"load-{run}-{index:05d}")
        try:
            body = answer.body
        except ValueError:
            body = answer.raw.decode(errors="replace")
        return Sent(index, answer.status, time.monotonic() - started, body)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        sent = list(pool.map(one, range(payments)))
    return sent, time.monotonic() - started


def running(deployed: Deployed, names: set[str]) -> set[str]:
    sfn = deployed.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=deployed["state_machine_arn"], statusFilter="RUNNING"
    )
    return {e["name"] for page in pages for e in page["executions"]} & names


def final_statuses(deployed: Deployed, payment_ids: list[str]) -> dict[str, str]:
    dynamodb = deployed.client("dynamodb")
    table = str(deployed["payments_table_name"])
    found: dict[str, str] = {}
    for start in range(0, len(payment_ids), 100):
        keys: list[dict[str, Any]] = [{"payment_id": {"S": p}} for p in payment_ids[start : start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = dynamodb.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table, []):
                found[item["payment_id"]["S"]] = item["status"]["S"]
            request = answer.get("UnprocessedKeys") or {}
    return found


def executions(deployed: Deployed, payment_ids: list[str]) -> tuple[Counter[str], int]:
    """Executions per status (FAILED ones with their error), and the task attempts Lambda throttled."""
    sfn = deployed.client("stepfunctions")
    statuses: Counter[str] = Counter()
    throttled = 0
    for payment_id in payment_ids:
        arn = deployed.execution_arn(payment_id)
        try:
            found = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            statuses["(no execution)"] += 1
            continue
        statuses[found["status"] + (f" {found.get('error')}" if found["status"] == "FAILED" else "")] += 1
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            for event in page["events"]:
                details = event.get("taskFailedEventDetails") or {}
                throttled += details.get("error") == "Lambda.TooManyRequestsException"
    return statuses, throttled


def task_durations_ms(deployed: Deployed, since_ms: int) -> list[float]:
    group = f"/aws/lambda/{deployed.function_name('workflow-tasks')}"
    logs = deployed.client("logs")
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=since_ms, filterPattern="REPORT"
    )
    return [
        float(match["ms"]) for page in pages for event in page["events"] if (match := DURATION.search(event["message"]))
    ]


def stored_statuses(deployed: Deployed, run: str) -> Counter[str]:
    """Every payment of the run's merchants (the by-merchant index), per status."""
    table = deployed.resource("dynamodb").Table(deployed["payments_table_name"])
    found: Counter[str] = Counter()
    for merchant in {request_for(run, i)["merchant_id"] for i in range(4)}:
        query: dict[str, Any] = {
            "IndexName": "by-merchant",
            "KeyConditionExpression": "merchant_id = :m",
            "ExpressionAttributeValues": {":m": merchant},
        }
        while True:
            answer = table.query(**query)
            found.update(item["status"] for item in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return found


def callers_for(deployed: Deployed) -> Callers:
    """Callers bound to the run's merchants as an operator binds them (``merchant-bind``); closed after the run."""
    return Callers(deployed, f"{deployed.endpoint}/_aws/execute-api/{deployed['api_id']}/{deployed['api_stage']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds to wait for every workflow to end")
    parser.add_argument("--task-concurrency", type=int, help="workflow task reserved concurrency during the run")
    parser.add_argument("--outputs", type=Path, default=ROOT / "build" / "localstack" / "outputs.json")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not args.outputs.is_file():
        print(f"no deployment outputs at {args.outputs}: run `make localstack-deploy` first", file=sys.stderr)
        return 2
    outputs = json.loads(args.outputs.read_text(encoding="utf-8"))
    target = aws_clients.Target.localstack(
        outputs["localstack_endpoint"], outputs["region"], str(outputs["account_id"])
    )
    deployed = Deployed(outputs, target)
    callers = callers_for(deployed)
    load_before = os.getloadavg()
    lambda_ = deployed.client("lambda")
    tasks_function = deployed.function_name("workflow-tasks")
    deployed_reserved = lambda_.get_function_concurrency(FunctionName=tasks_function).get(
        "ReservedConcurrentExecutions"
    )
    reserved = deployed_reserved if args.task_concurrency is None else args.task_concurrency
    run = uuid.uuid4().hex[:8]
    apis = {m: callers.new(m) for m in sorted({request_for(run, i)["merchant_id"] for i in range(4)})}
    since_ms = int(time.time() * 1000)
    lambda_.put_function_concurrency(FunctionName=tasks_function, ReservedConcurrentExecutions=reserved)
    try:
        started = time.monotonic()
        sent, send_seconds = send_all(apis, run, args.payments, args.clients)
        accepted = [s.body["payment_id"] for s in sent if s.status in (201, 202) and isinstance(s.body, dict)]
        end = started + args.deadline
        left = running(deployed, set(accepted))
        while left and time.monotonic() < end:
            time.sleep(2)
            left = running(deployed, set(accepted))
        settle_seconds = time.monotonic() - started
    finally:
        callers.close()
        if deployed_reserved is None:
            lambda_.delete_function_concurrency(FunctionName=tasks_function)
        else:
            lambda_.put_function_concurrency(
                FunctionName=tasks_function, ReservedConcurrentExecutions=deployed_reserved
            )
    statuses = final_statuses(deployed, accepted)
    per_status = Counter(statuses.get(p, "(missing)") for p in accepted)
    per_execution, throttled = executions(deployed, accepted)
    durations = task_durations_ms(deployed, since_ms)
    per_http = Counter(s.status for s in sent)
    refusals = Counter(
        f"{s.status} {s.body.get('error', {}).get('code') if isinstance(s.body, dict) else str(s.body)[:60]}"
        for s in sent
        if s.status >= 300
    )
    latencies = [s.seconds * 1000 for s in sent]
    not_done = [p for p in accepted if statuses.get(p) not in DONE]

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    lines = [
        f"# bench_payment_load  {time.strftime('%Y-%m-%d %H:%M:%S')}  host={platform.node()} cpus={os.cpu_count()} "
        f"commit={commit.strip()}",
        f"target: {deployed.endpoint} (LocalStack), run {run}, workflow_tasks reserved concurrency {reserved}"
        + (f" (deployed: {deployed_reserved})" if reserved != deployed_reserved else ""),
        f"load average before the run: {' '.join(f'{x:.1f}' for x in load_before)} (1/5/15 min)",
        f"sent: {args.payments} valid payments from {args.clients} concurrent clients in {send_seconds:.1f} s "
        f"({args.payments / send_seconds:.1f} requests/s)",
        "latency ms: "
        + "  ".join(f"p{q}={percentile(latencies, q):.0f}" for q in (50, 90, 99))
        + f"  max={max(latencies):.0f}",
        "HTTP status: " + ", ".join(f"{code}: {n}" for code, n in sorted(per_http.items())),
    ]
    lines += [f"  non-2xx {answer}: {n}" for answer, n in sorted(refusals.items())]
    lines += [
        f"accepted: {len(accepted)}; every workflow ended {settle_seconds:.1f} s after the first request"
        + (f" (DEADLINE: {len(left)} still running after {args.deadline:.0f} s)" if left else ""),
        "final payment status: " + ", ".join(f"{status}: {n}" for status, n in sorted(per_status.items())),
        "executions: " + ", ".join(f"{status}: {n}" for status, n in sorted(per_execution.items())),
        f"task attempts throttled by Lambda (TooManyRequests) and retried: {throttled}",
        "every payment the run stored: "
        + ", ".join(f"{status}: {n}" for status, n in sorted(stored_statuses(deployed, run).items())),
    ]
    if durations:
        lines.append(
            f"workflow task durations ({len(durations)} invocations) ms: p50={statistics.median(durations):.0f} "
            f"p99={percentile(durations, 99):.0f} max={max(durations):.0f}"
        )
    lines.append(
        "RESULT: every accepted payment is CAPTURED or DECLINED"
        if not not_done
        else f"RESULT: {len(not_done)} accepted payments did not end CAPTURED or DECLINED"
    )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0 if not not_done else 1


if __name__ == "__main__":
    sys.exit(main())
