"""Loading of the post-deploy suite's target: which deployment to test, where it runs, what it declares.

Everything comes from pytest options (``make integration`` passes them; nothing here reads the process
environment):

``--outputs FILE``
    the environment's Terraform outputs: ``terraform output -json`` ({name: {value, type, sensitive}};
    sensitive outputs are left out) or the flat map ``make localstack-deploy`` writes
    (``build/localstack/outputs.json``).
``--target localstack --endpoint URL`` | ``--target aws --region NAME``
    where it runs (``--region`` of a LocalStack target defaults to the artifact's region;
    ``--account-id`` names a LocalStack account, ``--profile`` an AWS profile).
``--artifact DIR``
    the synthesized stack directory that was applied (its ``cdk.tf.json`` declares what is expected).
``--environment NAME``
    optional: the environment the outputs and the artifact must both belong to.

:func:`load` raises :class:`NoTarget` with one message saying what is missing or inconsistent; the
suite then fails every test with it (never skips).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.build.artifact import digest
from pipeline.deploy.apply import flat_outputs
from stacks import constants
from tests.aws_clients import KINDS, LOCALSTACK, Target, TargetError
from tests.integration.declared import ArtifactError, Declared

# Every output the stack declares (stacks/constants.py OUTPUT_*): the suite finds resources through them.
REQUIRED_OUTPUTS = tuple(sorted(value for name, value in vars(constants).items() if name.startswith("OUTPUT_")))
USAGE = (
    "pass --outputs <terraform output -json file> --artifact <stack dir> and a target: "
    "--target localstack --endpoint http://127.0.0.1:<port>, or --target aws --region <region> "
    "(`make integration ENV=<name> OUTPUTS=<file>` does this)"
)


class NoTarget(Exception):
    """The suite has no usable target; the message says what is missing and how to give it."""


@dataclass(frozen=True)
class Options:
    """The suite's pytest options, as given (None: not given)."""

    outputs: str | None = None
    target: str | None = None
    endpoint: str | None = None
    region: str | None = None
    account_id: str | None = None
    profile: str | None = None
    artifact: str | None = None
    environment: str | None = None


@dataclass(frozen=True)
class Deployment:
    """One deployed environment: its outputs (flat), where it runs, and what its artifact declares."""

    outputs: Mapping[str, Any]
    target: Target
    declared: Declared
    outputs_file: Path
    artifact_dir: Path

    @property
    def environment(self) -> str:
        return self.declared.environment

    @property
    def prefix(self) -> str:
        """``paygate-<env>``: every physical name of the environment starts with it (stacks/naming.py)."""
        return f"{constants.STACK_NAME}-{self.environment}"

    @property
    def account_id(self) -> str:
        """The account the deployment lives in (from the KMS key's ARN output)."""
        return str(self.outputs[constants.OUTPUT_KMS_KEY_ARN]).split(":")[4]

    @property
    def region(self) -> str:
        return str(self.outputs[constants.OUTPUT_KMS_KEY_ARN]).split(":")[3]


def read_outputs(path: Path) -> dict[str, Any]:
    """Flat {name: value} from ``terraform output -json`` or an already flat map; NoTarget when unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoTarget(f"no outputs file at {path}: nothing is deployed there, or the path is wrong; {USAGE}") from None
    except ValueError as error:
        raise NoTarget(f"{path} is not JSON ({error}): write it with `terraform output -json > {path.name}`") from None
    if not isinstance(document, dict) or not document:
        raise NoTarget(f"{path} holds no outputs (an empty or destroyed deployment?)")
    nested = all(isinstance(entry, dict) and "value" in entry for entry in document.values())
    return flat_outputs(document) if nested else dict(document)


def target_of(options: Options, declared_region: str) -> Target:
    """The Target the options describe; NoTarget for a missing or contradictory description."""
    if options.target is None:
        raise NoTarget(f"no target: {USAGE}")
    if options.target not in KINDS:
        raise NoTarget(f"--target {options.target!r} is unknown: use {' or '.join(KINDS)}")
    try:
        if options.target == LOCALSTACK:
            if options.endpoint is None:
                raise NoTarget(
                    "a localstack target needs --endpoint http://<host>:<port> (`make localstack-up` prints it)"
                )
            return Target.localstack(options.endpoint, options.region or declared_region, options.account_id)
        if options.region is None:
            raise NoTarget("an aws target needs --region (the region the environment is deployed to)")
        if options.endpoint is not None:
            raise NoTarget(f"--endpoint {options.endpoint} is for a localstack target; an aws target takes --region")
        return Target.aws(options.region, options.profile)
    except TargetError as error:
        raise NoTarget(str(error)) from None


def load(options: Options) -> Deployment:
    """The deployment the options name, checked for consistency (no cloud call); NoTarget otherwise.

    Consistency: every stack output is present; the outputs' account/region are the target's region and
    the artifact's; the artifact's environment is ``--environment`` (when given) and the outputs' names
    carry it; flat LocalStack outputs that record ``artifact_sha256`` match the artifact's digest.
    """
    if options.target is None:
        raise NoTarget(f"no target: {USAGE}")
    if options.outputs is None:
        raise NoTarget(f"no deployment outputs: {USAGE}")
    if options.artifact is None:
        raise NoTarget(f"no artifact: {USAGE}")
    outputs_file, artifact_dir = Path(options.outputs), Path(options.artifact)
    outputs = read_outputs(outputs_file)
    try:
        declared = Declared.read(artifact_dir)
        declared_region, environment = declared.region, declared.environment
    except ArtifactError as error:
        raise NoTarget(str(error)) from None
    target = target_of(options, declared_region)
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise NoTarget(
            f"{outputs_file} lacks the outputs {', '.join(missing)}: is it this stack's `terraform output -json`?"
        )
    deployment = Deployment(outputs, target, declared, outputs_file, artifact_dir)
    _check_consistency(deployment, options, declared_region, environment)
    return deployment


def _check_consistency(deployment: Deployment, options: Options, declared_region: str, environment: str) -> None:
    if options.environment is not None and options.environment != environment:
        raise NoTarget(
            f"the artifact {deployment.declared.source} is of environment {environment!r}, "
            f"not {options.environment!r}: synthesize it with `make synth ENV={options.environment}`"
        )
    table = str(deployment.outputs[constants.OUTPUT_PAYMENTS_TABLE])
    if not table.startswith(deployment.prefix + "-"):
        raise NoTarget(
            f"{deployment.outputs_file} belongs to another environment than the artifact's {environment!r} "
            f"(payments table {table!r})"
        )
    regions = {"the target": deployment.target.region, "the artifact": declared_region}
    for whose, region in regions.items():
        if region != deployment.region:
            raise NoTarget(f"the deployment is in {deployment.region}, but {whose} says {region}")
    recorded = deployment.outputs.get("artifact_sha256")
    if recorded is not None and (actual := digest(deployment.artifact_dir).sha256) != recorded:
        raise NoTarget(
            f"the artifact at {deployment.artifact_dir} (sha256 {actual[:12]}) is not the deployed one "
            f"(sha256 {str(recorded)[:12]}): deploy it again (`make localstack-deploy`) or pass the deployed --artifact"
        )
