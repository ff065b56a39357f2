"""Naming: every physical name derives from ``paygate-<env>`` and respects its AWS limit (pure, fast)."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks.naming import LIMITS, NameTooLongError, Naming

ACCOUNT = "123456789012"
# AWS documented maxima (restated here, not read from stacks/naming.py).
AWS_MAXIMA = {
    "s3_bucket": 63,
    "lambda_function": 64,
    "iam_role": 64,
    "sqs_queue": 80,
    "sfn_state_machine": 80,
    "dynamodb_table": 255,
    "sns_topic": 256,
    "alarm": 255,
    "log_group": 512,
    "kms_alias": 256,
}

naming = Naming("paygate-dev")

# (limit kind, how a Naming produces a name of that kind from one purpose string)
GENERATORS: list[tuple[str, Callable[[Naming, str], str]]] = [
    ("lambda_function", Naming.function),
    ("iam_role", Naming.role),
    ("dynamodb_table", Naming.table),
    ("sqs_queue", Naming.queue),
    ("sns_topic", Naming.topic),
    ("sfn_state_machine", Naming.state_machine),
    ("alarm", Naming.alarm),
    ("api_gateway", Naming.api),
    ("kms_alias", Naming.kms_alias),
    ("log_group", lambda n, name: n.lambda_log_group(f"{n.prefix}-{name}")),
    ("log_group", lambda n, purpose: n.log_group("apigateway", purpose)),
]


def test_names_follow_the_documented_shapes() -> None:
    assert naming.function("api_handler") == "paygate-dev-api-handler"
    assert naming.role("payment_processor") == "paygate-dev-payment-processor-role"
    assert naming.table("payments") == "paygate-dev-payments"
    assert naming.queue("payments-dlq") == "paygate-dev-payments-dlq"
    assert naming.topic("alarms") == "paygate-dev-alarms"
    assert naming.state_machine("payment-lifecycle") == "paygate-dev-payment-lifecycle"
    assert naming.alarm("api-5xx") == "paygate-dev-api-5xx"
    assert naming.api("payments") == "paygate-dev-payments"
    assert naming.kms_alias("data") == "alias/paygate-dev-data"
    assert naming.lambda_log_group("paygate-dev-api-handler") == "/aws/lambda/paygate-dev-api-handler"
    assert naming.log_group("vendedlogs/states", "x") == "/aws/vendedlogs/states/paygate-dev-x"
    assert naming.bucket("batch-files", ACCOUNT) == f"paygate-dev-batch-files-{ACCOUNT}"


def test_project_limits_are_no_looser_than_aws() -> None:
    for kind, maximum in AWS_MAXIMA.items():
        assert LIMITS[kind] <= maximum, kind


@pytest.mark.parametrize(("kind", "make"), GENERATORS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(GENERATORS)])
def test_a_name_over_its_limit_is_refused_naming_the_kind(kind: str, make: Callable[[Naming, str], str]) -> None:
    with pytest.raises(NameTooLongError, match=f"^{kind} name .* exceeds the AWS limit of {LIMITS[kind]} characters"):
        make(naming, "x" * LIMITS[kind])


def test_bucket_name_reserves_room_for_the_account_id() -> None:
    # 63 - 12 (account) = 51 characters of stem: "paygate-dev-" (12) + purpose + "-" (1) -> purpose <= 38.
    assert len(naming.bucket("p" * 38, ACCOUNT)) == 63
    with pytest.raises(NameTooLongError, match="s3_bucket"):
        naming.bucket("p" * 39, ACCOUNT)


@given(
    prefix=st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=40),
    purpose=st.text(alphabet=string.ascii_lowercase + "_-", min_size=1, max_size=120),
    generator=st.sampled_from(GENERATORS),
)
def test_every_generated_name_fits_its_aws_limit_or_is_refused(
    prefix: str, purpose: str, generator: tuple[str, Callable[[Naming, str], str]]
) -> None:
    kind, make = generator
    try:
        name = make(Naming(prefix), purpose)
    except NameTooLongError:
        return
    assert len(name) <= LIMITS[kind]
    assert prefix in name


@given(
    prefix=st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=60),
    purpose=st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=60),
    account=st.text(alphabet=string.digits, min_size=12, max_size=12),
)
def test_any_bucket_name_fits_63_characters_once_the_account_is_known(prefix: str, purpose: str, account: str) -> None:
    try:
        name = Naming(prefix).bucket(purpose, "${data.aws_caller_identity.caller.account_id}")
    except NameTooLongError:
        assert len(f"{prefix}-{purpose}-{account}") > 63
        return
    resolved = name.replace("${data.aws_caller_identity.caller.account_id}", account)
    assert len(resolved) <= 63
