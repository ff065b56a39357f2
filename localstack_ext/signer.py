"""AWS Signer for host-mode LocalStack: moto's signing profiles plus signing jobs (the free core has no Signer).

LocalStack's community edition ships no Signer provider and no generated ``localstack.aws.api.signer`` module.
moto's Signer backend (``moto-ext`` inside LocalStack) keeps signing profiles (``PutSigningProfile``,
``GetSigningProfile``, ``CancelSigningProfile``, ``ListSigningPlatforms``, tags) but has no signing jobs, which
is what Terraform's ``aws_signer_signing_job`` and Lambda code signing need. This provider forwards every
operation of the botocore service model to moto (``moto_service.moto_backed_service``, as ``wafv2.py`` does) except
the three job operations, which it implements over moto's profiles and LocalStack's S3:

- ``StartSigningJob``: the profile must exist in the caller's account and region and be ``Active`` (its platform is
  whatever ``PutSigningProfile`` stored: moto checks none), the source an object *version* (Signer signs only versioned
  objects: "Source: The S3 bucket that contains the object to sign ... VersionId", Signer API reference). The
  source version is copied to ``<destination prefix><job id>.zip`` in the destination bucket: that copy is the
  job's ``signedObject``. ``clientRequestToken`` makes a retried start return the first job (idempotency token).
- ``DescribeSigningJob``: the job as AWS describes it (status ``Succeeded``, profile version, platform, source,
  signed object, ``signatureExpiresAt`` = start + the profile's validity period, job owner and invoker).
- ``ListSigningJobs``: the caller's jobs, filtered by ``status`` and ``platformId``.

Every operation runs under one lock (moto's backend is not thread-safe; LocalStack serves on many threads).

Not emulated: cryptography. The signed object is a byte-for-byte copy of the source version; no signature is
computed or embedded, so Lambda's ``CodeSha256`` of a function deployed from it equals the archive's SHA-256 (on
AWS the signed archive differs from the unsigned one). What is emulated is the chain of custody Lambda's code
signing checks: which profile version signed which object, and whether that object changed since (its ETag is
kept: an object written over the signed key afterwards no longer verifies, as an altered signed archive fails on
AWS). ``lambda_code_signing.py`` reads it through
:func:`signing_job_of` to enforce a function's code-signing config (``Enforce`` refuses code that no allowed
profile version signed). Revocation (``RevokeSignature``, ``RevokeSigningProfile``), ``SignPayload`` and profile
permissions stay moto's (not implemented there: they answer an error).

Routing: botocore has two services signed as ``signer`` (``signer`` and the data plane ``signer-data``, whose one
operation is ``GET /revocations``), so LocalStack's router cannot tell them apart by signing name and falls through to
S3 (``NoSuchBucket: signing-profiles``). The hook :func:`paygate_signer_routing` adds the path rule that tells them
apart to the router's own ``signing_name_path_prefix_rules``, as LocalStack does for ``apigateway``/``apigatewayv2``.

Selected with ``PROVIDER_OVERRIDE_SIGNER=paygate`` (``pipeline/localstack/instance.py`` sets it). Registered as
the entry point ``signer:paygate`` of the plux namespace ``localstack.aws.provider``.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import uuid
from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext, ServiceRequest
from localstack.aws.connect import connect_to
from localstack.runtime import hooks
from localstack.services.plugins import Service, aws_provider

from localstack_ext.moto_service import moto_backed_service

PROVIDER_NAME = "paygate"
SERVICE = "signer"
SIGNED_OBJECT_SUFFIX = ".zip"
SUCCEEDED = "Succeeded"
# SignatureValidityPeriod.type (Signer API reference, ValidityType) in days; MONTHS counted as 30 days.
VALIDITY_DAYS = {"DAYS": 1, "MONTHS": 30, "YEARS": 365}

_lock = threading.RLock()


@dataclasses.dataclass(frozen=True)
class SigningJob:
    """One finished signing job: the source object version signed, the profile version that signed it, the copy."""

    job_id: str
    account_id: str
    region: str
    profile_name: str
    profile_version: str
    profile_version_arn: str
    platform_id: str
    platform_display_name: str
    source_bucket: str
    source_key: str
    source_version: str
    signed_bucket: str
    signed_key: str
    signed_etag: str
    created_at: datetime.datetime
    signature_expires_at: datetime.datetime
    client_request_token: str | None

    def describe(self) -> dict[str, Any]:
        """``DescribeSigningJob``'s response shape."""
        return {
            "jobId": self.job_id,
            "source": {
                "s3": {"bucketName": self.source_bucket, "key": self.source_key, "version": self.source_version}
            },
            "platformId": self.platform_id,
            "platformDisplayName": self.platform_display_name,
            "profileName": self.profile_name,
            "profileVersion": self.profile_version,
            "overrides": {},
            "signingParameters": {},
            "createdAt": self.created_at,
            "completedAt": self.created_at,
            "signatureExpiresAt": self.signature_expires_at,
            "requestedBy": f"arn:aws:iam::{self.account_id}:root",
            "status": SUCCEEDED,
            "statusReason": "Signing Succeeded",
            "signedObject": {"s3": {"bucketName": self.signed_bucket, "key": self.signed_key}},
            "jobOwner": self.account_id,
            "jobInvoker": self.account_id,
        }

    def summary(self) -> dict[str, Any]:
        """``ListSigningJobs``' ``SigningJob`` shape."""
        described = self.describe()
        return {
            **{name: described[name] for name in ("jobId", "source", "signedObject", "createdAt", "status")},
            **{name: described[name] for name in ("profileName", "profileVersion", "platformId")},
            **{name: described[name] for name in ("platformDisplayName", "signatureExpiresAt", "jobOwner")},
            "jobInvoker": self.account_id,
            "isRevoked": False,
        }


