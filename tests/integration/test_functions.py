"""Lambda functions as deployed: the artifact's code, runtime and limits, traced, with a dead-letter queue
(PCI DSS 6.5.1-6.5.4: what runs is the reviewed, tested change; 6.3.3: a supported runtime)."""

from __future__ import annotations

from typing import Any

from tests.integration.system import System


def configurations(system: System) -> dict[str, dict[str, Any]]:
    lambda_ = system.client("lambda")
    return {name: lambda_.get_function_configuration(FunctionName=name) for name in system.function_names()}


def test_every_function_runs_the_artifacts_code(system: System) -> None:
    """CodeSha256 is base64 SHA-256 of the deployed archive; the artifact declares it as source_code_hash."""
    declared = system.declared.by("aws_lambda_function", "function_name")

    deployed = {name: configuration["CodeSha256"] for name, configuration in configurations(system).items()}

    assert deployed == {name: function.arguments["source_code_hash"] for name, function in declared.items()}


def test_every_function_has_the_declared_runtime_architecture_memory_and_timeout(system: System) -> None:
    declared = system.declared.by("aws_lambda_function", "function_name")

    for name, configuration in configurations(system).items():
        expected = declared[name].arguments
        assert (configuration["Runtime"], configuration["Architectures"]) == (
            expected["runtime"],
            expected["architectures"],
        ), name
        assert (configuration["MemorySize"], configuration["Timeout"]) == (
            expected["memory_size"],
            expected["timeout"],
        ), name
        assert configuration["Runtime"] == "python3.12", name


def test_every_function_has_its_declared_reserved_concurrency(system: System) -> None:
    lambda_ = system.client("lambda")
    declared = system.declared.by("aws_lambda_function", "function_name")

    deployed = {
        name: lambda_.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        for name in declared
    }

    assert deployed == {
        name: function.arguments["reserved_concurrent_executions"] for name, function in declared.items()
    }


def test_every_function_is_traced_and_sends_failed_events_to_a_dead_letter_queue(system: System) -> None:
    queues = {system.queue_attributes(url)["QueueArn"] for url in system.queues().values()}

    for name, configuration in configurations(system).items():
        assert configuration.get("TracingConfig", {}).get("Mode") == "Active", name
        target = configuration.get("DeadLetterConfig", {}).get("TargetArn")
        assert target in queues, f"{name}: dead-letter target {target} is not one of the environment's queues"
