"""SNS topics and SQS queues: payment work queue, notification fan-out, dead letters."""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from stacks.constants import DLQ_RETENTION_SECONDS, PAYMENT_QUEUE_MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_FACTOR
from stacks.constructs.encryption import PlatformKey
from stacks.constructs.iam import Statement, deny_insecure_transport, policy_document
from stacks.context import StackContext

KMS_DATA_KEY_REUSE_SECONDS = 300
MESSAGE_RETENTION_SECONDS = 4 * 24 * 3600


class Messaging(Construct):
    """Queues with redrive to DLQs, topics with TLS-only policies, events -> notification queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ctx: StackContext,
        key: PlatformKey,
        payment_consumer_timeout_seconds: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._ctx = ctx
        self._key = key

        # Topics first: the notification queue's policy names the events topic.
        self.events_topic = self._topic("payment-events", classification="confidential")
        self.alarm_topic = self._topic("alarms", classification="internal")
        self._topic_policy(self.events_topic, "events", publishers=None)
        self._topic_policy(self.alarm_topic, "alarms", publishers="cloudwatch.amazonaws.com")

        self.payment_dlq = self._queue("payments-dlq", retention=DLQ_RETENTION_SECONDS)
        self.payment_queue = self._queue(
            "payments",
            visibility_timeout=VISIBILITY_TIMEOUT_FACTOR * payment_consumer_timeout_seconds,
            dead_letter=self.payment_dlq,
        )
        self.notification_dlq = self._queue("notifications-dlq", retention=DLQ_RETENTION_SECONDS)
        notifications_arn = ctx.arn("sqs", ctx.naming.queue("notifications"))
        self.notification_queue = self._queue(
            "notifications",
            dead_letter=self.notification_dlq,
            allow=Statement(
                sid="AllowPaymentEventsTopicDelivery",
                principals={"Service": "sns.amazonaws.com"},
                actions=("sqs:SendMessage",),
                resources=(notifications_arn,),
                conditions={"ArnEquals": {"aws:SourceArn": self.events_topic.arn}},
            ),
        )
        # Where Lambda puts events it could not process (async invocations and dead-letter config).
        self.function_dlq = self._queue("function-failures-dlq", retention=DLQ_RETENTION_SECONDS)
        self.dead_letter_queues = {
            "payments-dlq": self.payment_dlq,
            "notifications-dlq": self.notification_dlq,
            "function-failures-dlq": self.function_dlq,
        }

        SnsTopicSubscription(
            self,
            "events-to-notifications",
            topic_arn=self.events_topic.arn,
            protocol="sqs",
            endpoint=self.notification_queue.arn,
            raw_message_delivery=True,
        )

    def _queue(
        self,
        purpose: str,
        *,
        visibility_timeout: int = 30,
        retention: int = MESSAGE_RETENTION_SECONDS,
        dead_letter: SqsQueue | None = None,
        allow: Statement | None = None,
    ) -> SqsQueue:
        """A CMK-encrypted queue whose policy (inline: a separate aws_sqs_queue_policy would wait for the
        queue and then for its own propagation, ~25 s more on every apply) refuses requests without TLS."""
        name = self._ctx.naming.queue(purpose)
        # Built from the name: the policy cannot reference the queue it belongs to.
        arn = self._ctx.arn("sqs", name)
        statements = [deny_insecure_transport("sqs", (arn,)), *([allow] if allow is not None else [])]
        queue = SqsQueue(
            self,
            purpose,
            name=name,
            policy=policy_document(statements),
            kms_master_key_id=self._key.arn,
            kms_data_key_reuse_period_seconds=KMS_DATA_KEY_REUSE_SECONDS,
            visibility_timeout_seconds=visibility_timeout,
            message_retention_seconds=retention,
            redrive_policy=(
                json.dumps(
                    {"deadLetterTargetArn": dead_letter.arn, "maxReceiveCount": PAYMENT_QUEUE_MAX_RECEIVE_COUNT},
                    sort_keys=True,
                )
                if dead_letter is not None
                else None
            ),
        )
        return queue

    def _topic(self, purpose: str, *, classification: str) -> SnsTopic:
        return SnsTopic(
            self,
            purpose,
            name=self._ctx.naming.topic(purpose),
            kms_master_key_id=self._key.arn,
            tags={"DataClassification": classification},
        )

    def _topic_policy(self, topic: SnsTopic, purpose: str, *, publishers: str | None) -> None:
        statements = [deny_insecure_transport("sns", (topic.arn,))]
        if publishers:
            statements.append(
                Statement(
                    sid="AllowServicePublish",
                    principals={"Service": publishers},
                    actions=("sns:Publish",),
                    resources=(topic.arn,),
                    conditions={"StringEquals": {"aws:SourceAccount": self._ctx.account_id}},
                )
            )
        statements.append(
            Statement(
                sid="AllowAccountManagement",
                principals={"AWS": self._ctx.arn("iam", "root", region=False)},
                actions=(
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ),
                resources=(topic.arn,),
                conditions={"StringEquals": {"aws:SourceOwner": self._ctx.account_id}},
            )
        )
        SnsTopicPolicy(self, f"{purpose}-topic-policy", arn=topic.arn, policy=policy_document(statements))
