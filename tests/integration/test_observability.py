"""Logs, alarms and traces as deployed: a year of logs at least (PCI DSS 10.5.1), every failure signal
alarmed to the alarm topic (10.7.1-10.7.2: failures of critical controls detected and responded to), the
workflow and the API logged without payment data (3.3) and traced."""

from __future__ import annotations

import json

from contracts import METRICS_NAMESPACE
from stacks import constants
from stacks.config import MIN_LOG_RETENTION_DAYS
from tests.integration.deployment import Deployment
from tests.integration.system import System, redrive_target


def test_every_log_group_keeps_its_declared_retention_of_at_least_a_year(system: System) -> None:
    found = {
        resource.address: (group.get("retentionInDays"), resource.arguments["retention_in_days"])
        for resource, group in system.log_groups()
    }

    assert len(found) == 9  # 5 functions, API access + execution logs, the workflow, the web ACL
    for address, (deployed, declared) in found.items():
        assert deployed == declared, f"{address}: {deployed} days deployed, {declared} declared"
        assert deployed >= MIN_LOG_RETENTION_DAYS, address


def test_every_declared_alarm_exists_and_notifies_the_alarm_topic(system: System, deployment: Deployment) -> None:
    topic = deployment.outputs[constants.OUTPUT_ALARM_TOPIC_ARN]

    alarms = system.alarms()

    assert sorted(alarms) == system.alarm_names()
    for name, alarm in alarms.items():
        assert alarm["ActionsEnabled"] is True, name
        assert alarm["AlarmActions"] == [topic], f"{name}: {alarm['AlarmActions']}"
        assert alarm["OKActions"] == [topic], f"{name}: {alarm['OKActions']}"


def test_every_dead_letter_queue_function_workflow_and_the_api_is_watched_by_an_alarm(
    system: System, deployment: Deployment
) -> None:
    watched = {
        (alarm["Namespace"], alarm["MetricName"], dimension["Name"], dimension["Value"])
        for alarm in system.alarms().values()
        for dimension in alarm["Dimensions"]
    }
    queues = {name: system.queue_attributes(url) for name, url in system.queues().items()}
    dlq_arns = {target[0] for attributes in queues.values() if (target := redrive_target(attributes))}
    dlq_arns |= {
        system.client("lambda").get_function_configuration(FunctionName=name)["DeadLetterConfig"]["TargetArn"]
        for name in system.function_names()
    }
    api_name = system.client("apigateway").get_rest_api(restApiId=deployment.outputs[constants.OUTPUT_API_ID])["name"]

    expected = {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", arn.split(":")[-1]) for arn in dlq_arns}
    expected |= {("AWS/Lambda", "Errors", "FunctionName", name) for name in system.function_names()}
    expected |= {("AWS/Lambda", "Throttles", "FunctionName", name) for name in system.function_names()}
    state_machine = deployment.outputs[constants.OUTPUT_STATE_MACHINE_ARN]
    expected |= {
        ("AWS/States", metric, "StateMachineArn", state_machine)
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut")
    }
    expected.add(("AWS/ApiGateway", "5XXError", "ApiName", api_name))
    assert len(dlq_arns) == 3
    assert expected <= watched, sorted(expected - watched)
    assert any(namespace == METRICS_NAMESPACE for namespace, *_ in watched), "no alarm on failed workflow starts"


def test_the_workflow_logs_every_execution_without_its_data_and_is_traced(system: System) -> None:
    machine = system.state_machine()
    logging = machine.get("loggingConfiguration", {})
    log_groups = {group["arn"].removesuffix(":*") for _, group in system.log_groups()}

    assert (logging.get("level"), logging.get("includeExecutionData")) == ("ALL", False), logging
    destinations = [entry["cloudWatchLogsLogGroup"]["logGroupArn"] for entry in logging.get("destinations", [])]
    assert len(destinations) == 1 and destinations[0].removesuffix(":*") in log_groups, destinations
    assert machine["type"] == "STANDARD"
    tracing = machine.get("tracingConfiguration", {})
    assert tracing.get("enabled") is True, tracing


def test_the_api_stage_writes_access_logs_without_bodies_and_is_traced(system: System, deployment: Deployment) -> None:
    apigateway = system.client("apigateway")
    outputs = deployment.outputs

    stage = apigateway.get_stage(
        restApiId=outputs[constants.OUTPUT_API_ID], stageName=outputs[constants.OUTPUT_API_STAGE]
    )

    log_groups = {group["arn"].removesuffix(":*") for _, group in system.log_groups()}
    access = stage.get("accessLogSettings", {})
    assert access.get("destinationArn", "").removesuffix(":*") in log_groups, access
    fields = json.loads(access["format"])
    assert "requestId" in fields and not {"requestBody", "body"} & set(fields), fields
    assert stage.get("tracingEnabled") is True
    settings = stage.get("methodSettings", {}).get("*/*", {})
    assert settings.get("dataTraceEnabled") is False, settings
    assert settings.get("metricsEnabled") is True, settings
