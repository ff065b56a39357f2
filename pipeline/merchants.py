"""Merchant bindings, the admin side: which caller identities act for which merchant.

The API handler reads the bindings (lambdas/shared/merchants.py); only this module writes them. A binding is
one item of the deployment's callers table, keyed by the caller identity:

- ``apikey:<id>``: an API Gateway API key. ``merchant-bind --new-api-key`` creates the key (named
  ``<prefix>-<merchant_id>-<n>``, tagged ``MerchantId``), adds it to the stage's usage plan (its throttle and
  quota) and binds it; ``--api-key-id`` binds a key that exists;
- ``iam:<principal ARN>``: where the API's ``AWS_IAM`` authorization is enforced (AWS), the role or user that
  signs the merchant's requests, exactly as API Gateway names it in ``requestContext.identity.userArn``
  (an assumed role appears as ``arn:aws:sts::<account>:assumed-role/<role>/<session>``).

Why a table and not the API key's own metadata: a DynamoDB ``GetItem`` is a data-plane read the handler's role
can be granted on one table (the key's tags need ``apigateway:GET`` on the control plane, rate-limited per
account and able to read key values); the same item shape binds IAM principals, which have no key; and the
table is encrypted with the platform key, point-in-time recoverable and auditable like the others.

A caller is bound to one merchant for good: binding it to another fails (:class:`BindingError`) until it is
revoked. Binding it again to the same merchant changes nothing (idempotent).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from contracts.callers import MERCHANT_ID, MERCHANT_TAG, api_key_caller, principal_caller
from pipeline.core.errors import PipelineError
from pipeline.deploy.outputs import OPERATOR_CLIENT_CONFIG, operator_session, read_flat_outputs
from stacks import constants

PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]+")


class BindingError(PipelineError):
    """A binding cannot be made or removed; the message says why and what to do."""


@dataclass(frozen=True)
class Deployment:
    """What the admin commands need of a deployed environment, from its flat outputs
    (``build/localstack/outputs.json``, or ``terraform output -json`` values with ``region``).

    ``endpoint``: LocalStack's URL, or None for AWS (the standard credential chain).
    """

    callers_table: str
    usage_plan_id: str
    region: str
    account_id: str | None = None
    endpoint: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Deployment:
        """Raises :class:`BindingError` naming the outputs that are missing."""
        needed = (constants.OUTPUT_CALLERS_TABLE, constants.OUTPUT_USAGE_PLAN_ID, "region")
        missing = [name for name in needed if not outputs.get(name)]
        if missing:
            raise BindingError(
                f"the deployment outputs lack {', '.join(missing)}: deploy a stack that has the callers table "
                "(make localstack-deploy, or a promotion) and pass its outputs"
            )
        return cls(
            callers_table=str(outputs[constants.OUTPUT_CALLERS_TABLE]),
            usage_plan_id=str(outputs[constants.OUTPUT_USAGE_PLAN_ID]),
            region=str(outputs["region"]),
            account_id=str(outputs["account_id"]) if outputs.get("account_id") else None,
            endpoint=str(outputs["localstack_endpoint"]) if outputs.get("localstack_endpoint") else None,
        )

    @classmethod
    def read(cls, path: Path) -> Deployment:
        """From an outputs file; :class:`BindingError` when there is none."""
        return cls.from_outputs(read_flat_outputs(path, BindingError))

    def session(self, environ: Mapping[str, str]) -> boto3.session.Session:
        return operator_session(
            self.region, localstack=self.endpoint is not None, account_id=self.account_id, environ=environ
        )


@dataclass(frozen=True)
class Binding:
    """One callers-table item: ``caller_id`` acts for ``merchant_id`` since ``bound_at`` (ISO 8601 UTC)."""

    caller_id: str
    merchant_id: str
    bound_at: str
    bound_by: str
    api_key_id: str | None = None
    api_key_value: str | None = None  # only when the key was created by this call

    def to_json(self, *, with_secret: bool) -> dict[str, str]:
        shown = {k: v for k, v in self.__dict__.items() if v is not None}
        if not with_secret:
            shown.pop("api_key_value", None)
        return shown


class MerchantAdmin:
    """Binds and revokes callers of one deployment, through a boto3 DynamoDB resource and API Gateway client
    acting with the operator's rights (:meth:`connect` makes them from a session)."""

    def __init__(self, deployment: Deployment, *, dynamodb: Any, apigateway: Any) -> None:
        self.deployment = deployment
        self.table = dynamodb.Table(deployment.callers_table)
        self.apigateway = apigateway

    @classmethod
    def connect(cls, deployment: Deployment, session: boto3.session.Session) -> MerchantAdmin:
        options = {"endpoint_url": deployment.endpoint, "config": OPERATOR_CLIENT_CONFIG}
        return cls(
            deployment,
            dynamodb=session.resource("dynamodb", **options),
            apigateway=session.client("apigateway", **options),
        )

    def bind(self, caller_id: str, merchant_id: str, *, bound_by: str) -> Binding:
        """Bind ``caller_id`` (``apikey:…`` / ``iam:…``) to ``merchant_id`` (``m_`` + 6-32 lowercase letters or
        digits). Raises :class:`BindingError` for a malformed merchant id or a caller bound to another merchant."""
        check_merchant_id(merchant_id)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        item = {"caller_id": caller_id, "merchant_id": merchant_id, "bound_at": now, "bound_by": bound_by}
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(caller_id)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = self.table.get_item(Key={"caller_id": caller_id}, ConsistentRead=True).get("Item") or {}
            if existing.get("merchant_id") != merchant_id:
                raise BindingError(
                    f"{caller_id} is bound to another merchant: revoke it first (merchant-revoke)"
                ) from None
            item = existing  # bound before to the same merchant: nothing changes
        return Binding(
            caller_id=str(item["caller_id"]),
            merchant_id=str(item["merchant_id"]),
            bound_at=str(item["bound_at"]),
            bound_by=str(item["bound_by"]),
        )

    def bind_new_api_key(self, merchant_id: str, *, name_prefix: str, bound_by: str) -> Binding:
        """Create an API key for ``merchant_id``, add it to the deployment's usage plan, bind it. The key's value
        is returned once (``api_key_value``); API Gateway keeps it (``get-api-key --include-value``)."""
        check_merchant_id(merchant_id)
        key = self.apigateway.create_api_key(
            name=f"{name_prefix}-{merchant_id}-{uuid.uuid4().hex[:8]}",
            description=f"paygate caller of merchant {merchant_id}",
            enabled=True,
            tags={MERCHANT_TAG: merchant_id},
        )
        self.apigateway.create_usage_plan_key(
            usagePlanId=self.deployment.usage_plan_id, keyId=key["id"], keyType="API_KEY"
        )
        binding = self.bind(api_key_caller(key["id"]), merchant_id, bound_by=bound_by)
        return Binding(**{**binding.__dict__, "api_key_id": key["id"], "api_key_value": key["value"]})

    def revoke(self, caller_id: str, *, delete_api_key: bool = False) -> bool:
        """Remove the binding (the caller acts for no merchant from the next request: the handler reads
        strongly consistent); with ``delete_api_key`` also delete an ``apikey:`` caller's key. False when
        there was no binding."""
        removed = self.table.delete_item(Key={"caller_id": caller_id}, ReturnValues="ALL_OLD").get("Attributes")
        if delete_api_key and caller_id.startswith(api_key_caller("")):
            key_id = caller_id.removeprefix(api_key_caller(""))
            # Out of the usage plan first, then deleted: AWS drops a deleted key from its plans itself, LocalStack
            # keeps the plan's entry and answers a later request with that key 500 instead of 403.
            # (Looked up first: moto, LocalStack's API Gateway backend, fails on a missing plan key, not NotFound.)
            plan = {"usagePlanId": self.deployment.usage_plan_id, "keyId": key_id}
            if _unless_missing(lambda: self.apigateway.get_usage_plan_key(**plan)):
                self.apigateway.delete_usage_plan_key(**plan)
            _unless_missing(lambda: self.apigateway.delete_api_key(apiKey=key_id))
        return removed is not None

    def callers_of(self, merchant_id: str) -> list[dict[str, str]]:
        """Every binding of ``merchant_id``, oldest first (the table's by-merchant index)."""
        check_merchant_id(merchant_id)
        pages, query = [], {"IndexName": "by-merchant", "KeyConditionExpression": "merchant_id = :m"}
        answer = self.table.query(**query, ExpressionAttributeValues={":m": merchant_id})
        pages.extend(answer["Items"])
        while "LastEvaluatedKey" in answer:
            answer = self.table.query(
                **query, ExpressionAttributeValues={":m": merchant_id}, ExclusiveStartKey=answer["LastEvaluatedKey"]
            )
            pages.extend(answer["Items"])
        return [{k: str(v) for k, v in item.items()} for item in pages]


def _unless_missing(call: Callable[[], object]) -> bool:
    """Run an API Gateway call on something that may be gone already: False when it is (NotFoundException)."""
    try:
        call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NotFoundException":
            raise
        return False
    return True


def check_merchant_id(merchant_id: str) -> None:
    """:class:`BindingError` unless ``merchant_id`` has the contract's form (``m_`` + 6-32 of [a-z0-9])."""
    if not MERCHANT_ID.fullmatch(merchant_id):
        raise BindingError(f"merchant id {merchant_id!r} is not m_ followed by 6-32 lowercase letters or digits")


def principal(arn: str) -> str:
    """The callers-table key of an IAM principal ARN; :class:`BindingError` for anything else."""
    if not PRINCIPAL_ARN.fullmatch(arn):
        raise BindingError(f"{arn!r} is not an IAM or STS principal ARN (arn:aws:iam::<account>:role/<name>, …)")
    return principal_caller(arn)
