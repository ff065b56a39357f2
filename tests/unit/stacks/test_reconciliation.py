"""The reconciliation's deployment: its schedule, what may invoke it, its settings and its still-stuck alarm."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constructs.reconciliation import rate_expression
from tests.unit.stacks.test_alarms import alarm_topic_arn, alarms_on


def test_a_rule_runs_the_function_at_the_environments_rate(stack) -> None:
    function_id, _ = stack.function("reconciliation")
    rule_id, rule = stack.only("aws_cloudwatch_event_rule")
    assert (rule["name"], rule["schedule_expression"]) == ("paygate-dev-reconciliation", "rate(5 minutes)")
    _, target = stack.only("aws_cloudwatch_event_target")
    assert target["rule"] == stack.ref("aws_cloudwatch_event_rule", rule_id, "name")
    assert target["arn"] == stack.ref("aws_lambda_function", function_id, "arn")
    # A run EventBridge could not deliver is dropped once the next is due: the next finds what it would have.
    assert target["retry_policy"] == {"maximum_event_age_in_seconds": 300, "maximum_retry_attempts": 2}


def test_only_the_rule_may_invoke_the_function_on_eventbridges_behalf(stack) -> None:
    function_id, _ = stack.function("reconciliation")
    rule_id, _ = stack.only("aws_cloudwatch_event_rule")
    function_name = stack.ref("aws_lambda_function", function_id, "function_name")
    [permission] = [p for p in stack.resources("aws_lambda_permission").values() if p["function_name"] == function_name]
    assert (permission["principal"], permission["action"]) == ("events.amazonaws.com", "lambda:InvokeFunction")
    assert permission["source_arn"] == stack.ref("aws_cloudwatch_event_rule", rule_id, "arn")


def test_one_run_at_a_time_with_the_environments_ages(stack) -> None:
    _, function = stack.function("reconciliation")
    variables = function["environment"]["variables"]
    assert function["reserved_concurrent_executions"] == 1
    assert (
        variables["RECONCILE_STUCK_AFTER_SECONDS"],
        variables["RECONCILE_ALARM_AFTER_SECONDS"],
        variables["RECONCILE_LOOKBACK_SECONDS"],
    ) == ("1800", "7200", "86400")
    batch_id, _ = stack.function("batch_processor")
    assert variables["BATCH_FUNCTION_NAME"] == stack.ref("aws_lambda_function", batch_id, "function_name")


def test_payments_or_files_still_stuck_raise_an_alarm_on_the_metric_the_function_emits(stack) -> None:
    """tests/unit/lambdas/test_reconciliation.py reads the EMF document: (service, Environment) sums both types."""
    (alarm,) = alarms_on(stack, "paygate", "ReconciliationStillStuck")
    assert alarm["dimensions"] == {"service": "reconciliation", "Environment": "dev"}
    assert (alarm["statistic"], alarm["comparison_operator"], alarm["threshold"]) == ("Sum", "GreaterThanThreshold", 0)
    assert alarm["alarm_actions"] == [alarm_topic_arn(stack)]


@pytest.mark.parametrize(("minutes", "expression"), [(1, "rate(1 minute)"), (5, "rate(5 minutes)")])
def test_the_rate_is_written_as_eventbridge_reads_it(minutes: int, expression: str) -> None:
    """EventBridge refuses rate(1 minutes) and rate(5 minute): the unit agrees with the number."""
    assert rate_expression(minutes) == expression


def test_the_rate_follows_the_environment(make_config: Any, synthesize: Any) -> None:
    _, rule = synthesize(make_config(reconciliation_every_minutes=1)).only("aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "rate(1 minute)"
