"""Least-privilege permissions per function: named actions on named resources, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

from stacks.constants import BATCH_PREFIX
from stacks.constructs.functions import PaymentFunction
from stacks.constructs.iam import Statement
from stacks.constructs.messaging import Messaging
from stacks.constructs.storage import PlatformStorage
from stacks.constructs.tables import PaymentTables
from stacks.constructs.workflow import PaymentWorkflow

READ = ("dynamodb:GetItem",)
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# The audit log is append-only: writers may put new entries, never update or delete them.
AUDIT_APPEND = ("dynamodb:PutItem",)


def _table(sid: str, table: DynamodbTable, actions: tuple[str, ...]) -> Statement:
    return Statement(sid=sid, actions=actions, resources=(table.arn,))


@dataclass(frozen=True)
class Grants:
    """Knows the shared resources; each method grants one function exactly what its code calls."""

    tables: PaymentTables
    messaging: Messaging
    storage: PlatformStorage
    workflow: PaymentWorkflow

    def _audit(self) -> Statement:
        return _table("AppendAuditLog", self.tables.audit, AUDIT_APPEND)

    def api_handler(self, fn: PaymentFunction) -> IamRolePolicy:
        return fn.grant(
            "create-and-read-payments",
            [
                _table("CreateAndReadPayments", self.tables.payments, ("dynamodb:GetItem", "dynamodb:PutItem")),
                _table("IdempotencyRecords", self.tables.idempotency, IDEMPOTENCY_ACTIONS),
                # Which merchant a caller acts for: read only (bindings are written by the admin command).
                _table("ResolveCallerMerchant", self.tables.callers, READ),
                self._audit(),
                Statement(sid="StartLifecycle", actions=("states:StartExecution",), resources=(self.workflow.arn,)),
            ],
        )

    def workflow_tasks(self, fn: PaymentFunction) -> IamRolePolicy:
        return fn.grant(
            "advance-payments",
            [
                _table("AdvancePayments", self.tables.payments, ("dynamodb:GetItem", "dynamodb:UpdateItem")),
                self._audit(),
                Statement(
                    sid="PublishPaymentEvents", actions=("sns:Publish",), resources=(self.messaging.events_topic.arn,)
                ),
            ],
        )

    def payment_processor(self, fn: PaymentFunction) -> IamRolePolicy:
        queue = self.messaging.payment_queue
        return fn.grant(
            "process-payment-queue",
            [
                Statement(
                    sid="ConsumePaymentQueue",
                    actions=(
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                    ),
                    resources=(queue.arn,),
                ),
                _table(
                    "ApplyPayments",
                    self.tables.payments,
                    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                ),
                _table("IdempotencyRecords", self.tables.idempotency, IDEMPOTENCY_ACTIONS),
                self._audit(),
                Statement(
                    sid="PublishPaymentEvents", actions=("sns:Publish",), resources=(self.messaging.events_topic.arn,)
                ),
            ],
        )

    def reconciliation(self, fn: PaymentFunction, *, batch_function: PaymentFunction) -> IamRolePolicy:
        """Find stuck payments and batch files (the tables' by-status and by-merchant indexes, read only) and give
        each another run: the lifecycle workflow (start, describe, list its executions) or the batch function
        (invoke). It writes no table: the code it re-drives does."""
        payments, batches = self.tables.payments.arn, self.tables.batches.arn
        return fn.grant(
            "reconcile-stuck-payments",
            [
                _table("ReadPayments", self.tables.payments, READ),
                Statement(
                    sid="FindStuckPayments",
                    actions=("dynamodb:Query",),
                    resources=(f"{payments}/index/by-status", f"{payments}/index/by-merchant"),
                ),
                Statement(
                    sid="FindStuckBatchFiles", actions=("dynamodb:Query",), resources=(f"{batches}/index/by-status",)
                ),
                Statement(
                    sid="RedriveLifecycle",
                    actions=("states:StartExecution", "states:ListExecutions"),
                    resources=(self.workflow.arn,),
                ),
                Statement(
                    sid="ReadLifecycleRuns",
                    actions=("states:DescribeExecution",),
                    resources=(self.workflow.executions_arn,),
                ),
                Statement(sid="ResumeBatchFiles", actions=("lambda:InvokeFunction",), resources=(batch_function.arn,)),
            ],
        )

    def batch_processor(self, fn: PaymentFunction) -> IamRolePolicy:
        bucket = self.storage.bucket
        return fn.grant(
            "ingest-batch-files",
            [
                Statement(
                    sid="ReadIncomingBatchFiles",
                    actions=("s3:GetObject", "s3:GetObjectVersion"),
                    resources=(f"{bucket.arn}/{BATCH_PREFIX}*",),
                ),
                _table(
                    "TrackBatches", self.tables.batches, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
                ),
                self._audit(),
                Statement(
                    sid="EnqueuePayments", actions=("sqs:SendMessage",), resources=(self.messaging.payment_queue.arn,)
                ),
            ],
        )
