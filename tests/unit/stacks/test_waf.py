"""ApiFirewall: the web ACL on the API stage (PCI DSS 6.4.2), its rules, answers, association and logging."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts import validator
from lambdas.shared.http import MAX_BODY_BYTES
from stacks import constants
from stacks.constructs.waf import MANAGED_RULE_GROUPS, REDACTED_HEADERS, greater_than


def web_acl(stack: Any) -> tuple[str, dict[str, Any]]:
    return stack.only("aws_wafv2_web_acl")


def rules(stack: Any) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in web_acl(stack)[1]["rule"]}


def test_a_regional_web_acl_allows_by_default_and_runs_every_rule_in_a_distinct_priority(stack) -> None:
    _, acl = web_acl(stack)
    assert (acl["scope"], acl["default_action"], acl["name"]) == ("REGIONAL", {"allow": {}}, "paygate-dev-payments-waf")
    priorities = [rule["priority"] for rule in acl["rule"]]
    assert sorted(priorities) == list(range(len(priorities)))
    assert list(rules(stack)) == ["rate-per-client-ip", "body-over-api-limit", *MANAGED_RULE_GROUPS]
    assert all(rule["visibility_config"]["cloudwatch_metrics_enabled"] for rule in acl["rule"])


def test_the_aws_managed_rule_groups_block_with_their_own_actions(stack) -> None:
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"):
        rule = rules(stack)[group]
        assert rule["override_action"] == {"none": {}}  # not "count": the group's blocks apply
        statement = rule["statement"]["managed_rule_group_statement"]
        assert (statement["vendor_name"], statement["name"], statement["rule_action_override"]) == ("AWS", group, [])


def test_anonymous_proxies_are_blocked_and_hosting_providers_only_counted(stack) -> None:
    statement = rules(stack)["AWSManagedRulesAnonymousIpList"]["statement"]["managed_rule_group_statement"]
    assert statement["rule_action_override"] == [{"name": "HostingProviderIPList", "action_to_use": {"count": {}}}]


def custom_bodies(stack: Any) -> dict[str, dict[str, Any]]:
    return {body["key"]: body for body in web_acl(stack)[1]["custom_response_body"]}


def test_a_client_ip_over_the_rate_limit_gets_429_with_the_contracts_error_body(stack) -> None:
    rule = rules(stack)["rate-per-client-ip"]
    assert rule["statement"]["rate_based_statement"] == {
        "limit": stack.config.waf_rate_limit_per_5_minutes,
        "aggregate_key_type": "IP",
        "evaluation_window_sec": 300,
    }
    response = rule["action"]["block"]["custom_response"]
    body = custom_bodies(stack)[response["custom_response_body_key"]]
    assert (response["response_code"], body["content_type"]) == (429, "APPLICATION_JSON")
    validator("error").validate(json.loads(body["content"]))
    assert json.loads(body["content"])["error"]["code"] == "THROTTLED"


def test_a_body_over_the_apis_own_limit_gets_413_with_the_contracts_error_body(stack) -> None:
    rule = rules(stack)["body-over-api-limit"]
    statement = rule["statement"]["regex_match_statement"]
    assert statement["field_to_match"] == {"single_header": {"name": "content-length"}}
    assert statement["regex_string"] == greater_than(MAX_BODY_BYTES)
    response = rule["action"]["block"]["custom_response"]
    body = json.loads(custom_bodies(stack)[response["custom_response_body_key"]]["content"])
    assert response["response_code"] == 413 and body["error"]["code"] == "VALIDATION_FAILED"
    validator("error").validate(body)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=3))
def test_the_size_pattern_matches_exactly_the_lengths_above_the_limit(length: int, zeros: int) -> None:
    text = "0" * zeros + str(length)
    assert bool(re.fullmatch(greater_than(MAX_BODY_BYTES), text)) is (length > MAX_BODY_BYTES)


def test_the_size_pattern_at_its_edges() -> None:
    pattern = re.compile(greater_than(262_144))
    assert [bool(pattern.fullmatch(t)) for t in ("262144", "262145", "262150", "999999", "1000000", "99999")] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    assert not pattern.fullmatch("") and not pattern.fullmatch("262145x") and not pattern.fullmatch("-262145")


def test_the_web_acl_is_associated_with_the_api_stage(stack) -> None:
    (_, association) = stack.only("aws_wafv2_web_acl_association")
    stage_id, _ = stack.only("aws_api_gateway_stage")
    acl_id, _ = web_acl(stack)
    assert association["resource_arn"] == stack.ref("aws_api_gateway_stage", stage_id, "arn")
    assert association["web_acl_arn"] == stack.ref("aws_wafv2_web_acl", acl_id, "arn")
    assert stack.doc["output"][constants.OUTPUT_WEB_ACL_ARN]["value"] == stack.ref("aws_wafv2_web_acl", acl_id, "arn")


def test_waf_logs_go_to_an_encrypted_year_long_group_with_the_secrets_redacted(stack) -> None:
    (_, logging) = stack.only("aws_wafv2_web_acl_logging_configuration")
    group_id, group = stack.named("aws_cloudwatch_log_group", "aws-waf-logs-paygate-dev-payments-api")
    assert logging["log_destination_configs"] == [stack.ref("aws_cloudwatch_log_group", group_id, "arn")]
    assert logging["redacted_fields"] == [{"single_header": {"name": h}} for h in REDACTED_HEADERS]
    assert set(REDACTED_HEADERS) == {"x-api-key", "authorization"}
    assert group["kms_key_id"] == stack.key_arn and group["retention_in_days"] >= 365


def test_log_delivery_may_write_only_the_waf_log_group_for_this_account(stack) -> None:
    (_, policy) = stack.only("aws_cloudwatch_log_resource_policy")
    group_id, _ = stack.named("aws_cloudwatch_log_group", "aws-waf-logs-paygate-dev-payments-api")
    [statement] = json.loads(policy["policy_document"])["Statement"]
    assert statement["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert statement["Resource"] == stack.ref("aws_cloudwatch_log_group", group_id, "arn") + ":*"
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "${data.aws_caller_identity.caller.account_id}"
    }
