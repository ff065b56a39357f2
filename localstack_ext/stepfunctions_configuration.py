"""Step Functions encryption and tracing configuration answered as AWS answers them.

LocalStack 2026.3 (``services/stepfunctions/provider.py``, ``backend/state_machine.py``,
``backend/activity.py``):

- ``CreateStateMachine`` stores ``tracingConfiguration`` but ``DescribeStateMachine`` (and
  ``DescribeStateMachineForExecution``) never answer it; ``encryptionConfiguration`` is not even stored.
  ``UpdateStateMachine`` ignores both and refuses a request that changes only one of them
  (``MissingRequiredParameter``). ``CreateActivity``/``DescribeActivity`` drop ``encryptionConfiguration``.
- So Terraform plans ``encryption_configuration`` and ``tracing_configuration { enabled = true }`` on
  every ``aws_sfn_state_machine`` after each apply (a perpetual diff).

AWS (Step Functions API reference: ``DescribeStateMachine``, ``DescribeStateMachineForExecution``,
``DescribeActivity``, ``UpdateStateMachine``, ``EncryptionConfiguration``; the answers LocalStack itself
recorded from AWS in ``tests/aws/services/stepfunctions/v2/*.snapshot.json``) answers
``tracingConfiguration`` (``{"enabled": false}`` when none was given) and ``encryptionConfiguration``
(``{"type": "AWS_OWNED_KEY"}`` when none was given; ``type``, ``kmsKeyId`` and
``kmsDataKeyReusePeriodSeconds`` for ``CUSTOMER_MANAGED_KMS_KEY``), lets ``UpdateStateMachine`` change
either alone (a new revision), keeps them with each published version, and treats a ``CreateStateMachine``
with the same name but another encryption configuration as ``StateMachineAlreadyExists``.

This hook stores the encryption configuration (refusing a customer-managed type without ``kmsKeyId``
with ``InvalidEncryptionConfiguration`` and a reuse period outside 60-900 s with ``ValidationException``),
applies both configurations on update, copies them into published versions and answers them in the three
describe operations. Nothing is encrypted or traced: LocalStack has neither KMS envelope encryption of
executions nor X-Ray.

Applied by ``aws_answers.py`` once LocalStack imports ``localstack.services.stepfunctions.provider``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from localstack.aws.api.stepfunctions import (
    EncryptionType,
    InvalidEncryptionConfiguration,
    StateMachineAlreadyExists,
    ValidationException,
)
from localstack.services.stepfunctions.backend import activity as activity_backend
from localstack.services.stepfunctions.backend import execution as execution_backend
from localstack.services.stepfunctions.backend import state_machine as state_machine_backend
from localstack.services.stepfunctions.provider import StepFunctionsProvider
from localstack.utils.strings import long_uid

PATCHED = "paygate_patched"
# Where the configuration lives on a state machine, version or activity (beside LocalStack's tracing_config).
ATTRIBUTE = "encryption_config"
AWS_OWNED = {"type": EncryptionType.AWS_OWNED_KEY}
TRACING_OFF = {"enabled": False}
# EncryptionConfiguration.kmsDataKeyReusePeriodSeconds, Step Functions API reference.
REUSE_PERIOD_SECONDS = range(60, 900 + 1)


def encryption_configuration(requested: dict[str, Any] | None) -> dict[str, Any] | None:
    """The configuration to store for a request (None: none given, the AWS owned key); raises AWS's errors."""
    if requested is None:
        return None
    kind = requested.get("type")
    if kind == EncryptionType.AWS_OWNED_KEY:
        return dict(AWS_OWNED)
    if kind != EncryptionType.CUSTOMER_MANAGED_KMS_KEY:
        raise ValidationException(
            f"1 validation error detected: Value '{kind}' at 'encryptionConfiguration.type' failed to satisfy "
            "constraint: Member must satisfy enum value set: [CUSTOMER_MANAGED_KMS_KEY, AWS_OWNED_KEY]"
        )
    if not requested.get("kmsKeyId"):
        raise InvalidEncryptionConfiguration(
            "Invalid encryption configuration: kmsKeyId is required when type is CUSTOMER_MANAGED_KMS_KEY"
        )
    stored = {"type": kind, "kmsKeyId": requested["kmsKeyId"]}
    if (period := requested.get("kmsDataKeyReusePeriodSeconds")) is not None:
        if period not in REUSE_PERIOD_SECONDS:
            raise ValidationException(
                f"1 validation error detected: Value '{period}' at "
                "'encryptionConfiguration.kmsDataKeyReusePeriodSeconds' failed to satisfy constraint: "
                "Member must have value between 60 and 900"
            )
        stored["kmsDataKeyReusePeriodSeconds"] = period
    return stored


def _answered(instance: Any) -> dict[str, Any]:
    return {
        "encryptionConfiguration": dict(getattr(instance, ATTRIBUTE, None) or AWS_OWNED),
        "tracingConfiguration": dict(getattr(instance, "tracing_config", None) or TRACING_OFF),
    }


