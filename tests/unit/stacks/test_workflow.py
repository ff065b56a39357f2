"""PaymentWorkflow: a STANDARD state machine whose definition is a sound graph with retries and a failure path.

LocalStack (and Terraform plan against it) accept a definition whose StartAt or Next names a
missing state; real Step Functions refuses it at create. The graph checks here catch that.

Capacity errors (issue 10, item 6): every task retries throttles and other transient errors with their
own budgets; only a payment refusal reaches MarkFailed; a budget that runs out ends the execution
without touching the payment.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from lambdas.shared.aws import ThrottlingError
from lambdas.shared.lifecycle import IN_FLIGHT, Status
from lambdas.shared.store import TransientError
from lambdas.workflow_tasks.handler import PaymentRefused
from stacks.config import ConfigError, FunctionLimits
from stacks.constructs.workflow_definition import (
    THROTTLE_RETRY,
    TRANSIENT_RETRY,
    _task,
    lifecycle_definition,
    required_task_concurrency,
    tasks_per_execution,
)

FAILURE_HANDLER = "MarkFailed"
EXHAUSTED = "RetryBudgetExhausted"
# Written out here, independently of the construct: what a throttle or a transient error is named.
THROTTLES = {"Lambda.TooManyRequestsException", "Lambda.EC2ThrottledException", "ThrottlingError"}
TRANSIENTS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ResourceNotReadyException",
    "Sandbox.Timedout",
    "States.Timeout",
    "TransientError",
}
# Names that match a transient error among others: a Catch with one of them catches one too.
CATCH_ALLS = {"States.ALL", "States.TaskFailed"}
# The budgets the code and README state, in seconds (worst case: every jittered wait at its maximum).
THROTTLE_WORST_CASE_S = 431
TRANSIENT_WORST_CASE_S = 89
# The old single retrier (3 attempts, 1 s, backoff 2) gave a throttle 1 + 2 + 4 = 7 s.
OLD_BUDGET_S = 7


def targets(state: dict[str, Any]) -> list[str]:
    """Every state name a state can transition to."""
    found = [state["Next"]] if "Next" in state else []
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


def graph_errors(definition: dict[str, Any]) -> list[str]:
    """What real Step Functions (or common sense) would refuse in ``definition``."""
    states = definition["States"]
    errors = []
    if definition.get("StartAt") not in states:
        errors.append(f"StartAt {definition.get('StartAt')!r} is not a state")
    for name, state in states.items():
        errors += [f"{name} -> {t!r} is not a state" for t in targets(state) if t not in states]
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        if not terminal and state["Type"] != "Choice" and "Next" not in state:
            errors.append(f"{name} neither ends nor has a Next")
        if state["Type"] == "Task":
            retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
            if not THROTTLES.issubset(retried) or not TRANSIENTS.issubset(retried):
                errors.append(f"{name} does not retry every throttle and transient error")
            catches = state.get("Catch", [])
            into_failure = {e for c in catches if c["Next"] == FAILURE_HANDLER for e in c["ErrorEquals"]}
            if into_failure & (THROTTLES | TRANSIENTS | CATCH_ALLS):
                errors.append(
                    f"{name} fails the payment on {sorted(into_failure & (THROTTLES | TRANSIENTS | CATCH_ALLS))}"
                )
            if name != FAILURE_HANDLER and into_failure != {"PaymentRefused"}:
                errors.append(f"{name} does not send a payment refusal to {FAILURE_HANDLER}")
            exhausted = {e for c in catches if c["Next"] == EXHAUSTED for e in c["ErrorEquals"]}
            if exhausted != THROTTLES | TRANSIENTS:
                errors.append(f"{name} does not end an exhausted retry budget in {EXHAUSTED}")
    reachable, todo = set(), [definition.get("StartAt")]
    while todo:
        name = todo.pop()
        if name in states and name not in reachable:
            reachable.add(name)
            todo += targets(states[name])
    errors += [f"{name} is unreachable" for name in states if name not in reachable]
    return errors


def definition_of(stack: Any) -> dict[str, Any]:
    _, machine = stack.only("aws_sfn_state_machine")
    definition: dict[str, Any] = json.loads(machine["definition"])
    return definition


def test_state_machine_is_standard(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    assert machine["type"] == "STANDARD"
    assert machine["name"] == "paygate-dev-payment-lifecycle"


def test_definition_is_a_sound_graph(stack) -> None:
    assert graph_errors(definition_of(stack)) == []


def test_definition_has_a_fail_state_reached_from_the_failure_handler(stack) -> None:
    states = definition_of(stack)["States"]
    fails = [name for name, state in states.items() if state["Type"] == "Fail"]
    assert fails
    assert set(targets(states[FAILURE_HANDLER])) <= set(fails)


def test_every_task_invokes_the_workflow_function_within_a_timeout_above_its_own(stack) -> None:
    function_id, function = stack.function("workflow_tasks")
    tasks = [s for s in definition_of(stack)["States"].values() if s["Type"] == "Task"]
    assert len(tasks) >= 5
    for task in tasks:
        assert task["Resource"] == "arn:${data.aws_partition.partition.partition}:states:::lambda:invoke"
        assert task["Parameters"]["FunctionName"] == stack.ref("aws_lambda_function", function_id, "arn")
        assert task["OutputPath"] == "$.Payload"
        assert task["TimeoutSeconds"] > function["timeout"]


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (lambda d: d.update(StartAt="Nowhere"), "StartAt 'Nowhere' is not a state"),
        (lambda d: d["States"]["Screen"].update(Next="Nowhere"), "Screen -> 'Nowhere' is not a state"),
        (
            lambda d: d["States"]["ScreeningDecision"].update(Default="Gone"),
            "ScreeningDecision -> 'Gone' is not a state",
        ),
        (lambda d: d["States"]["Record"].pop("Retry"), "Record does not retry every throttle and transient error"),
        (
            lambda d: d["States"]["Record"]["Retry"].pop(0),
            "Record does not retry every throttle and transient error",
        ),
        (
            lambda d: d["States"]["Authorize"].pop("Catch"),
            "Authorize does not send a payment refusal to MarkFailed",
        ),
        (
            lambda d: d["States"]["Authorize"]["Catch"][0]["ErrorEquals"].append("States.ALL"),
            "Authorize fails the payment on ['States.ALL']",
        ),
        (
            lambda d: d["States"]["Screen"]["Catch"][0]["ErrorEquals"].append("ThrottlingError"),
            "Screen fails the payment on ['ThrottlingError']",
        ),
        (
            lambda d: d["States"]["MarkFailed"]["Catch"].insert(
                0, {"ErrorEquals": ["States.TaskFailed"], "Next": "MarkFailed"}
            ),
            "MarkFailed fails the payment on ['States.TaskFailed']",
        ),
        (
            lambda d: d["States"]["Notify"]["Catch"].pop(),
            "Notify does not end an exhausted retry budget in RetryBudgetExhausted",
        ),
        (lambda d: d["States"]["Notify"].pop("End"), "Notify neither ends nor has a Next"),
        (lambda d: d["States"].update(Orphan={"Type": "Succeed"}), "Orphan is unreachable"),
    ],
)
def test_graph_check_refuses_a_broken_definition(breakage: Any, error: str) -> None:
    definition = lifecycle_definition("arn:aws:lambda:eu-west-1:123456789012:function:f", task_timeout=10)
    assert graph_errors(definition) == []
    breakage(definition)
    assert error in graph_errors(definition)


def test_logging_excludes_execution_data(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    log_id, _ = stack.named("aws_cloudwatch_log_group", "/aws/vendedlogs/states/paygate-dev-payment-lifecycle")
    logging = machine["logging_configuration"]

    assert logging["include_execution_data"] is False  # payment data must not reach the logs
    assert logging["level"] in ("ALL", "ERROR", "FATAL")
    assert logging["log_destination"] == f"{stack.ref('aws_cloudwatch_log_group', log_id, 'arn')}:*"


def test_tracing_is_on(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    assert machine["tracing_configuration"] == {"enabled": True}


def test_workflow_role_is_assumable_only_by_step_functions_of_this_account(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    role_id = machine["role_arn"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
    (trust,) = json.loads(stack.resources("aws_iam_role")[role_id]["assume_role_policy"])["Statement"]

    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": stack.ACCOUNT}}


def test_workflow_role_invokes_only_the_workflow_function(stack) -> None:
    _, machine = stack.only("aws_sfn_state_machine")
    function_id, _ = stack.function("workflow_tasks")
    role_id = machine["role_arn"].removeprefix("${aws_iam_role.").removesuffix(".arn}")
    (policy_id, policy), *others = [
        (rid, p)
        for rid, p in stack.resources("aws_iam_role_policy").items()
        if p["role"] == stack.ref("aws_iam_role", role_id, "id")
    ]
    invoke = stack.statement(policy["policy"], "InvokeWorkflowTasks")
    arn = stack.ref("aws_lambda_function", function_id, "arn")

    assert others == []
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == [arn, f"{arn}:*"]
    assert f"aws_iam_role_policy.{policy_id}" in machine["depends_on"]


def test_a_task_ends_or_moves_on_and_always_has_the_failure_path() -> None:
    final = _task("arn:fn", "notify", None, timeout=5, partition="aws")
    middle = _task("arn:fn", "screen", "Next", timeout=5, partition="aws")

    assert [c["Next"] for c in final["Catch"]] == ["MarkFailed", EXHAUSTED]
    assert final["End"] is True
    assert middle["Next"] == "Next"
    assert [c["Next"] for c in middle["Catch"]] == ["MarkFailed", EXHAUSTED]


# --- capacity errors: retried long enough, never a payment failure (issue 10, item 6) ---------------------


def tasks(stack: Any) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in definition_of(stack)["States"].items() if s["Type"] == "Task"}


def retrier_for(state: dict[str, Any], error: str) -> dict[str, Any]:
    """The retrier Step Functions applies to ``error``: the first whose ErrorEquals names it."""
    return next(r for r in state["Retry"] if error in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"])


def worst_case_wait_seconds(retrier: dict[str, Any]) -> float:
    """Every retry's wait at its maximum: IntervalSeconds * BackoffRate ** n, capped at MaxDelaySeconds."""
    return sum(
        min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n, retrier.get("MaxDelaySeconds", math.inf))
        for n in range(retrier["MaxAttempts"])
    )


