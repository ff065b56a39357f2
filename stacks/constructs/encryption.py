"""Customer-managed KMS key for every data store, queue, topic, log group and function env."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from stacks.constructs.iam import Statement, policy_document
from stacks.context import StackContext

# Services that use the key on behalf of principals of this account (kms:ViaService).
VIA_SERVICES = ("s3", "dynamodb", "sqs", "sns", "lambda", "states")


class PlatformKey(Construct):
    """One rotating CMK with a key policy that lets each consuming AWS service use it."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: StackContext) -> None:
        super().__init__(scope, construct_id)
        account_root = ctx.arn("iam", "root", region=False)
        log_group_arns = [
            ctx.arn("logs", f"log-group:/aws/lambda/{ctx.config.prefix}-*"),
            ctx.arn("logs", f"log-group:/aws/apigateway/{ctx.config.prefix}-*"),
            ctx.arn("logs", f"log-group:/aws/vendedlogs/states/{ctx.config.prefix}-*"),
            # API Gateway names execution log groups by API id; the stack pre-creates them.
            ctx.arn("logs", "log-group:API-Gateway-Execution-Logs_*"),
            # The web ACL's traffic log (stacks/constructs/waf.py: WAF requires the aws-waf-logs- prefix).
            ctx.arn("logs", f"log-group:aws-waf-logs-{ctx.config.prefix}-*"),
        ]
        source_account = {"StringEquals": {"aws:SourceAccount": ctx.account_id}}
        statements = [
            Statement(
                sid="EnableAccountAdministration",
                principals={"AWS": account_root},
                actions=("kms:*",),
                # In a key policy "*" means "this key"; AWS requires the account root statement
                # so the key can never become unmanageable, and it enables IAM policies on the key.
                resources=("*",),
                why="key policy: '*' is this key",
            ),
            Statement(
                sid="AllowCloudWatchLogsForPlatformLogGroups",
                principals={"Service": f"logs.{ctx.region}.amazonaws.com"},
                actions=("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
                resources=("*",),
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns}},
                why="key policy: '*' is this key",
            ),
            Statement(
                # Step Functions hands encrypted execution logs to vended-log delivery, which
                # decrypts them before writing to the (also CMK-encrypted) log group.
                sid="AllowVendedLogDeliveryForWorkflowLogs",
                principals={"Service": "delivery.logs.amazonaws.com"},
                actions=("kms:Decrypt",),
                resources=("*",),
                conditions=source_account,
                why="key policy: '*' is this key",
            ),
            Statement(
                sid="AllowSnsToDeliverToEncryptedQueues",
                principals={"Service": "sns.amazonaws.com"},
                actions=("kms:GenerateDataKey*", "kms:Decrypt"),
                resources=("*",),
                conditions=source_account,
                why="key policy: '*' is this key",
            ),
            Statement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                principals={"Service": "cloudwatch.amazonaws.com"},
                actions=("kms:GenerateDataKey*", "kms:Decrypt"),
                resources=("*",),
                conditions=source_account,
                why="key policy: '*' is this key",
            ),
            Statement(
                sid="AllowS3ToWriteEventsAndLogs",
                principals={"Service": "s3.amazonaws.com"},
                actions=("kms:GenerateDataKey*", "kms:Decrypt"),
                resources=("*",),
                conditions=source_account,
                why="key policy: '*' is this key",
            ),
            Statement(
                sid="AllowAccountPrincipalsThroughPlatformServices",
                principals={"AWS": account_root},
                actions=(
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:DescribeKey",
                    "kms:CreateGrant",
                ),
                resources=("*",),
                conditions={
                    "StringEquals": {
                        "kms:CallerAccount": ctx.account_id,
                        "kms:ViaService": [ctx.via_service(s) for s in VIA_SERVICES],
                    }
                },
                why="key policy: '*' is this key",
            ),
        ]
        self.key = KmsKey(
            self,
            "key",
            description=f"{ctx.config.prefix} data key (S3, DynamoDB, SQS, SNS, Logs, Lambda env, Step Functions)",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=policy_document(statements),
        )
        KmsAlias(self, "alias", name=ctx.naming.kms_alias("data"), target_key_id=self.key.key_id)

    @property
    def arn(self) -> str:
        return self.key.arn

    def use_statement(self, sid: str, *, encrypt: bool = True) -> Statement:
        """Identity-policy statement letting a role use this key (decrypt, and encrypt if asked)."""
        actions = ["kms:Decrypt", "kms:DescribeKey"]
        if encrypt:
            actions += ["kms:Encrypt", "kms:GenerateDataKey"]
        return Statement(sid=sid, actions=tuple(actions), resources=(self.key.arn,))
