"""The callers table's key format, shared by the API handler that reads bindings (lambdas/shared/merchants.py)
and the admin command that writes them (pipeline/merchants.py).

A caller identity is ``apikey:<API Gateway API key id>`` or ``iam:<principal ARN as API Gateway's
requestContext.identity.userArn names it>``; it is bound to one merchant id (``m_`` + 6-32 of [a-z0-9], the
create-payment contract's pattern).
"""

from __future__ import annotations

import re

# The tag naming a caller's merchant: on the API keys merchant-bind creates, and on the IAM principals the batch
# bucket's policy holds to incoming/<MerchantId>/ (stacks/constructs/storage.py).
MERCHANT_TAG = "MerchantId"
API_KEY_PREFIX = "apikey:"
PRINCIPAL_PREFIX = "iam:"
# The merchant id format of the create-payment contract (contracts/schemas/create_payment_request.schema.json).
MERCHANT_ID = re.compile(r"m_[a-z0-9]{6,32}")


def api_key_caller(api_key_id: str) -> str:
    """The callers-table key of an API key (``apikey:<API Gateway API key id>``)."""
    return API_KEY_PREFIX + api_key_id


def principal_caller(principal_arn: str) -> str:
    """The callers-table key of an IAM principal (``iam:<principal ARN>``, as ``userArn`` names it)."""
    return PRINCIPAL_PREFIX + principal_arn
