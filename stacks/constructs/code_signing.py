"""Signed Lambda code: an AWS Signer signing profile, a code-signing config enforcing it, a signing job per archive.

The chain of custody from the checked artifact to a running function (PCI DSS v4.0.1 6.5.1: changes are deployed
only through the approved procedure; 11.5.2: unauthorized modification of critical files is detected; AWS Lambda
developer guide, "Configuring code signing for Lambda"):

1. ``make package`` builds each function's archive deterministically; the synthesized stack uploads it to the
   function-code bucket as ``unsigned/<function>.zip`` with its SHA-256 as ``source_hash`` (a changed archive is a
   new upload) and S3's ``SHA256`` checksums (S3 verifies every uploaded part).
2. An ``aws_signer_signing_job`` signs that object *version* with the platform's signing profile
   (``AWSLambda-SHA384-ECDSA``) into ``signed/<job id>.zip``; a new archive is a new version, so a new job and a
   new signed key, which is what updates the function (Terraform's documented pattern: the function carries no
   ``source_code_hash``, because the signed archive's ``CodeSha256`` is not the unsigned archive's).
3. The function is deployed from the signed object, with a code-signing config whose only allowed publisher is
   that profile's current version and whose ``UntrustedArtifactOnDeployment`` is ``Enforce``: Lambda refuses
   code no allowed profile version signed, code altered after signing, or an expired signature, at create and at
   every code update.

On LocalStack, ``localstack_ext/signer.py`` runs the signing jobs (a copy, no cryptography) and
``localstack_ext/lambda_code_signing.py`` enforces the config the same way from the jobs' records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cdktf import AssetType, ITerraformDependable, TerraformAsset
from cdktf_cdktf_provider_aws.lambda_code_signing_config import LambdaCodeSigningConfig
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_object import S3Object
from cdktf_cdktf_provider_aws.signer_signing_job import SignerSigningJob
from cdktf_cdktf_provider_aws.signer_signing_profile import SignerSigningProfile
from constructs import Construct

from stacks.context import StackContext

# The platform AWS Signer offers for Lambda code (Signer API reference, ListSigningPlatforms).
LAMBDA_SIGNING_PLATFORM = "AWSLambda-SHA384-ECDSA"
# A signature older than this no longer deploys (Lambda checks expiry at create and update; a running function is
# unaffected). Each build is signed anew, so a year covers re-deploying any release of the last year.
SIGNATURE_VALIDITY_MONTHS = 12
UNTRUSTED_ARTIFACT_POLICY = "Enforce"
UNSIGNED_PREFIX = "unsigned/"
SIGNED_PREFIX = "signed/"


def archive_sha256(path: Path) -> str:
    """Hex SHA-256 of an archive (the ``source_hash`` of its upload: a changed archive is a new object version)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SignedCode:
    """Where a function's signed archive is (``bucket``, ``key``: Terraform references, known after signing)."""

    def __init__(self, job: SignerSigningJob) -> None:
        signed = job.signed_object.get(0).s3.get(0)
        self.bucket: str = signed.bucket
        self.key: str = signed.key


class CodeSigning(Construct):
    """One signing profile and one ``Enforce`` code-signing config for every function of the stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        bucket: S3Bucket,
        bucket_ready: ITerraformDependable,
    ) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self._bucket_ready = bucket_ready
        # Profile names allow [a-zA-Z0-9_] only, and a cancelled profile's name cannot be used again: Terraform
        # appends a unique suffix to the prefix.
        self.profile = SignerSigningProfile(
            self,
            "profile",
            name_prefix=f"{ctx.config.prefix.replace('-', '_')}_functions_",
            platform_id=LAMBDA_SIGNING_PLATFORM,
            signature_validity_period={"value": SIGNATURE_VALIDITY_MONTHS, "type": "MONTHS"},
        )
        self.config = LambdaCodeSigningConfig(
            self,
            "config",
            description=f"{ctx.config.prefix}: only code signed by the platform's signing profile deploys",
            allowed_publishers={"signing_profile_version_arns": [self.profile.version_arn]},
            policies={"untrusted_artifact_on_deployment": UNTRUSTED_ARTIFACT_POLICY},
        )

    def sign(self, scope: Construct, function_key: str, archive: Path) -> SignedCode:
        """Upload ``archive`` as ``unsigned/<function_key>.zip`` and sign that version; resources go under ``scope``."""
        asset = TerraformAsset(scope, "archive", path=str(archive), type=AssetType.FILE)
        upload = S3Object(
            scope,
            "unsigned-code",
            bucket=self._bucket.id,
            key=f"{UNSIGNED_PREFIX}{function_key}.zip",
            source=asset.path,
            source_hash=archive_sha256(archive),
            checksum_algorithm="SHA256",
            content_type="application/zip",
            depends_on=[self._bucket_ready],
        )
        job = SignerSigningJob(
            scope,
            "signing-job",
            profile_name=self.profile.name,
            source={"s3": {"bucket": upload.bucket, "key": upload.key, "version": upload.version_id}},
            destination={"s3": {"bucket": self._bucket.id, "prefix": SIGNED_PREFIX}},
            ignore_signing_job_failure=False,
        )
        return SignedCode(job)