def test_every_task_state_retries_throttles_and_transient_errors_with_their_own_budgets(stack) -> None:
    for name, state in tasks(stack).items():
        throttle = retrier_for(state, "Lambda.TooManyRequestsException")
        transient = retrier_for(state, "Lambda.ServiceException")
        assert throttle is not transient, name
        assert set(throttle["ErrorEquals"]) == THROTTLES, name
        assert set(transient["ErrorEquals"]) == TRANSIENTS, name
        for retrier in (throttle, transient):  # exponential, capped, jittered (Step Functions Retry fields)
            assert retrier["BackoffRate"] > 1, name
            assert retrier["JitterStrategy"] == "FULL", name
            assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"], name
        assert worst_case_wait_seconds(throttle) == THROTTLE_WORST_CASE_S, name
        assert worst_case_wait_seconds(transient) == TRANSIENT_WORST_CASE_S, name


def test_each_budget_in_seconds() -> None:
    """Worst case (each jittered wait at its maximum) and mean (full jitter: half) of each retrier."""
    assert THROTTLE_RETRY.waits_seconds() == [1, 2, 4, 8, 16] + [20] * 20
    assert (THROTTLE_RETRY.worst_case_wait_seconds, THROTTLE_RETRY.expected_wait_seconds) == (431, 215.5)
    assert TRANSIENT_RETRY.waits_seconds() == [2, 4, 8] + [15] * 5
    assert (TRANSIENT_RETRY.worst_case_wait_seconds, TRANSIENT_RETRY.expected_wait_seconds) == (89, 44.5)
    # Throttles get minutes, far beyond the 7 s that failed 57 of 198 payments; other errors less.
    assert THROTTLE_RETRY.expected_wait_seconds >= 30 * OLD_BUDGET_S
    assert TRANSIENT_RETRY.worst_case_wait_seconds < THROTTLE_RETRY.expected_wait_seconds
    # Even the first five throttle retries cover 15 s at most (jitter draws each wait from [0, max]); the
    # remaining 20 give 200 s on average, so a throttle of a few seconds never exhausts the budget.
    assert sum(THROTTLE_RETRY.waits_seconds()[:5]) == 31


