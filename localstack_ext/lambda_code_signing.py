"""Lambda code signing on LocalStack as AWS applies it: the config kept from create, ``Enforce`` refusing unsigned code.

LocalStack 2026.3 stores code-signing configs (``CreateCodeSigningConfig``, ``PutFunctionCodeSigningConfig``)
but ``CreateFunction`` drops its ``CodeSigningConfigArn``: ``GetFunctionCodeSigningConfig`` then answers none,
Terraform plans ``+ code_signing_config_arn`` after every apply (a perpetual diff), and no code is ever checked.

AWS (Lambda developer guide, "Configuring code signing for Lambda"; API reference, ``CreateFunction``,
``UpdateFunctionCode``): a function created with ``CodeSigningConfigArn`` keeps that config; at create and at
every code update Lambda checks the code package's signature against the config's allowed publishers (signing
profile *versions*) and its expiry. With ``UntrustedArtifactOnDeployment = Enforce`` a failed check blocks the
deployment with ``CodeVerificationFailedException``; with ``Warn`` it is logged and the deployment goes on. An
unknown config is ``CodeSigningConfigNotFoundException``.

LocalStack also answers ``ListTags``/``TagResource``/``UntagResource`` on a config's ARN with ``501`` ("Resource
tagging on CSC not yet implemented") and drops ``CreateCodeSigningConfig``'s ``Tags``; the AWS provider (5.x) lists
a config's tags after creating it, so the apply fails. Configs are taggable on AWS (Lambda API reference,
``TagResource``: "functions, event source mappings and code signing configurations"), so the patch keeps their tags
in the store Lambda keeps functions' tags in, after checking the config exists (``ResourceNotFoundException``).

This patch does the same with the chain of custody ``signer.py`` records: code in ``s3://bucket/key`` is signed
by a profile version when a signing job of that version wrote that object
(:func:`localstack_ext.signer.signing_job_of`), the object is unchanged since (its ETag) and the signature has not
expired. Code uploaded as ``ZipFile`` or any object no job wrote is unsigned. No cryptographic signature is
checked (``signer.py`` computes none). Not checked either: layers (AWS checks each layer version's signature under
the config; the stack has no layers) and revocation (moto implements none). The function's config is recorded just
after LocalStack's create returns, so an update racing its own create is not checked.

Applied by ``aws_answers.py`` once LocalStack imports ``localstack.services.lambda_.provider``.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from localstack.aws.api.lambda_ import (
    CodeSigningConfigNotFoundException,
    CodeVerificationFailedException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from localstack.aws.connect import connect_to
from localstack.services.lambda_ import api_utils
from localstack.services.lambda_ import provider as lambda_provider
from localstack.services.lambda_.invocation.lambda_service import lambda_stores

from localstack_ext.signer import signing_job_of

LOG = logging.getLogger(__name__)
PATCHED = "paygate_code_signing"
ENFORCE = "Enforce"
# The message AWS answers CodeVerificationFailedException with (Lambda API reference, Errors).
VERIFICATION_FAILED = (
    "The code signature failed one or more of the validation checks for signature mismatch or expiry, "
    "and the code signing policy is set to ENFORCE. Lambda blocks the deployment."
)


def untrusted_reason(account_id: str, region: str, code: Mapping[str, Any], allowed: list[str]) -> str | None:
    """Why ``code`` is untrusted under the ``allowed`` profile version ARNs; None if trusted.

    ``code``: ``CreateFunction``'s ``Code`` or ``UpdateFunctionCode``'s request (``S3Bucket``, ``S3Key``, optional
    ``S3ObjectVersion``, or ``ZipFile``). Trusted: an object a signing job of an allowed profile version wrote,
    unchanged since (same ETag), whose signature has not expired.

    Raises ``InvalidParameterValueException`` for an ``ImageUri`` (Lambda signs no container image) and for an
    object S3 cannot find, with the message AWS gives (``Error occurred while GetObject. S3 Error Code: …``).
    """
    if code.get("ImageUri"):
        raise InvalidParameterValueException(
            "Lambda does not support code signing for container image functions.", Type="User"
        )
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if not bucket or not key:
        return "the code is not an object signed by AWS Signer"
    job = signing_job_of(account_id, region, bucket, key)
    if job is None:
        return f"s3://{bucket}/{key} was not written by a signing job"
    if job.profile_version_arn not in allowed:
        return f"s3://{bucket}/{key} was signed by {job.profile_version_arn}, not an allowed publisher"
    if job.signature_expires_at <= datetime.datetime.now(datetime.UTC):
        return f"the signature of s3://{bucket}/{key} expired at {job.signature_expires_at.isoformat()}"
    s3 = connect_to(aws_access_key_id=account_id, region_name=region).s3
    version = {"VersionId": code["S3ObjectVersion"]} if code.get("S3ObjectVersion") else {}
    try:
        etag = s3.head_object(Bucket=bucket, Key=key, **version)["ETag"]
    except s3.exceptions.ClientError as error:
        s3_error = error.response.get("Error", {}).get("Code", "NoSuchKey")
        raise InvalidParameterValueException(
            f"Error occurred while GetObject. S3 Error Code: {s3_error}. S3 Error Message: {error}", Type="User"
        ) from error
    if etag != job.signed_etag:
        return f"s3://{bucket}/{key} changed after signing job {job.job_id} wrote it"
    return None


def verify(account_id: str, region: str, config_arn: str, code: Mapping[str, Any]) -> None:
    """Check ``code`` of a function in ``account_id``/``region`` against the code-signing config ``config_arn``:
    raise ``CodeVerificationFailedException`` under ``Enforce``, log under ``Warn``."""
    config = lambda_stores[account_id][region].code_signing_configs.get(config_arn)
    if config is None:
        raise CodeSigningConfigNotFoundException(
            f"The code signing configuration cannot be found. Check that the provided configuration is not "
            f"deleted: {config_arn}.",
            Type="User",
        )
    allowed = list((config.allowed_publishers or {}).get("SigningProfileVersionArns") or [])
    reason = untrusted_reason(account_id, region, code, allowed)
    if reason is None:
        return
    if (config.policies or {}).get("UntrustedArtifactOnDeployment") == ENFORCE:
        raise CodeVerificationFailedException(f"{VERIFICATION_FAILED} ({reason})", Type="User")
    LOG.warning("code signing config %s (Warn): %s", config_arn, reason)


def _create_function(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)  # keeps LocalStack's @handler marks
    def create_function(self: Any, context: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        config_arn = request.get("CodeSigningConfigArn")
        account_id, region = api_utils.get_account_and_region(request.get("FunctionName", ""), context)
        if config_arn:
            verify(account_id, region, config_arn, request.get("Code") or {})
        configuration = original(self, context, request, *args, **kwargs)
        if config_arn:
            store = lambda_stores[account_id][region]
            store.functions[configuration["FunctionName"]].code_signing_config_arn = config_arn
        return configuration

    setattr(create_function, PATCHED, True)
    return create_function


def _update_function_code(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_function_code(self: Any, context: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Resolved as LocalStack's own handler resolves it: a name, a full ARN (of any account the request may
        # reach), or a partial ARN (``<account>:<name>``, ``<region>:<name>`` without ``function:``).
        account_id, region = api_utils.get_account_and_region(request.get("FunctionName", ""), context)
        name, _ = api_utils.get_name_and_qualifier(request.get("FunctionName", ""), None, context)
        function = lambda_stores[account_id][region].functions.get(name)
        if function is not None and function.code_signing_config_arn:
            verify(account_id, region, function.code_signing_config_arn, request)
        return original(self, context, request, *args, **kwargs)

    return update_function_code


CODE_SIGNING_CONFIG_RESOURCE = ":code-signing-config:"


def _taggable_resource(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def account_id_and_region(self: Any, resource: str) -> tuple[str, str]:
        if CODE_SIGNING_CONFIG_RESOURCE not in str(resource):
            return tuple(original(self, resource))  # type: ignore[return-value]
        # arn:<partition>:lambda:<region>:<account>:code-signing-config:<csc id>; LocalStack refuses anything else
        parts = str(resource).split(":")
        if len(parts) != 7 or parts[0] != "arn":
            return tuple(original(self, resource))  # type: ignore[return-value]
        region, account_id = parts[3], parts[4]
        if resource not in lambda_stores[account_id][region].code_signing_configs:
            raise ResourceNotFoundException(f"Code signing configuration not found: {resource}", Type="User")
        return account_id, region

    return account_id_and_region


def _create_code_signing_config(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create_code_signing_config(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, context, *args, **kwargs)
        if tags := kwargs.get("tags"):
            self._store_tags(response["CodeSigningConfig"]["CodeSigningConfigArn"], tags)
        return response

    return create_code_signing_config


def _delete_code_signing_config(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def delete_code_signing_config(self: Any, context: Any, code_signing_config_arn: str, **kwargs: Any) -> Any:
        response = original(self, context, code_signing_config_arn, **kwargs)
        self._remove_all_resource_tags(code_signing_config_arn, context.account_id, context.region)
        return response

    return delete_code_signing_config


def patch(_: object = None) -> None:
    """Patch LocalStack's Lambda provider (idempotent: ``create_function`` carries the mark for all five); the
    argument is the imported module, unused."""
    provider = lambda_provider.LambdaProvider
    if getattr(provider.create_function, PATCHED, False):
        return
    provider.create_function = _create_function(provider.create_function)  # type: ignore[method-assign]
    provider.update_function_code = _update_function_code(provider.update_function_code)  # type: ignore[method-assign]
    provider._get_account_id_and_region_for_taggable_resource = _taggable_resource(  # type: ignore[method-assign]
        provider._get_account_id_and_region_for_taggable_resource
    )
    provider.create_code_signing_config = _create_code_signing_config(provider.create_code_signing_config)  # type: ignore[method-assign]
    provider.delete_code_signing_config = _delete_code_signing_config(provider.delete_code_signing_config)  # type: ignore[method-assign]
