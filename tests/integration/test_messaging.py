"""Queues and topics as deployed: consumed queues hand poison messages to a dead-letter queue that keeps
them longer than the source does, and every queue and topic refuses requests without TLS (PCI DSS 4.2.1;
the platform's rule "poison messages -> DLQ with an alarm")."""

from __future__ import annotations

import json

from stacks import constants
from tests.integration.deployment import Deployment
from tests.integration.system import System, denies_insecure_transport, redrive_target


def test_the_payment_queue_redrives_to_its_dead_letter_queue_after_the_declared_receives(
    system: System, deployment: Deployment
) -> None:
    queue = system.queue_attributes(deployment.outputs[constants.OUTPUT_PAYMENT_QUEUE_URL])
    dlq = system.queue_attributes(deployment.outputs[constants.OUTPUT_PAYMENT_DLQ_URL])
    declared = system.declared.by("aws_sqs_queue", "name")
    declared_policy = json.loads(declared[queue["QueueArn"].split(":")[-1]].arguments["redrive_policy"])

    assert redrive_target(queue) == (dlq["QueueArn"], declared_policy["maxReceiveCount"])


def test_every_queue_declared_with_a_redrive_has_it_and_its_dead_letter_queue_keeps_messages_longer(
    system: System,
) -> None:
    queues = {name: system.queue_attributes(url) for name, url in system.queues().items()}
    by_arn = {attributes["QueueArn"]: attributes for attributes in queues.values()}
    declared = system.declared.by("aws_sqs_queue", "name")
    redriven = [name for name, resource in declared.items() if resource.arguments.get("redrive_policy")]

    assert len(redriven) == 2, redriven  # payments and notifications
    for name in redriven:
        target = redrive_target(queues[name])
        assert target is not None, f"{name} has no redrive policy"
        dlq = by_arn.get(target[0])
        assert dlq is not None, f"{name} redrives to {target[0]}, which is not one of the environment's queues"
        assert redrive_target(dlq) is None, f"{name}'s dead-letter queue redrives again"
        assert int(dlq["MessageRetentionPeriod"]) > int(queues[name]["MessageRetentionPeriod"]), name


def test_every_queue_and_topic_policy_denies_requests_without_tls(system: System) -> None:
    sqs, sns = system.client("sqs"), system.client("sns")
    policies = {}
    for name, url in system.queues().items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy", "QueueArn"])["Attributes"]
        policies[name] = ("sqs", attributes["QueueArn"], json.loads(attributes.get("Policy", "{}")))
    for name, arn in system.topics().items():
        attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        policies[name] = ("sns", arn, json.loads(attributes.get("Policy", "{}")))

    assert len(policies) == 7
    for name, (service, arn, policy) in policies.items():
        assert denies_insecure_transport(policy, service, {arn}), f"{name}: {json.dumps(policy)}"