def test_a_state_takes_at_most_its_attempts_times_its_timeout_plus_its_waits(stack) -> None:
    """How long one task state can last before RetryBudgetExhausted (every attempt timing out, every wait maximal)."""
    for name, state in tasks(stack).items():
        attempts = 1 + sum(r["MaxAttempts"] for r in state["Retry"])
        worst = attempts * state["TimeoutSeconds"] + sum(worst_case_wait_seconds(r) for r in state["Retry"])
        assert (attempts, worst) == (34, 34 * 25 + 431 + 89), name


def test_only_a_payment_refusal_reaches_the_failure_handler(stack) -> None:
    for name, state in tasks(stack).items():
        into_failure = [c for c in state.get("Catch", []) if c["Next"] == FAILURE_HANDLER]
        if name == FAILURE_HANDLER:
            assert into_failure == []
        else:
            assert [c["ErrorEquals"] for c in into_failure] == [["PaymentRefused"]], name


def test_an_exhausted_budget_ends_the_execution_without_touching_the_payment(stack) -> None:
    states = definition_of(stack)["States"]
    exhausted = states[EXHAUSTED]
    assert exhausted["Type"] == "Fail"  # straight from the failing state: no task runs, the payment keeps its status
    assert exhausted["Error"] == EXHAUSTED
    assert exhausted["CausePath"].startswith("States.Format(") and "$.error.Error" in exhausted["CausePath"]
    for name, state in tasks(stack).items():
        (catch,) = [c for c in state["Catch"] if c["Next"] == EXHAUSTED]
        assert set(catch["ErrorEquals"]) == THROTTLES | TRANSIENTS, name
        assert catch["ResultPath"] == "$.error", name  # what the Fail state's cause names
    assert states["Failed"]["Error"] == "PaymentFailed"  # a refused payment still ends as before