def _patch_create(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_state_machine(self: Any, context: Any, request: Any, **kwargs: Any) -> Any:
        encryption = encryption_configuration(request.get("encryptionConfiguration"))
        machines = self.get_store(context).state_machines
        existing = set(machines)
        output = original(self, context, request, **kwargs)
        arn = output["stateMachineArn"]
        if arn in existing:  # LocalStack's idempotent answer: AWS compares the encryption too
            if (getattr(machines[arn], ATTRIBUTE, None) or AWS_OWNED) != (encryption or AWS_OWNED):
                raise StateMachineAlreadyExists(f"State Machine Already Exists: '{arn}'")
            return output
        for created in (arn, output.get("stateMachineVersionArn")):
            if created is not None:
                setattr(machines[created], ATTRIBUTE, encryption)
        return output

    setattr(create_state_machine, PATCHED, True)
    return create_state_machine


def _patch_update(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_state_machine(self: Any, context: Any, state_machine_arn: str, **kwargs: Any) -> Any:
        tracing = kwargs.get("tracing_configuration")
        requested = kwargs.get("encryption_configuration")
        machine = self.get_store(context).state_machines.get(state_machine_arn)
        if (tracing is None and requested is None) or not isinstance(
            machine, state_machine_backend.StateMachineRevision
        ):
            return original(self, context, state_machine_arn, **kwargs)
        encryption = encryption_configuration(requested) if requested is not None else getattr(machine, ATTRIBUTE, None)
        before = (machine.tracing_config, getattr(machine, ATTRIBUTE, None), machine.revision_id)
        if (tracing if tracing is not None else machine.tracing_config, encryption) != before[:2]:
            if tracing is not None:
                machine.tracing_config = tracing
            setattr(machine, ATTRIBUTE, encryption)
            machine.revision_id = long_uid()  # what a published version is keyed by
        if not any(kwargs.get(name) for name in ("definition", "role_arn", "logging_configuration")):
            kwargs["role_arn"] = machine.role_arn  # unchanged: passes LocalStack's "nothing to update" check
        try:
            return original(self, context, state_machine_arn, **kwargs)
        except Exception:
            machine.tracing_config, encryption_before, machine.revision_id = before
            setattr(machine, ATTRIBUTE, encryption_before)
            raise

    setattr(update_state_machine, PATCHED, True)
    return update_state_machine


def _patch_create_activity(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_activity(self: Any, context: Any, name: str, **kwargs: Any) -> Any:
        encryption = encryption_configuration(kwargs.get("encryption_configuration"))
        activities = self.get_store(context).activities
        existing = set(activities)
        output = original(self, context, name, **kwargs)
        if output["activityArn"] not in existing:
            setattr(activities[output["activityArn"]], ATTRIBUTE, encryption)
        return output

    setattr(create_activity, PATCHED, True)
    return create_activity


def _patch_version_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def init(self: Any, state_machine_revision: Any, *args: Any, **kwargs: Any) -> None:
        original(self, state_machine_revision, *args, **kwargs)
        setattr(self, ATTRIBUTE, getattr(state_machine_revision, ATTRIBUTE, None))

    return init


def _with_configurations(original: Callable[..., Any], instance_of: Callable[[Any], Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def describe(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = original(self, *args, **kwargs)
        answer.update(_answered(instance_of(self)))
        return answer

    return describe


def _with_encryption(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def to_describe_activity_output(self: Any) -> Any:
        answer = original(self)
        answer["encryptionConfiguration"] = dict(getattr(self, ATTRIBUTE, None) or AWS_OWNED)
        return answer

    return to_describe_activity_output


def patch(_: object = None) -> None:
    """Patch LocalStack's Step Functions provider and backend (idempotent); the argument is unused."""
    provider = StepFunctionsProvider
    if getattr(provider.create_state_machine, PATCHED, False):
        return
    provider.create_state_machine = _patch_create(provider.create_state_machine)  # type: ignore[method-assign]
    provider.update_state_machine = _patch_update(provider.update_state_machine)  # type: ignore[method-assign]
    provider.create_activity = _patch_create_activity(provider.create_activity)  # type: ignore[method-assign]
    version = state_machine_backend.StateMachineVersion
    version.__init__ = _patch_version_init(version.__init__)  # type: ignore[method-assign]
    instance = state_machine_backend.StateMachineInstance
    instance.describe = _with_configurations(instance.describe, lambda machine: machine)  # type: ignore[method-assign]
    execution = execution_backend.Execution
    execution.to_describe_state_machine_for_execution_output = _with_configurations(  # type: ignore[method-assign]
        execution.to_describe_state_machine_for_execution_output, lambda run: run.state_machine
    )
    activity = activity_backend.Activity
    activity.to_describe_activity_output = _with_encryption(activity.to_describe_activity_output)  # type: ignore[method-assign]
