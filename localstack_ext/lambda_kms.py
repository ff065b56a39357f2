"""Lambda's customer-managed key answered as AWS answers it: ``KMSKeyArn`` in the function's configuration.

LocalStack 2026.3 accepts ``KMSKeyArn`` on ``CreateFunction`` and ``UpdateFunctionConfiguration`` and
drops it: ``VersionFunctionConfiguration`` (``lambda_/invocation/lambda_models.py``) has no field for it
(``# kms_key_arn: str`` is commented out) and ``api_utils.map_config_out`` never renders it. So
``GetFunction``/``GetFunctionConfiguration``/``ListFunctions`` answer without the key, and Terraform plans
``+ kms_key_arn = "arn:aws:kms:..."`` on every ``aws_lambda_function`` after each apply (a perpetual diff).

AWS keeps the key of the function's environment variables and answers it as ``KMSKeyArn`` in
``FunctionConfiguration`` (Lambda API reference, ``GetFunctionConfiguration``: "KMSKeyArn: The ARN of
the AWS KMS key that's used to encrypt the function's environment variables ... Pattern:
``(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()``"); an empty ``KMSKeyArn`` on update returns the function
to the AWS managed key, after which the field is absent again. Published versions keep the key they
were published with.

This hook gives the configuration a ``kms_key_arn`` field (a subclass of LocalStack's frozen dataclass,
so every ``dataclasses.replace`` of a version, its state changes and publishing carry it along), sets it
while the configuration of the request is built (a context variable read in ``__post_init__``, so no
second write races LocalStack's asynchronous state update), refuses a value outside AWS's pattern with
AWS's ``ValidationException``, and renders it as ``KMSKeyArn``. Nothing is encrypted: LocalStack still
keeps environment variables in plain text.

Applied by ``aws_answers.py`` once LocalStack imports ``localstack.services.lambda_.provider``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

from localstack.services.lambda_ import api_utils
from localstack.services.lambda_ import provider as lambda_provider
from localstack.services.lambda_.invocation import lambda_models
from localstack.services.lambda_.invocation.lambda_models import ValidationException

# FunctionConfiguration.KMSKeyArn in the Lambda API reference (an empty value means "the AWS managed key").
KMS_KEY_ARN_PATTERN = re.compile(r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")
PATCHED = "paygate_patched"

# The KMSKeyArn of the request being handled on this thread: None when the request does not set it.
_requested: contextvars.ContextVar[str | None] = contextvars.ContextVar("paygate_requested_kms_key_arn", default=None)


@dataclasses.dataclass(frozen=True)
class VersionFunctionConfiguration(lambda_models.VersionFunctionConfiguration):
    """LocalStack's version configuration plus the function's customer-managed key (None: the AWS managed key)."""

    kms_key_arn: str | None = None

    def __post_init__(self) -> None:
        requested = _requested.get()
        if requested is not None:
            object.__setattr__(self, "kms_key_arn", requested or None)


def _validated(value: object) -> str:
    if not isinstance(value, str) or KMS_KEY_ARN_PATTERN.fullmatch(value) is None:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'kMSKeyArn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {KMS_KEY_ARN_PATTERN.pattern}"
        )
    return value


def _with_requested_key(operation: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a provider operation taking ``(self, context, request)``: its configurations get the request's key."""

    @functools.wraps(operation)  # keeps LocalStack's @handler marks (operation, expand_parameters, pass_context)
    def wrapped(self: Any, context: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if "KMSKeyArn" not in request:
            return operation(self, context, request, *args, **kwargs)
        token = _requested.set(_validated(request["KMSKeyArn"]))
        try:
            return operation(self, context, request, *args, **kwargs)
        finally:
            _requested.reset(token)

    setattr(wrapped, PATCHED, True)
    return wrapped


def _map_config_out(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def map_config_out(version: Any, *args: Any, **kwargs: Any) -> Any:
        configuration = original(version, *args, **kwargs)
        if kms_key_arn := getattr(version.config, "kms_key_arn", None):
            configuration["KMSKeyArn"] = kms_key_arn
        return configuration

    setattr(map_config_out, PATCHED, True)
    return map_config_out


def patch(_: object = None) -> None:
    """Patch LocalStack's Lambda provider (idempotent); the argument is the imported module, unused."""
    if getattr(api_utils.map_config_out, PATCHED, False):
        return
    lambda_provider.VersionFunctionConfiguration = VersionFunctionConfiguration  # type: ignore[misc]
    provider = lambda_provider.LambdaProvider
    provider.create_function = _with_requested_key(provider.create_function)  # type: ignore[method-assign]
    provider.update_function_configuration = _with_requested_key(  # type: ignore[method-assign]
        provider.update_function_configuration
    )
    api_utils.map_config_out = _map_config_out(api_utils.map_config_out)