def test_the_handlers_raise_exactly_the_names_the_definition_matches() -> None:
    assert ThrottlingError.__name__ in THROTTLES
    assert TransientError.__name__ in TRANSIENTS
    assert PaymentRefused.__name__ == "PaymentRefused"


def test_reserved_concurrency_covers_the_apis_start_rate(stack) -> None:
    """Little's law: starts/s x tasks per execution (run one after another) x seconds per task."""
    definition = definition_of(stack)
    _, function = stack.function("workflow_tasks")
    assert tasks_per_execution(definition) == 5  # validate, screen, authorize, record, notify
    needed = required_task_concurrency(
        starts_per_second=stack.config.api_rate_limit,
        tasks_per_execution=5,
        task_seconds=stack.config.workflow_task_p99_seconds,
    )
    assert needed == math.ceil(50 * 5 * 0.2) == 50
    assert function["reserved_concurrent_executions"] >= needed
    # A full API burst (100 executions at once) queues 100 x 5 x 0.2 s of work: 2 s at that concurrency,
    # a small fraction of what the throttle retrier waits on average.
    burst_drain_s = stack.config.api_burst_limit * 5 * stack.config.workflow_task_p99_seconds / needed
    assert burst_drain_s == 2.0
    assert burst_drain_s * 50 <= THROTTLE_RETRY.expected_wait_seconds


def test_too_little_reserved_concurrency_for_the_workflow_is_refused_at_synth(make_config, synthesize) -> None:
    config = make_config(functions={"workflow_tasks": FunctionLimits(512, 20, 10)})
    with pytest.raises(
        ConfigError, match=r"workflow_tasks: reserved concurrency 10 is below the 50 the workflow needs"
    ):
        synthesize(config)


def test_an_exhausted_budget_and_a_throttled_workflow_raise_alarms_that_notify(stack) -> None:
    """RetryBudgetExhausted fails the execution (ExecutionsFailed); Step Functions throttling is ExecutionThrottled."""
    machine_id, _ = stack.only("aws_sfn_state_machine")
    topic_id, _ = stack.topic("alarms")
    watched = {
        alarm["metric_name"]: alarm
        for alarm in stack.resources("aws_cloudwatch_metric_alarm").values()
        if alarm["namespace"] == "AWS/States"
    }
    assert set(watched) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled"}
    for alarm in watched.values():
        assert alarm["dimensions"] == {"StateMachineArn": stack.ref("aws_sfn_state_machine", machine_id, "arn")}
        assert (alarm["comparison_operator"], alarm["threshold"], alarm["statistic"]) == (
            "GreaterThanThreshold",
            0,
            "Sum",
        )
        assert alarm["alarm_actions"] == [stack.ref("aws_sns_topic", topic_id, "arn")]


# --- a re-driven payment resumes where its audit trail stopped (issue 11, reconciliation) -----------------


def resumes_at(definition: dict[str, Any], status: str) -> str:
    """The state a run goes to after Validate for a payment in ``status`` (the Choice as Step Functions reads it)."""
    choice = definition["States"][definition["States"]["Validate"]["Next"]]
    assert choice["Type"] == "Choice"
    matched = [c["Next"] for c in choice["Choices"] if c["Variable"] == "$.status" and c["StringEquals"] == status]
    return matched[0] if matched else choice["Default"]


@pytest.mark.parametrize(
    ("status", "first_task"),
    [
        ("PENDING", "Screen"),  # a new payment is screened
        ("AUTHORIZED", "Record"),  # authorized: captured, never screened or authorized again
        ("CAPTURED", "Notify"),  # processing ended: only its event, if it did not go out
        ("DECLINED", "Notify"),
        ("FAILED", "Notify"),
        ("SETTLED", "Notify"),
    ],
)
def test_a_run_resumes_after_validate_at_the_step_the_payments_status_needs(
    stack, status: str, first_task: str
) -> None:
    assert resumes_at(definition_of(stack), status) == first_task


def test_every_in_flight_status_resumes_at_a_step_that_moves_it_and_no_other_does() -> None:
    """The Choice's statuses are the lifecycle's in-flight ones: a status added to the lifecycle cannot fall through
    to Notify unnoticed (and leave its payment in flight after a successful run)."""
    definition = lifecycle_definition("arn:fn", task_timeout=5)
    moving = {s.value for s in Status if resumes_at(definition, s.value) != "Notify"}
    assert moving == {s.value for s in IN_FLIGHT}
