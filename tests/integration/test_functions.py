"""Lambda functions as deployed: the artifact's code as the platform's profile signed it, runtime and limits, traced,
with a dead-letter queue (PCI DSS 6.5.1-6.5.4: what runs is the reviewed, tested change; 6.3.3: a supported
runtime)."""

from __future__ import annotations

from typing import Any

from stacks import constants
from tests import signed_code
from tests.integration.declared import Resource
from tests.integration.system import System


def configurations(system: System) -> dict[str, dict[str, Any]]:
    lambda_ = system.client("lambda")
    return {name: lambda_.get_function_configuration(FunctionName=name) for name in system.function_names()}


def declared_upload(system: System, function: Resource) -> Resource:
    """The ``aws_s3_object`` upload whose signed object the declared function deploys (function -> job -> upload)."""
    job = system.declared.referenced("aws_signer_signing_job", function.arguments["s3_key"])
    return system.declared.referenced("aws_s3_object", job.arguments["source"]["s3"]["key"])


def test_every_function_runs_the_artifacts_archive_as_the_platform_profile_signed_it(system: System) -> None:
    """Archive -> its upload's version -> a signing job of the platform profile -> the code the function runs
    (``tests/signed_code.py``); on AWS the signed package differs from the archive, so it is matched by content."""
    declared = system.declared.by("aws_lambda_function", "function_name")
    profile = system.deployment.outputs[constants.OUTPUT_SIGNING_PROFILE_NAME]
    version_arn = str(system.deployment.outputs[constants.OUTPUT_SIGNING_PROFILE_VERSION_ARN])

    for name in system.function_names():
        upload = declared_upload(system, declared[name])
        job = signed_code.running_signing_job(system, name, profile)
        assert job["source"]["s3"]["key"] == upload.arguments["key"], name
        assert signed_code.source_sha256(system, job) == signed_code.hex_to_code_sha256(upload.arguments["source_hash"])
        assert version_arn.endswith(f"/{job['profileVersion']}"), name


def test_every_function_enforces_the_platform_code_signing_config(system: System) -> None:
    """PCI DSS 6.5.1 / 11.5.2: Lambda refuses code the platform profile did not sign (``Enforce``, not ``Warn``)."""
    lambda_ = system.client("lambda")
    config_arn = system.deployment.outputs[constants.OUTPUT_CODE_SIGNING_CONFIG_ARN]

    config = lambda_.get_code_signing_config(CodeSigningConfigArn=config_arn)["CodeSigningConfig"]

    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert config["AllowedPublishers"] == {
        "SigningProfileVersionArns": [system.deployment.outputs[constants.OUTPUT_SIGNING_PROFILE_VERSION_ARN]]
    }
    for name in system.function_names():
        assert lambda_.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == config_arn


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
