"""tests/integration/deployment.py and declared.py: how the post-deploy suite finds its target.

The last test runs the real suite with no target and checks that every test fails with that message.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pipeline.build.artifact import digest
from tests.aws_clients import AWS, LOCALSTACK
from tests.integration.declared import ArtifactError, Declared, name_pattern
from tests.integration.deployment import REQUIRED_OUTPUTS, NoTarget, Options, load, read_outputs

REPO_ROOT = Path(__file__).resolve().parents[3]
ENDPOINT = "http://127.0.0.1:45999"
ACCOUNT = "123456789012"
TAGS = {"Application": "paygate", "Environment": "staging", "ManagedBy": "cdktf"}


def outputs(region: str = "eu-west-1", env: str = "staging") -> dict[str, Any]:
    """Every output the stack declares, with the values an environment's deployment would have."""
    found: dict[str, Any] = {name: f"paygate-{env}-{name}" for name in REQUIRED_OUTPUTS}
    found["kms_key_arn"] = f"arn:aws:kms:{region}:{ACCOUNT}:key/0f1e2d3c"
    found["payments_table_name"] = f"paygate-{env}-payments"
    return found


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    """A synthesized stack directory of environment staging in eu-west-1 (two tagged resources)."""
    stack = tmp_path / "stack"
    (stack / "assets").mkdir(parents=True)
    document = {
        "provider": {"aws": [{"region": "eu-west-1"}]},
        "resource": {
            "aws_sqs_queue": {"q": {"name": "paygate-staging-payments", "tags": {**TAGS, "DataClassification": "c"}}},
            "aws_sns_topic": {"t": {"name": "paygate-staging-alarms", "tags": {**TAGS, "DataClassification": "i"}}},
        },
    }
    (stack / "cdk.tf.json").write_text(json.dumps(document), encoding="utf-8")
    return stack


def write(tmp_path: Path, document: object, name: str = "outputs.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_without_a_target_loading_fails_with_the_usage(tmp_path: Path, artifact: Path) -> None:
    with pytest.raises(NoTarget, match=r"^no target: pass --outputs .* --target localstack --endpoint"):
        load(Options(outputs=write(tmp_path, outputs()), artifact=str(artifact)))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"target": LOCALSTACK}, "no deployment outputs"),
        ({"target": LOCALSTACK, "outputs": "OUT"}, "no artifact"),
        ({"target": "azure", "outputs": "OUT", "artifact": "ART"}, "--target 'azure' is unknown"),
        ({"target": LOCALSTACK, "outputs": "OUT", "artifact": "ART"}, "a localstack target needs --endpoint"),
        ({"target": AWS, "outputs": "OUT", "artifact": "ART"}, "an aws target needs --region"),
        (
            {"target": AWS, "region": "eu-west-1", "endpoint": ENDPOINT, "outputs": "OUT", "artifact": "ART"},
            "is for a localstack target",
        ),
        ({"target": LOCALSTACK, "endpoint": "localhost:4566", "outputs": "OUT", "artifact": "ART"}, "not http://"),
    ],
)
def test_an_incomplete_target_description_fails_with_what_is_missing(
    tmp_path: Path, artifact: Path, given: dict[str, str], message: str
) -> None:
    paths = {"OUT": write(tmp_path, outputs()), "ART": str(artifact)}
    options = Options(**{key: paths.get(value, value) for key, value in given.items()})

    with pytest.raises(NoTarget, match=message):
        load(options)


def test_kind_localstack_selects_the_endpoint_and_defaults_to_the_artifacts_region(
    tmp_path: Path, artifact: Path
) -> None:
    options = Options(outputs=write(tmp_path, outputs()), artifact=str(artifact), target=LOCALSTACK, endpoint=ENDPOINT)

    deployment = load(options)

    assert (deployment.target.kind, deployment.target.endpoint, deployment.target.region) == (
        LOCALSTACK,
        ENDPOINT,
        "eu-west-1",
    )
    assert (deployment.environment, deployment.account_id, deployment.prefix) == ("staging", ACCOUNT, "paygate-staging")


def test_kind_aws_selects_the_region_and_no_endpoint(tmp_path: Path, artifact: Path) -> None:
    options = Options(
        outputs=write(tmp_path, outputs()), artifact=str(artifact), target=AWS, region="eu-west-1", profile="ci"
    )

    target = load(options).target

    assert (target.kind, target.region, target.endpoint, target.profile) == (AWS, "eu-west-1", None, "ci")


def test_terraform_output_json_is_flattened_and_sensitive_outputs_are_left_out(tmp_path: Path) -> None:
    nested = {name: {"value": value, "type": "string", "sensitive": False} for name, value in outputs().items()}
    nested["api_key_value"] = {"value": "secret", "type": "string", "sensitive": True}

    flat = read_outputs(Path(write(tmp_path, nested)))

    assert flat == outputs()