# (account, region) -> job id -> job; the signed objects' index for Lambda: (account, region, bucket, key) -> job.
_jobs: dict[tuple[str, str], dict[str, SigningJob]] = {}
_signed_objects: dict[tuple[str, str, str, str], SigningJob] = {}


def signing_job_of(account_id: str, region: str, bucket: str, key: str) -> SigningJob | None:
    """The job whose signed object is ``s3://bucket/key`` in this account and region; None for code no job signed."""
    with _lock:
        return _signed_objects.get((account_id, region, bucket, key))


def _error(code: str, message: str, status: int = 400) -> CommonServiceException:
    return CommonServiceException(code, message, status_code=status, sender_fault=True)


def _profile(context: RequestContext, name: str) -> Any:
    from moto.signer.models import signer_backends  # moto's backends are loaded on first use

    profiles = signer_backends[context.account_id][context.region].signing_profiles
    profile = profiles.get(name)
    if profile is None:
        raise _error("ResourceNotFoundException", f"Signing profile {name} not found", 404)
    if profile.status != "Active":
        raise _error("ValidationException", f"Signing profile {name} is {profile.status}, not Active")
    return profile


def _expiry(start: datetime.datetime, validity: dict[str, Any]) -> datetime.datetime:
    """``start`` plus the profile's ``signatureValidityPeriod``; ValidationException for a period moto let through."""
    try:
        return start + datetime.timedelta(days=int(validity["value"]) * VALIDITY_DAYS[validity["type"]])
    except (KeyError, TypeError, ValueError) as error:
        raise _error("ValidationException", f"invalid signatureValidityPeriod {validity!r}") from error


def _s3_location(request: ServiceRequest, field: str, *required: str) -> dict[str, Any]:
    """``request[field]["s3"]`` with ``required`` members; ValidationException naming what is missing."""
    location = (request.get(field) or {}).get("s3") or {}
    missing = [name for name in required if not location.get(name)]
    if missing:
        raise _error("ValidationException", f"{field}.s3 needs {', '.join(missing)}")
    return dict(location)


