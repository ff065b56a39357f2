"""The chain of custody from a function's checked archive to the code it runs, read from a deployed system.

Shared by the e2e suite (LocalStack) and the post-deploy suite (AWS or LocalStack); see
``stacks/constructs/code_signing.py`` for the chain itself:

    archive (SHA-256) -> ``unsigned/<function>.zip`` version (same SHA-256) -> signing job of the
    platform profile -> ``signed/<job id>.zip`` -> the function (``CodeSha256`` = SHA-256 of that object)

Lambda reports ``CodeSha256``, "the SHA256 hash of the function's deployment package" (AWS Lambda API reference,
``FunctionConfiguration``), base64-encoded; a function created from a signing job's object has that object as its
package, so the running code is matched to its signing job by content, on either target. On LocalStack the signed
object is a copy of its source, so the match cannot tell the two apart: the e2e suite shows the create-time
enforcement separately.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Protocol

SUCCEEDED = "Succeeded"


class Clients(Protocol):
    def client(self, service: str) -> Any: ...


def code_sha256(data: bytes) -> str:
    """Base64 SHA-256 of ``data``: Lambda's ``CodeSha256`` and S3's ``ChecksumSHA256`` spelling."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def hex_to_code_sha256(hex_digest: str) -> str:
    """A hex SHA-256 (the artifact's ``source_hash``) in the base64 spelling Lambda and S3 report."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def signing_jobs(deployed: Clients, profile_name: str) -> list[dict[str, Any]]:
    """The succeeded signing jobs of ``profile_name`` (``ListSigningJobs``' ``SigningJob`` shape)."""
    pages = deployed.client("signer").get_paginator("list_signing_jobs").paginate(status=SUCCEEDED)
    return [job for page in pages for job in page["jobs"] if job.get("profileName") == profile_name]


def running_signing_job(deployed: Clients, function_name: str, profile_name: str) -> dict[str, Any]:
    """The signing job of ``profile_name`` whose signed object is the code ``function_name`` runs.

    Raises AssertionError naming the function when no job of the profile wrote its code.
    """
    configuration = deployed.client("lambda").get_function_configuration(FunctionName=function_name)
    running, size = configuration["CodeSha256"], configuration["CodeSize"]
    s3 = deployed.client("s3")
    for job in signing_jobs(deployed, profile_name):
        signed = job["signedObject"]["s3"]
        if s3.head_object(Bucket=signed["bucketName"], Key=signed["key"])["ContentLength"] != size:
            continue  # not this function's package (archives are ~15 MB: read only a candidate)
        body = s3.get_object(Bucket=signed["bucketName"], Key=signed["key"])["Body"].read()
        if code_sha256(body) == running:
            return job
    raise AssertionError(f"{function_name} runs code ({running}) that no signing job of {profile_name} wrote")


def source_sha256(deployed: Clients, job: dict[str, Any]) -> str:
    """Base64 SHA-256 of the object version the job signed (read back: S3's own ``ChecksumSHA256`` of a multipart
    upload is a checksum of the parts' checksums, not of the object)."""
    source = job["source"]["s3"]
    body = deployed.client("s3").get_object(Bucket=source["bucketName"], Key=source["key"], VersionId=source["version"])
    return code_sha256(body["Body"].read())
