"""The deployed stage is behind the deployed web ACL (issue 12; PCI DSS v4.0.1 6.4.2).

LocalStack's WAFv2 is moto's backend (localstack_ext/wafv2.py): it stores and associates the web ACL but
evaluates no rule, so these tests prove what is deployed and wired, not what WAF blocks (that is AWS's).
"""

from __future__ import annotations

from tests.localstack.support import Deployed


def stage_arn(deployed: Deployed) -> str:
    return f"arn:aws:apigateway:{deployed['region']}::/restapis/{deployed['api_id']}/stages/{deployed['api_stage']}"


def test_the_web_acl_is_associated_with_the_deployed_stage(deployed: Deployed) -> None:
    wafv2 = deployed.client("wafv2")
    acl = wafv2.get_web_acl_for_resource(ResourceArn=stage_arn(deployed))["WebACL"]
    assert acl["ARN"] == deployed["web_acl_arn"]
    stage = deployed.client("apigateway").get_stage(restApiId=deployed["api_id"], stageName=deployed["api_stage"])
    assert stage["webAclArn"] == deployed["web_acl_arn"]


def test_the_deployed_web_acl_holds_the_managed_groups_and_the_rate_and_size_rules(deployed: Deployed) -> None:
    wafv2 = deployed.client("wafv2")
    acl = wafv2.get_web_acl_for_resource(ResourceArn=stage_arn(deployed))["WebACL"]
    named = {rule["Name"]: rule for rule in acl["Rules"]}
    assert {
        "rate-per-client-ip",
        "body-over-api-limit",
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesAnonymousIpList",
    } == set(named)
    assert named["rate-per-client-ip"]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert named["rate-per-client-ip"]["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert acl["DefaultAction"] == {"Allow": {}}


def test_waf_logs_go_to_the_waf_log_group_with_the_api_key_and_authorization_redacted(deployed: Deployed) -> None:
    config = deployed.client("wafv2").get_logging_configuration(ResourceArn=deployed["web_acl_arn"])
    logging = config["LoggingConfiguration"]
    [destination] = logging["LogDestinationConfigs"]
    assert ":log-group:aws-waf-logs-" in destination
    redacted = {field["SingleHeader"]["Name"] for field in logging["RedactedFields"]}
    assert redacted == {"x-api-key", "authorization"}
