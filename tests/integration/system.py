"""The deployed system as the post-deploy suite sees it: each declared resource looked up where it runs.

Resources are found from the environment's outputs (key, API, tables, queues, state machine, topics)
and from the names the artifact declares, resolved in the deployment's account and region (a declared
``${...}`` reference, such as the account id in a bucket name or the API id in a log group name, is
matched against the deployed names). A declared resource that cannot be found fails the test that asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from stacks import constants
from tests.integration.declared import Resource, literal_prefix, name_pattern
from tests.integration.deployment import Deployment


class System:
    """Lookups of one deployment's resources through its target's clients (made once per service)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.declared = deployment.declared
        self.target = deployment.target

    @cache  # noqa: B019 - one System per session
    def client(self, service: str) -> Any:
        return self.target.client(service)

    @property
    def account_id(self) -> str:
        return self.deployment.account_id

    @property
    def partition(self) -> str:
        return str(self.deployment.outputs[constants.OUTPUT_KMS_KEY_ARN]).split(":")[1]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        where = self.deployment.region if region else ""
        owner = self.account_id if account else ""
        return f"arn:{self.partition}:{service}:{where}:{owner}:{resource}"

    # --- names the artifact declares, resolved --------------------------------------------------------

    def one(self, declared_name: str, deployed_names: list[str]) -> str:
        """The one deployed name matching a declared one (references matched as any ``[^/]+``)."""
        pattern = name_pattern(declared_name)
        found = [name for name in deployed_names if pattern.fullmatch(name)]
        assert len(found) == 1, f"declared {declared_name!r}: expected one deployed match, found {found}"
        return found[0]

    def table_names(self) -> list[str]:
        return sorted(self.declared.by("aws_dynamodb_table", "name"))

    def function_names(self) -> list[str]:
        return sorted(self.declared.by("aws_lambda_function", "function_name"))

    def alarm_names(self) -> list[str]:
        return sorted(self.declared.by("aws_cloudwatch_metric_alarm", "alarm_name"))

    def queue_url(self, name: str) -> str:
        sqs = self.client("sqs")
        return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=self.account_id)["QueueUrl"])

    def queues(self) -> dict[str, str]:
        """Every declared queue: name -> URL."""
        return {name: self.queue_url(name) for name in sorted(self.declared.by("aws_sqs_queue", "name"))}

    def queue_attributes(self, url: str) -> dict[str, str]:
        return dict(self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

    def topics(self) -> dict[str, str]:
        """Every declared topic: name -> ARN."""
        return {name: self.arn("sns", name) for name in sorted(self.declared.by("aws_sns_topic", "name"))}

    def bucket_names(self) -> list[str]:
        """Every declared bucket, resolved against the account's buckets."""
        listed = [bucket["Name"] for bucket in self.client("s3").list_buckets()["Buckets"]]
        return sorted(
            self.one(resource.arguments["bucket"], listed) for resource in self.declared.resources("aws_s3_bucket")
        )

    def log_groups(self) -> Iterator[tuple[Resource, dict[str, Any]]]:
        """Every declared log group with its deployed description (``describe_log_groups``)."""
        logs = self.client("logs")
        for resource in self.declared.resources("aws_cloudwatch_log_group"):
            declared_name = str(resource.arguments["name"])
            pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=literal_prefix(declared_name))
            groups = {group["logGroupName"]: group for page in pages for group in page["logGroups"]}
            yield resource, groups[self.one(declared_name, list(groups))]

    def alarms(self) -> dict[str, dict[str, Any]]:
        """Every declared alarm that exists: name -> ``describe_alarms`` entry."""
        names = self.alarm_names()
        cloudwatch = self.client("cloudwatch")
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            pages = cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm"]
            )
            found.update({alarm["AlarmName"]: alarm for page in pages for alarm in page["MetricAlarms"]})
        return found

    def state_machine(self) -> dict[str, Any]:
        arn = self.deployment.outputs[constants.OUTPUT_STATE_MACHINE_ARN]
        return dict(self.client("stepfunctions").describe_state_machine(stateMachineArn=arn))

    def key_arn_of(self, key_id: str) -> str:
        """The ARN of a key named by id, ARN or alias (as services report the key they use)."""
        return str(self.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])

    # --- tags of any declared resource -----------------------------------------------------------------

    def tags(self, resource: Resource) -> dict[str, str]:
        """The deployed tags of a declared resource; AssertionError for a type without a reader here."""
        reader = TAG_READERS.get(resource.type)
        assert reader is not None, f"no tag reader for {resource.type}: add one to tests/integration/system.py"
        return reader(self, resource)