def test_outputs_that_are_missing_unreadable_or_incomplete_are_named(tmp_path: Path, artifact: Path) -> None:
    incomplete = {key: value for key, value in outputs().items() if key != "state_machine_arn"}
    base = {"artifact": str(artifact), "target": LOCALSTACK, "endpoint": ENDPOINT}

    with pytest.raises(NoTarget, match=r"no outputs file at .*missing\.json"):
        load(Options(outputs=str(tmp_path / "missing.json"), **base))
    with pytest.raises(NoTarget, match="is not JSON"):
        (tmp_path / "broken.json").write_text("{", encoding="utf-8")
        load(Options(outputs=str(tmp_path / "broken.json"), **base))
    with pytest.raises(NoTarget, match="lacks the outputs state_machine_arn"):
        load(Options(outputs=write(tmp_path, incomplete), **base))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"environment": "production"}, "is of environment 'staging', not 'production'"),
        ({"region": "us-east-1"}, "the deployment is in eu-west-1, but the target says us-east-1"),
    ],
)
def test_a_target_that_contradicts_the_artifact_is_refused(
    tmp_path: Path, artifact: Path, given: dict[str, str], message: str
) -> None:
    options = Options(outputs=write(tmp_path, outputs()), artifact=str(artifact), target=LOCALSTACK, endpoint=ENDPOINT)

    with pytest.raises(NoTarget, match=message):
        load(Options(**{**options.__dict__, **given}))


def test_outputs_of_another_environment_or_region_are_refused(tmp_path: Path, artifact: Path) -> None:
    base = {"artifact": str(artifact), "target": LOCALSTACK, "endpoint": ENDPOINT}

    with pytest.raises(NoTarget, match="belongs to another environment than the artifact's 'staging'"):
        load(Options(outputs=write(tmp_path, outputs(env="dev")), **base))
    with pytest.raises(NoTarget, match="the deployment is in us-east-1, but the target says eu-west-1"):
        load(Options(outputs=write(tmp_path, outputs(region="us-east-1")), **base))


def test_localstack_outputs_of_another_artifact_are_refused(tmp_path: Path, artifact: Path) -> None:
    base = {"artifact": str(artifact), "target": LOCALSTACK, "endpoint": ENDPOINT}
    deployed = {**outputs(), "artifact_sha256": digest(artifact).sha256}

    load(Options(outputs=write(tmp_path, deployed), **base))
    with pytest.raises(NoTarget, match=r"is not the deployed one .*deploy it again"):
        load(Options(outputs=write(tmp_path, {**deployed, "artifact_sha256": "0" * 64}), **base))


def test_a_missing_artifact_says_what_to_synthesize(tmp_path: Path) -> None:
    options = Options(
        outputs=write(tmp_path, outputs()), artifact=str(tmp_path / "none"), target=AWS, region="eu-west-1"
    )

    with pytest.raises(NoTarget, match=r"no artifact at .*cdk.tf.json: synthesize .*make synth ENV=<name>"):
        load(options)


def test_the_environment_tags_are_those_every_tagged_resource_shares(artifact: Path) -> None:
    declared = Declared.read(artifact)

    assert declared.environment_tags == TAGS
    assert (declared.environment, declared.region) == ("staging", "eu-west-1")


def test_a_reference_names_the_declared_resource_or_fails_saying_so(artifact: Path) -> None:
    declared = Declared.read(artifact)

    queue = declared.referenced("aws_sqs_queue", "${aws_sqs_queue.q.arn}")
    assert (queue.address, queue.arguments["name"]) == ("aws_sqs_queue.q", "paygate-staging-payments")
    assert declared.referenced("aws_sns_topic", "${aws_sns_topic.t.tags[0]}").name == "t"
    for reference in ("${aws_sqs_queue.unknown.arn}", "${aws_sns_topic.t.arn}", "aws_sqs_queue.q.arn", None):
        with pytest.raises(ArtifactError, match="names no declared aws_sqs_queue"):
            declared.referenced("aws_sqs_queue", reference)


def test_a_declared_name_with_references_matches_the_deployed_names() -> None:
    pattern = name_pattern("API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.api.id}/v1")

    assert pattern.fullmatch("API-Gateway-Execution-Logs_fctsowdjnb/v1")
    assert not pattern.fullmatch("API-Gateway-Execution-Logs_a/b/v1")
    assert not pattern.fullmatch("API-Gateway-Execution-Logs_fctsowdjnb/v2")


def test_the_suite_without_a_target_fails_every_test_with_that_message_and_skips_none(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"

    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/integration", "-p", "no:cacheprovider", f"--junitxml={junit}", "-q"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert finished.returncode == 1, finished.stdout[-2000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) >= 15
    for case in cases:
        outcomes = [child for child in case if child.tag in ("failure", "error", "skipped")]
        assert [outcome.tag for outcome in outcomes] in (["error"], ["failure"]), case.get("name")
        assert "integration suite has no usable target: no target:" in (outcomes[0].get("message") or ""), case.get(
            "name"
        )
