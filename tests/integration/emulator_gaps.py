"""Properties LocalStack accepts at deploy but does not report back, so the post-deploy suite cannot see them there.

Each gap names where LocalStack drops the value and the perpetual Terraform diff it causes (measured with
``terraform plan -detailed-exitcode`` right after ``make localstack-deploy``). On AWS every property is
checked. On LocalStack the test asserts that the value is still absent, so the day LocalStack (or a plugin
in ``localstack_ext/``) reports it, the test fails and asks for the gap to be removed: the check then
applies there too. Each gap met is recorded in the JUnit report (a test-suite property
``emulator_gap.<key>``), so the evidence says what was not observable. Nothing here hides a wrong value:
a value that is reported is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.aws_clients import LOCALSTACK, Target


@dataclass(frozen=True)
class EmulatorGap:
    """A property the emulator does not report: what it is, where it is dropped, what Terraform then shows."""

    key: str
    what: str
    source: str
    terraform_diff: str


LAMBDA_KMS_KEY = EmulatorGap(
    key="lambda_kms_key_arn",
    what="Lambda KMSKeyArn (the key of the function's environment variables)",
    source="localstack/services/lambda_/invocation/lambda_models.py VersionFunctionConfiguration "
    "(kms_key_arn is commented out: CreateFunction ignores KMSKeyArn)",
    terraform_diff="aws_lambda_function.*: + kms_key_arn (update in-place on every plan)",
)
WORKFLOW_TRACING = EmulatorGap(
    key="stepfunctions_tracing",
    what="Step Functions tracingConfiguration",
    source="localstack/services/stepfunctions/backend/state_machine.py StateMachineInstance.describe "
    "(tracing_config is stored but not described)",
    terraform_diff="aws_sfn_state_machine.*: + tracing_configuration { enabled = true }",
)
WORKFLOW_ENCRYPTION = EmulatorGap(
    key="stepfunctions_encryption",
    what="Step Functions encryptionConfiguration (customer-managed key)",
    source="localstack/services/stepfunctions/provider.py create_state_machine "
    "(encryptionConfiguration is not read from the request)",
    terraform_diff="aws_sfn_state_machine.*: + encryption_configuration { type = CUSTOMER_MANAGED_KMS_KEY ... }",
)
GAPS = (LAMBDA_KMS_KEY, WORKFLOW_TRACING, WORKFLOW_ENCRYPTION)

Record = Callable[[str, object], None]  # pytest's record_testsuite_property


def observable(target: Target, gap: EmulatorGap, reported: object, record: Record) -> bool:
    """Whether ``target`` reports the property of ``gap`` (then the caller checks it).

    On AWS: always True (a missing value then fails the caller's check). On LocalStack: False, after
    asserting the value is still absent (AssertionError once LocalStack reports it: remove the gap).
    """
    if target.kind != LOCALSTACK:
        return True
    assert reported in (None, {}, "", []), (
        f"LocalStack now reports {gap.what} ({reported!r}): remove this gap from tests/integration/emulator_gaps.py "
        "so the suite checks it there too"
    )
    record(f"emulator_gap.{gap.key}", f"{gap.what}: not reported by LocalStack ({gap.source})")
    return False
