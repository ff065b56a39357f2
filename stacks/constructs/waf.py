"""A regional WAFv2 web ACL in front of the payments API stage (PCI DSS v4.0.1 6.4.2: an automated technical
solution that detects and prevents web-based attacks in front of public-facing web applications).

Rules, in priority order (AWS WAF Developer Guide, "AWS Managed Rules rule groups list", "Rate-based rule
statement", "Regex match rule statement"):

1. ``rate-per-client-ip``: more than ``waf_rate_limit_per_5_minutes`` requests from one client IP in a 5-minute
   window are blocked with 429 and the contract's error body (``THROTTLED``);
2. ``body-over-api-limit``: a ``Content-Length`` above the API's own body limit (``MAX_BODY_BYTES``, the 413 of
   contracts/openapi.json) is blocked with 413 (``VALIDATION_FAILED``). WAF inspects at most the first 8-64 KB
   of a body, so the size is read from the header, as a decimal number greater than the limit; a request
   without the header (chunked) still meets the handler's own limit;
3. AWS managed rule groups: the core rule set (``AWSManagedRulesCommonRuleSet``), known bad inputs
   (``AWSManagedRulesKnownBadInputsRuleSet``, Log4j/JNDI among them), SQL injection
   (``AWSManagedRulesSQLiRuleSet``) and anonymous IPs (``AWSManagedRulesAnonymousIpList``: Tor and
   anonymizing proxies blocked; its hosting-provider rule only counts, since merchants' servers run there),
   each with its own block actions (403).

Logging goes to a CloudWatch Logs group whose name starts with ``aws-waf-logs-`` (WAF requires the prefix),
encrypted with the platform key and kept at least 365 days (PCI DSS 10.5.1), with the ``x-api-key`` and
``authorization`` headers redacted (secrets never reach the log).
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_log_resource_policy import CloudwatchLogResourcePolicy
from cdktf_cdktf_provider_aws.wafv2_web_acl import Wafv2WebAcl
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import Wafv2WebAclLoggingConfiguration
from constructs import Construct

from lambdas.shared.http import MAX_BODY_BYTES
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.iam import Statement, policy_document
from stacks.context import StackContext

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesAnonymousIpList",
)
# Rules of a managed group that only count: merchants call the API from their servers, which mostly run at
# hosting providers (AWSManagedRulesAnonymousIpList's HostingProviderIPList would block them); anonymizing
# proxies and Tor (AnonymousIPList) stay blocked.
COUNT_ONLY = {"AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",)}
REDACTED_HEADERS = ("x-api-key", "authorization")
WAF_LOG_PREFIX = "aws-waf-logs-"
RATE_WINDOW_SECONDS = 300
THROTTLED_BODY, TOO_LARGE_BODY = "throttled", "body-too-large"


def greater_than(limit: int) -> str:
    """A regular expression matching exactly the decimal numbers above ``limit`` (leading zeros allowed), for a
    header WAF can only compare as text.

    Either more significant digits than ``limit`` has, or as many and, at the first digit that differs, a larger one.
    """
    digits = str(limit)
    branches = [rf"[1-9]\d{{{len(digits)},}}"]
    for index, digit in enumerate(digits):
        if digit != "9":
            rest = len(digits) - index - 1
            branches.append(digits[:index] + f"[{int(digit) + 1}-9]" + (rf"\d{{{rest}}}" if rest else ""))
    return rf"^0*({'|'.join(branches)})$"


def _error_body(code: str, message: str) -> str:
    """The contract's error body (contracts/schemas/error.schema.json; WAF has no request id to add)."""
    return json.dumps({"error": {"code": code, "message": message}}, sort_keys=True, separators=(",", ":"))


# Nested blocks are given as jsii structs in their JSON (camelCase) form, which cdk.tf.json gets in snake_case;
# a rule's ``statement`` is passed through as it is (the provider types it as any JSON), so it is in Terraform's
# own snake_case.
def _visibility(metric: str) -> dict[str, object]:
    return {"cloudwatchMetricsEnabled": True, "metricName": metric, "sampledRequestsEnabled": True}


