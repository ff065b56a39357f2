"""boto3 clients for a LocalStack endpoint, shared by the plugin tests and the e2e suite."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

FAKE_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def session(region: str) -> boto3.session.Session:
    return boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)


def client(endpoint: str, region: str, service: str, config: Config | None = None) -> Any:
    made = session(region).client(service, endpoint_url=endpoint, config=config)
    if service == "s3":
        # botocore sends "Expect: 100-continue" with object bodies; LocalStack's hypercorn/h11 gateway answers
        # it with a response urllib3 cannot parse (BadStatusLine), so the header is dropped.
        made.meta.events.register("before-send.s3.*", _drop_expect_header)
    return made


def _drop_expect_header(request: Any, **_: Any) -> None:
    request.headers.pop("Expect", None)
