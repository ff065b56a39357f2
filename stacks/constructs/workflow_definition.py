"""The payment lifecycle as Amazon States Language: its tasks, their retriers and budgets, its failure paths.

Pure data (no constructs): ``stacks/constructs/workflow.py`` deploys it, the tests read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Error names the retriers match. Lambda's own errors on the invoke reach Retry as Lambda.<Code> (the
# optimized integration); the function's own errors by their type: the handler re-raises whatever the
# SDK gave up on as ThrottlingError or TransientError (lambdas/shared/aws.py) and a payment's refusal
# as PaymentRefused. Nothing else is retried or caught: a bug ends the execution with its own name.
THROTTLE_ERRORS = (
    "Lambda.TooManyRequestsException",  # reserved or account concurrency used up
    "Lambda.EC2ThrottledException",
    "ThrottlingError",  # DynamoDB, SNS, KMS throttles the task met after its SDK retries
)
TRANSIENT_ERRORS = (
    # AWS's list for Lambda tasks ("Handle transient Lambda service exceptions", Step Functions guide).
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ResourceNotReadyException",  # the function is being created or updated
    "Sandbox.Timedout",  # the function ran past its timeout (every task is idempotent)
    "States.Timeout",  # the task ran past TimeoutSeconds
    "TransientError",  # 5xx, timeouts, broken connections, DynamoDB transaction conflicts
)
PAYMENT_ERRORS = ("PaymentRefused",)  # the only errors that fail a payment (workflow_tasks handler)
FAILURE_HANDLER = "MarkFailed"
RESUME = "ResumeFrom"
# Where a run resumes, by the status Validate read (lambdas/shared/lifecycle.py IN_FLIGHT): a new payment is
# screened, an authorized one captured; any other status means processing ended, and the run only publishes
# the payment's event if it has not gone out. A re-driven payment (lambdas/reconciliation) thus never repeats
# a step its audit trail already has, and never moves a payment whose processing ended.
RESUME_AT = {"PENDING": "Screen", "AUTHORIZED": "Record"}
RESUME_DEFAULT = "Notify"
PAYMENT_FAILED = "Failed"
RETRY_BUDGET_EXHAUSTED = "RetryBudgetExhausted"


@dataclass(frozen=True)
class Retrier:
    """One Step Functions retrier with exponential backoff, a cap and full jitter; budgets in seconds.

    Step Functions waits ``min(IntervalSeconds * BackoffRate ** (n - 1), MaxDelaySeconds)`` before
    retry n, and with ``JitterStrategy: FULL`` a uniformly random part of that (Step Functions
    developer guide, "Handling errors": Retry fields).
    """

    errors: tuple[str, ...]
    interval_seconds: int
    backoff_rate: float
    max_delay_seconds: int
    max_attempts: int

    def waits_seconds(self) -> list[float]:
        """The wait before each retry before jitter (the most jitter can make it), in seconds."""
        return [
            min(self.interval_seconds * self.backoff_rate**n, float(self.max_delay_seconds))
            for n in range(self.max_attempts)
        ]

    @property
    def worst_case_wait_seconds(self) -> float:
        """The longest the retries of one state can wait in all (every jittered wait at its maximum)."""
        return sum(self.waits_seconds())

    @property
    def expected_wait_seconds(self) -> float:
        """The mean total wait (full jitter draws each wait uniformly from [0, max])."""
        return self.worst_case_wait_seconds / 2

    def asl(self) -> dict[str, Any]:
        return {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "BackoffRate": self.backoff_rate,
            "MaxDelaySeconds": self.max_delay_seconds,
            "MaxAttempts": self.max_attempts,
            "JitterStrategy": "FULL",
        }


# Throttles: a capacity limit clears as running invocations finish, so keep trying for minutes
# (waits 1, 2, 4, 8, 16, then 20 s: at most 431 s, 215.5 s on average), spread by jitter so that
# throttled executions do not come back in step. README "Concurrency sizing" has the arithmetic.
THROTTLE_RETRY = Retrier(THROTTLE_ERRORS, interval_seconds=1, backoff_rate=2.0, max_delay_seconds=20, max_attempts=25)
# Other transient errors: at most 2 + 4 + 8 + 15 * 5 = 89 s of waits (44.5 s on average).
TRANSIENT_RETRY = Retrier(TRANSIENT_ERRORS, interval_seconds=2, backoff_rate=2.0, max_delay_seconds=15, max_attempts=8)
RETRIERS = (THROTTLE_RETRY, TRANSIENT_RETRY)


def lambda_invoke(partition: str) -> str:
    """The optimized Lambda integration: Lambda's own errors reach Retry as Lambda.<Code> (a throttle is
    Lambda.TooManyRequestsException); the state's output is the function's result (OutputPath)."""
    return f"arn:{partition}:states:::lambda:invoke"


def _invoke(function_arn: str, task: str, partition: str) -> dict[str, Any]:
    return {
        "Resource": lambda_invoke(partition),
        "Parameters": {"FunctionName": function_arn, "Payload": {"task": task, "payment.$": "$"}},
        "OutputPath": "$.Payload",
    }


def _task(function_arn: str, task: str, next_state: str | None, *, timeout: int, partition: str) -> dict[str, Any]:
    """A task retried on capacity errors; a payment refusal -> MarkFailed; an exhausted budget -> its Fail state."""
    catches = [
        {"ErrorEquals": list(PAYMENT_ERRORS), "ResultPath": "$.error", "Next": FAILURE_HANDLER},
        {"ErrorEquals": [*THROTTLE_ERRORS, *TRANSIENT_ERRORS], "ResultPath": "$.error", "Next": RETRY_BUDGET_EXHAUSTED},
    ]
    if task == "fail":  # the failure handler itself: a refusal here has nowhere further to go
        catches = catches[1:]
    state: dict[str, Any] = {
        "Type": "Task",
        **_invoke(function_arn, task, partition),
        "TimeoutSeconds": timeout,
        "Retry": [retrier.asl() for retrier in RETRIERS],
        "Catch": catches,
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def lifecycle_definition(function_arn: str, *, task_timeout: int, partition: str = "aws") -> dict[str, Any]:
    """validate -> (by status: screen -> (authorize -> record | decline) | record | nothing) -> notify.

    A payment refusal -> MarkFailed -> Failed. A capacity error that outlasts its retrier ->
    RetryBudgetExhausted, straight from the state that met it: the payment keeps its (non-final)
    status, for the reconciliation to resume, and the failed execution raises the ExecutionsFailed alarm.
    """
    t = task_timeout

    def task(name: str, next_state: str | None) -> dict[str, Any]:
        return _task(function_arn, name, next_state, timeout=t, partition=partition)

    return {
        "Comment": "paygate payment lifecycle",
        "StartAt": "Validate",
        "States": {
            "Validate": task("validate", RESUME),
            RESUME: {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.status", "StringEquals": status, "Next": state}
                    for status, state in RESUME_AT.items()
                ],
                "Default": RESUME_DEFAULT,
            },
            "Screen": task("screen", "ScreeningDecision"),
            "ScreeningDecision": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.decision", "StringEquals": "APPROVE", "Next": "Authorize"}],
                "Default": "Decline",
            },
            "Authorize": task("authorize", "Record"),
            "Record": task("record", "Notify"),
            "Decline": task("decline", "Notify"),
            "Notify": task("notify", None),
            FAILURE_HANDLER: task("fail", PAYMENT_FAILED),
            PAYMENT_FAILED: {
                "Type": "Fail",
                "Error": "PaymentFailed",
                "Cause": "The payment was refused by a payment rule and marked FAILED",
            },
            RETRY_BUDGET_EXHAUSTED: {
                "Type": "Fail",
                "Error": RETRY_BUDGET_EXHAUSTED,
                # The error's name only: its cause may quote the function's message.
                "CausePath": "States.Format('{} outlasted the retry budget; the payment keeps its status for "
                "reconciliation', $.error.Error)",
            },
        },
    }


def tasks_per_execution(definition: dict[str, Any]) -> int:
    """Task states on the longest error-free path of ``definition`` (an execution runs them one after another)."""
    states: dict[str, dict[str, Any]] = definition["States"]

    def longest(name: str, seen: frozenset[str]) -> int:
        state = states[name]
        following = [state["Next"]] if "Next" in state else []
        following += [choice["Next"] for choice in state.get("Choices", [])]
        following += [state["Default"]] if "Default" in state else []
        rest = max((longest(n, seen | {name}) for n in following if n not in seen), default=0)
        return int(state["Type"] == "Task") + rest

    return longest(definition["StartAt"], frozenset())


def required_task_concurrency(*, starts_per_second: float, tasks_per_execution: int, task_seconds: float) -> int:
    """Concurrent task invocations the workflow needs at a steady start rate (Little's law), rounded up.

    Each execution holds at most one task invocation at a time, for ``task_seconds``, ``tasks_per_execution``
    times; so ``starts_per_second`` executions a second keep ``starts * tasks * seconds`` invocations busy.
    """
    return math.ceil(starts_per_second * tasks_per_execution * task_seconds)