class ApiFirewall(Construct):
    """The web ACL, its association with ``stage_arn`` and its logging."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        key: PlatformKey,
        stage_arn: str,
        rate_limit_per_5_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        name = ctx.naming.api("payments-waf")
        rules: list[dict[str, object]] = [
            {
                "name": "rate-per-client-ip",
                "priority": 0,
                "action": {"block": {"customResponse": {"responseCode": 429, "customResponseBodyKey": THROTTLED_BODY}}},
                "statement": {
                    "rate_based_statement": {
                        "limit": rate_limit_per_5_minutes,
                        "aggregate_key_type": "IP",
                        "evaluation_window_sec": RATE_WINDOW_SECONDS,
                    }
                },
                "visibilityConfig": _visibility("rate-per-client-ip"),
            },
            {
                "name": "body-over-api-limit",
                "priority": 1,
                "action": {"block": {"customResponse": {"responseCode": 413, "customResponseBodyKey": TOO_LARGE_BODY}}},
                "statement": {
                    "regex_match_statement": {
                        "regex_string": greater_than(MAX_BODY_BYTES),
                        "field_to_match": {"single_header": {"name": "content-length"}},
                        "text_transformation": [{"priority": 0, "type": "NONE"}],
                    }
                },
                "visibilityConfig": _visibility("body-over-api-limit"),
            },
        ]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=2):
            rules.append(
                {
                    "name": group,
                    "priority": priority,
                    "overrideAction": {"none": {}},
                    "statement": {
                        "managed_rule_group_statement": {
                            "name": group,
                            "vendor_name": "AWS",
                            "rule_action_override": [
                                {"name": rule, "action_to_use": {"count": {}}} for rule in COUNT_ONLY.get(group, ())
                            ],
                        }
                    },
                    "visibilityConfig": _visibility(group),
                }
            )
        self.web_acl = Wafv2WebAcl(
            self,
            "web-acl",
            name=name,
            description="paygate payments API: managed rule groups, per-IP rate limit, body size",
            scope="REGIONAL",
            default_action={"allow": {}},
            custom_response_body=[
                {
                    "key": THROTTLED_BODY,
                    "contentType": "APPLICATION_JSON",
                    "content": _error_body("THROTTLED", "too many requests; retry with backoff"),
                },
                {
                    "key": TOO_LARGE_BODY,
                    "contentType": "APPLICATION_JSON",
                    "content": _error_body("VALIDATION_FAILED", "the request body is too large"),
                },
            ],
            rule=rules,
            visibility_config={
                "cloudwatch_metrics_enabled": True,
                "metric_name": name,
                "sampled_requests_enabled": True,
            },
        )
        self.association = Wafv2WebAclAssociation(
            self, "association", resource_arn=stage_arn, web_acl_arn=self.web_acl.arn
        )
        self.logs = CloudwatchLogGroup(
            self,
            "logs",
            name=f"{WAF_LOG_PREFIX}{ctx.config.prefix}-payments-api",
            retention_in_days=ctx.config.log_retention_days,  # >= 365 days (stacks/config.py)
            kms_key_id=key.arn,
        )
        # WAF delivers logs through CloudWatch Logs' log delivery service, which needs this grant on the group
        # (AWS WAF Developer Guide, "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group").
        delivery = CloudwatchLogResourcePolicy(
            self,
            "log-delivery-policy",
            policy_name=f"{name}-log-delivery",
            policy_document=policy_document(
                [
                    Statement(
                        sid="AllowWafLogDelivery",
                        principals={"Service": "delivery.logs.amazonaws.com"},
                        actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                        resources=(f"{self.logs.arn}:*",),
                        conditions={
                            "StringEquals": {"aws:SourceAccount": ctx.account_id},
                            "ArnLike": {"aws:SourceArn": ctx.arn("logs", "*")},
                        },
                    )
                ]
            ),
        )
        Wafv2WebAclLoggingConfiguration(
            self,
            "logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.logs.arn],
            redacted_fields=[{"singleHeader": {"name": header}} for header in REDACTED_HEADERS],
            depends_on=[delivery],
        )
