"""PaymentWorkflow: a STANDARD state machine whose definition is a sound graph with retries and a failure path.

LocalStack (and Terraform plan against it) accept a definition whose StartAt or Next names a
missing state; real Step Functions refuses it at create. The graph checks here catch that.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.constructs.workflow import _task, lifecycle_definition

FAILURE_HANDLER = "MarkFailed"


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
            if not state.get("Retry"):
                errors.append(f"{name} has no Retry")
            catches = state.get("Catch", [])
            if name != FAILURE_HANDLER and not any(
                c["Next"] == FAILURE_HANDLER and "States.ALL" in c["ErrorEquals"] for c in catches
            ):
                errors.append(f"{name} does not catch States.ALL into {FAILURE_HANDLER}")
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
        assert task["Retry"][0]["MaxAttempts"] >= 1


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (lambda d: d.update(StartAt="Nowhere"), "StartAt 'Nowhere' is not a state"),
        (lambda d: d["States"]["Screen"].update(Next="Nowhere"), "Screen -> 'Nowhere' is not a state"),
        (
            lambda d: d["States"]["ScreeningDecision"].update(Default="Gone"),
            "ScreeningDecision -> 'Gone' is not a state",
        ),
        (lambda d: d["States"]["Record"].pop("Retry"), "Record has no Retry"),
        (lambda d: d["States"]["Authorize"].pop("Catch"), "Authorize does not catch States.ALL into MarkFailed"),
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

    assert final["Catch"][0]["Next"] == "MarkFailed"
    assert final["End"] is True
    assert middle["Next"] == "Next"
    assert middle["Catch"][0]["Next"] == "MarkFailed"