def start_signing_job(context: RequestContext, request: ServiceRequest) -> dict[str, Any]:
    """``StartSigningJob``: copy the source object version to ``<prefix><jobId>.zip``; the job has succeeded."""
    jobs = _jobs.setdefault((context.account_id, context.region), {})
    token = request.get("clientRequestToken")
    for job in jobs.values():
        if token and job.client_request_token == token:
            return {"jobId": job.job_id, "jobOwner": job.account_id}
    profile = _profile(context, str(request.get("profileName") or ""))
    # Signer signs versioned objects only: the source names a version.
    source = _s3_location(request, "source", "bucketName", "key", "version")
    destination = _s3_location(request, "destination", "bucketName")
    job_id = str(uuid.uuid4())
    signed_key = f"{destination.get('prefix', '')}{job_id}{SIGNED_OBJECT_SUFFIX}"
    s3 = connect_to(aws_access_key_id=context.account_id, region_name=context.region).s3
    try:
        copied = s3.copy_object(
            Bucket=destination["bucketName"],
            Key=signed_key,
            CopySource={"Bucket": source["bucketName"], "Key": source["key"], "VersionId": source["version"]},
        )
    except s3.exceptions.ClientError as error:
        raise _error("ValidationException", f"Signer could not copy the source object: {error}") from error
    now = datetime.datetime.now(datetime.UTC)
    job = SigningJob(
        job_id=job_id,
        account_id=context.account_id,
        region=context.region,
        profile_name=profile.name,
        profile_version=profile.profile_version,
        profile_version_arn=profile.profile_version_arn,
        platform_id=profile.platform_id,
        platform_display_name=profile.to_dict()["platformDisplayName"] or profile.platform_id,
        source_bucket=source["bucketName"],
        source_key=source["key"],
        source_version=source["version"],
        signed_bucket=destination["bucketName"],
        signed_key=signed_key,
        signed_etag=copied["CopyObjectResult"]["ETag"],
        created_at=now,
        signature_expires_at=_expiry(now, profile.signature_validity_period),
        client_request_token=token,
    )
    jobs[job_id] = job
    _signed_objects[(job.account_id, job.region, job.signed_bucket, job.signed_key)] = job
    return {"jobId": job_id, "jobOwner": job.account_id}


def describe_signing_job(context: RequestContext, request: ServiceRequest) -> dict[str, Any]:
    """``DescribeSigningJob``; ``ResourceNotFoundException`` (404) for a job of another account or region."""
    job = _jobs.get((context.account_id, context.region), {}).get(request["jobId"])
    if job is None:
        raise _error("ResourceNotFoundException", f"Signing job {request['jobId']} not found", 404)
    return job.describe()


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _listed(job: SigningJob, request: ServiceRequest) -> bool:
    """Whether ``job`` passes every filter of a ``ListSigningJobs`` request (Signer API reference)."""
    before, after = request.get("signatureExpiresBefore"), request.get("signatureExpiresAfter")
    return (
        request.get("status") in (None, SUCCEEDED)
        and request.get("platformId") in (None, job.platform_id)
        and request.get("isRevoked") in (None, False)  # nothing is ever revoked here
        and request.get("requestedBy") in (None, job.describe()["requestedBy"])
        and request.get("jobInvoker") in (None, job.account_id)
        and (before is None or job.signature_expires_at < _utc(before))
        and (after is None or job.signature_expires_at > _utc(after))
    )


def list_signing_jobs(context: RequestContext, request: ServiceRequest) -> dict[str, Any]:
    """``ListSigningJobs``: the caller's jobs passing every filter (all ``Succeeded``, none revoked; one page)."""
    jobs = _jobs.get((context.account_id, context.region), {}).values()
    return {"jobs": [job.summary() for job in jobs if _listed(job, request)]}


OWN_OPERATIONS = {
    "StartSigningJob": start_signing_job,
    "DescribeSigningJob": describe_signing_job,
    "ListSigningJobs": list_signing_jobs,
}


@aws_provider(api=SERVICE, name=PROVIDER_NAME)
def signer_paygate() -> Service:
    return moto_backed_service(SERVICE, _lock, OWN_OPERATIONS)


DATA_PLANE_SERVICE = "signer-data"
DATA_PLANE_PATH_PREFIX = "/revocations"


@hooks.on_infra_start()
def paygate_signer_routing() -> None:
    """Requests signed as ``signer`` go to Signer, except the data plane's ``/revocations`` (see the module doc)."""
    from localstack.aws.protocol import service_router
    from localstack.aws.spec import ServiceModelIdentifier

    service_router.signing_name_path_prefix_rules[SERVICE] = {
        DATA_PLANE_PATH_PREFIX: ServiceModelIdentifier(DATA_PLANE_SERVICE),
        "*": ServiceModelIdentifier(SERVICE),
    }