def _pairs(tags: list[dict[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {tag[key]: tag[value] for tag in tags}


def _table_tags(system: System, resource: Resource) -> dict[str, str]:
    dynamodb = system.client("dynamodb")
    arn = dynamodb.describe_table(TableName=resource.arguments["name"])["Table"]["TableArn"]
    return _pairs(dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", []))


def _queue_tags(system: System, resource: Resource) -> dict[str, str]:
    url = system.queue_url(resource.arguments["name"])
    return dict(system.client("sqs").list_queue_tags(QueueUrl=url).get("Tags", {}))


def _topic_tags(system: System, resource: Resource) -> dict[str, str]:
    arn = system.arn("sns", resource.arguments["name"])
    return _pairs(system.client("sns").list_tags_for_resource(ResourceArn=arn).get("Tags", []))


def _bucket_tags(system: System, resource: Resource) -> dict[str, str]:
    listed = [bucket["Name"] for bucket in system.client("s3").list_buckets()["Buckets"]]
    name = system.one(resource.arguments["bucket"], listed)
    try:
        return _pairs(system.client("s3").get_bucket_tagging(Bucket=name)["TagSet"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchTagSet":
            return {}
        raise


def _function_tags(system: System, resource: Resource) -> dict[str, str]:
    return dict(system.client("lambda").get_function(FunctionName=resource.arguments["function_name"]).get("Tags", {}))


def _event_source_mapping_tags(system: System, resource: Resource) -> dict[str, str]:
    lambda_ = system.client("lambda")
    queue_url = system.deployment.outputs[constants.OUTPUT_PAYMENT_QUEUE_URL]
    queue_arn = system.queue_attributes(queue_url)["QueueArn"]
    mappings = lambda_.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
    assert len(mappings) == 1, f"expected one event source mapping of {queue_arn}, found {mappings}"
    arn = mappings[0].get("EventSourceMappingArn") or system.arn(
        "lambda", f"event-source-mapping:{mappings[0]['UUID']}"
    )
    return dict(lambda_.list_tags(Resource=arn).get("Tags", {}))


def _state_machine_tags(system: System, resource: Resource) -> dict[str, str]:
    arn = system.arn("states", f"stateMachine:{resource.arguments['name']}")
    answer = system.client("stepfunctions").list_tags_for_resource(resourceArn=arn)
    return _pairs(answer.get("tags", []), "key", "value")


def _log_group_tags(system: System, resource: Resource) -> dict[str, str]:
    logs = system.client("logs")
    declared_name = str(resource.arguments["name"])
    pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=literal_prefix(declared_name))
    names = [group["logGroupName"] for page in pages for group in page["logGroups"]]
    name = system.one(declared_name, names)
    return dict(logs.list_tags_for_resource(resourceArn=system.arn("logs", f"log-group:{name}")).get("tags", {}))


def _key_tags(system: System, resource: Resource) -> dict[str, str]:
    key_arn = system.deployment.outputs[constants.OUTPUT_KMS_KEY_ARN]
    answer = system.client("kms").list_resource_tags(KeyId=key_arn)
    return _pairs(answer.get("Tags", []), "TagKey", "TagValue")


def _alarm_tags(system: System, resource: Resource) -> dict[str, str]:
    arn = system.arn("cloudwatch", f"alarm:{resource.arguments['alarm_name']}")
    return _pairs(system.client("cloudwatch").list_tags_for_resource(ResourceARN=arn).get("Tags", []))


def _role_tags(system: System, resource: Resource) -> dict[str, str]:
    return _pairs(system.client("iam").list_role_tags(RoleName=resource.arguments["name"]).get("Tags", []))


def _rest_api_tags(system: System, resource: Resource) -> dict[str, str]:
    api_id = system.deployment.outputs[constants.OUTPUT_API_ID]
    return dict(system.client("apigateway").get_rest_api(restApiId=api_id).get("tags", {}))


def _stage_tags(system: System, resource: Resource) -> dict[str, str]:
    api_id = system.deployment.outputs[constants.OUTPUT_API_ID]
    stage = system.client("apigateway").get_stage(restApiId=api_id, stageName=resource.arguments["stage_name"])
    return dict(stage.get("tags", {}))


def _api_key_tags(system: System, resource: Resource) -> dict[str, str]:
    key_id = system.deployment.outputs[constants.OUTPUT_API_KEY_ID]
    return dict(system.client("apigateway").get_api_key(apiKey=key_id).get("tags", {}))


def _usage_plan_tags(system: System, resource: Resource) -> dict[str, str]:
    plans = system.client("apigateway").get_usage_plans(keyId=system.deployment.outputs[constants.OUTPUT_API_KEY_ID])
    found = [plan for plan in plans["items"] if plan["name"] == resource.arguments["name"]]
    assert len(found) == 1, f"usage plan {resource.arguments['name']!r} of the API key: found {found}"
    return dict(found[0].get("tags", {}))


def _web_acl_tags(system: System, resource: Resource) -> dict[str, str]:
    arn = system.deployment.outputs[constants.OUTPUT_WEB_ACL_ARN]
    answer = system.client("wafv2").list_tags_for_resource(ResourceARN=arn)
    return _pairs(answer.get("TagInfoForResource", {}).get("TagList", []))


def _signing_profile_tags(system: System, resource: Resource) -> dict[str, str]:
    signer = system.client("signer")
    name = system.deployment.outputs[constants.OUTPUT_SIGNING_PROFILE_NAME]
    arn = signer.get_signing_profile(profileName=name)["arn"]
    return dict(signer.list_tags_for_resource(resourceArn=arn).get("tags", {}))


def _code_signing_config_tags(system: System, resource: Resource) -> dict[str, str]:
    arn = system.deployment.outputs[constants.OUTPUT_CODE_SIGNING_CONFIG_ARN]
    return dict(system.client("lambda").list_tags(Resource=arn).get("Tags", {}))


def _event_rule_tags(system: System, resource: Resource) -> dict[str, str]:
    events = system.client("events")
    arn = events.describe_rule(Name=resource.arguments["name"])["Arn"]
    return _pairs(events.list_tags_for_resource(ResourceARN=arn).get("Tags", []))


def _object_tags(system: System, resource: Resource) -> dict[str, str]:
    """Tags of a declared S3 object; the stack's objects are the function archives in the function-code bucket."""
    bucket = system.deployment.outputs[constants.OUTPUT_CODE_BUCKET]
    answer = system.client("s3").get_object_tagging(Bucket=bucket, Key=resource.arguments["key"])
    return _pairs(answer.get("TagSet", []))


TAG_READERS: dict[str, Callable[[System, Resource], dict[str, str]]] = {
    "aws_dynamodb_table": _table_tags,
    "aws_sqs_queue": _queue_tags,
    "aws_sns_topic": _topic_tags,
    "aws_s3_bucket": _bucket_tags,
    "aws_lambda_function": _function_tags,
    "aws_lambda_event_source_mapping": _event_source_mapping_tags,
    "aws_sfn_state_machine": _state_machine_tags,
    "aws_cloudwatch_log_group": _log_group_tags,
    "aws_kms_key": _key_tags,
    "aws_cloudwatch_metric_alarm": _alarm_tags,
    "aws_iam_role": _role_tags,
    "aws_api_gateway_rest_api": _rest_api_tags,
    "aws_api_gateway_stage": _stage_tags,
    "aws_api_gateway_api_key": _api_key_tags,
    "aws_api_gateway_usage_plan": _usage_plan_tags,
    "aws_wafv2_web_acl": _web_acl_tags,
    "aws_signer_signing_profile": _signing_profile_tags,
    "aws_lambda_code_signing_config": _code_signing_config_tags,
    "aws_s3_object": _object_tags,
    "aws_cloudwatch_event_rule": _event_rule_tags,
}


def redrive_target(attributes: dict[str, str]) -> tuple[str, int] | None:
    """(dead-letter queue ARN, maxReceiveCount) of a queue's RedrivePolicy attribute, None without one."""
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None
    policy = json.loads(raw)
    return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])


def denies_insecure_transport(policy: dict[str, Any], service: str, resources: set[str]) -> bool:
    """Whether a resource policy denies every principal all of ``service``'s actions (``<service>:*``) on
    ``resources`` when ``aws:SecureTransport`` is false (AWS docs: the ``aws:SecureTransport`` condition key;
    PCI DSS 4.2.1)."""
    for statement in policy.get("Statement", []):
        actions = _as_set(statement.get("Action"))
        condition = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
        if (
            statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and actions & {"*", f"{service}:*"}
            and resources <= _as_set(statement.get("Resource"))
            and {item.lower() for item in _as_set(condition)} == {"false"}
        ):
            return True
    return False


def _as_set(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, list):
        return {str(item) for item in value}
    return {str(value)}
