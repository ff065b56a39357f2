"""CKV_PAY_043's two decisions on hand-built inputs: which config a function names, and whether it enforces.

The fixtures (``fixtures/CKV_PAY_043``) run the check through Checkov on both input kinds; these cover what a
fixture cannot hold: a config with no allowed publisher (the provider refuses to plan one) and the values a plan
against existing state shows (a literal ARN read from state, a conditional's references).
"""

from __future__ import annotations

from typing import Any

import pytest

from policies.checks.ckv_pay_043_lambda_code_signing_enforced import code_signing_config, enforces
from policies.stack import Stack

ENFORCE = {"policies": {"untrusted_artifact_on_deployment": "Enforce"}}
PROFILE = {"signing_profile_version_arns": ["arn:aws:signer:eu-west-1:123456789012:/signing-profiles/p/abc"]}
CSC_ARN = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"
OTHER_ARN = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0fedcba9876543210"
ENFORCED = {**ENFORCE, "allowed_publishers": PROFILE, "arn": CSC_ARN}
WARN = {"policies": {"untrusted_artifact_on_deployment": "Warn"}, "allowed_publishers": PROFILE, "arn": OTHER_ARN}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ENFORCED, True),
        ({**ENFORCE, "allowed_publishers": {"signing_profile_version_arns": []}}, False),
        ({**ENFORCE, "allowed_publishers": [{"signing_profile_version_arns": [""]}]}, False),
        (ENFORCE, False),
        (WARN, False),
        ({"allowed_publishers": PROFILE}, False),  # the API's default policy is Warn
    ],
)
def test_a_config_enforces_only_with_enforce_and_an_allowed_publisher(config: dict[str, Any], expected: bool) -> None:
    assert enforces(config) is expected


def plan_stack(references: list[str]) -> Stack:
    blocks = {
        "aws_lambda_code_signing_config.enforce": ENFORCED,
        "aws_lambda_code_signing_config.warn": WARN,
        "aws_lambda_function.f": {"function_name": "f"},
    }
    configuration = {"aws_lambda_function.f": {"code_signing_config_arn": {"references": references}}}
    return Stack(blocks=blocks, configuration=configuration)


def test_a_plan_reference_to_one_config_finds_it_whether_its_arn_is_known_or_not() -> None:
    stack = plan_stack(["aws_lambda_code_signing_config.enforce.arn", "aws_lambda_code_signing_config.enforce"])
    assert code_signing_config(stack, "aws_lambda_function.f", "aws_lambda_code_signing_config.enforce.arn") == ENFORCED
    assert code_signing_config(stack, "aws_lambda_function.f", CSC_ARN) == ENFORCED


def test_a_value_read_from_state_that_is_not_the_referenced_configs_arn_is_not_shown_to_enforce() -> None:
    stack = plan_stack(["aws_lambda_code_signing_config.enforce.arn", "aws_lambda_code_signing_config.enforce"])
    assert code_signing_config(stack, "aws_lambda_function.f", OTHER_ARN) is None


def test_a_conditional_between_configs_is_not_shown_to_enforce_even_when_one_of_them_does() -> None:
    stack = plan_stack(
        ["var.strict", "aws_lambda_code_signing_config.enforce.arn", "aws_lambda_code_signing_config.warn.arn"]
    )
    assert code_signing_config(stack, "aws_lambda_function.f", OTHER_ARN) is None
    assert (
        code_signing_config(
            plan_stack(["var.strict", "aws_lambda_code_signing_config.enforce.arn"]), "aws_lambda_function.f", CSC_ARN
        )
        is None
    )


def test_a_literal_arn_is_the_stacks_config_with_that_arn_or_nothing() -> None:
    stack = Stack(blocks={"aws_lambda_code_signing_config.enforce": ENFORCED, "aws_lambda_function.f": {}})
    assert code_signing_config(stack, "aws_lambda_function.f", CSC_ARN) == ENFORCED
    assert code_signing_config(stack, "aws_lambda_function.f", OTHER_ARN) is None


def test_text_around_the_reference_is_not_shown_to_enforce() -> None:
    value = "prefix-${aws_lambda_code_signing_config.enforce.arn}"
    stack = Stack(
        blocks={
            "aws_lambda_code_signing_config.enforce": ENFORCED,
            "aws_lambda_function.f": {"code_signing_config_arn": value},
        }
    )
    assert code_signing_config(stack, "aws_lambda_function.f", value) is None
