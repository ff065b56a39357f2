"""boto3 clients for a LocalStack endpoint, shared by the plugin tests and the e2e suite.

The access key id is the 12-digit account to act in: LocalStack takes such a key id as the account id
(docs.localstack.cloud "Credentials"), so the e2e suite works in the account the environment declares.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

LOCALSTACK_DEFAULT_ACCOUNT = "000000000000"
FAKE_SECRET = "test"  # LocalStack ignores the secret access key


def session(region: str, account_id: str = LOCALSTACK_DEFAULT_ACCOUNT) -> boto3.session.Session:
    return boto3.session.Session(region_name=region, aws_access_key_id=account_id, aws_secret_access_key=FAKE_SECRET)


def client(
    endpoint: str,
    region: str,
    service: str,
    config: Config | None = None,
    account_id: str = LOCALSTACK_DEFAULT_ACCOUNT,
) -> Any:
    made = session(region, account_id).client(service, endpoint_url=endpoint, config=config)
    if service == "s3":
        # botocore sends "Expect: 100-continue" with object bodies; LocalStack's hypercorn/h11 gateway answers
        # it with a response urllib3 cannot parse (BadStatusLine), so the header is dropped.
        made.meta.events.register("before-send.s3.*", _drop_expect_header)
    return made


def _drop_expect_header(request: Any, **_: Any) -> None:
    request.headers.pop("Expect", None)
