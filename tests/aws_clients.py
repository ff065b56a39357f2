"""The one switch between LocalStack and AWS for every test that talks to a deployed system.

A :class:`Target` says where the system runs: ``Target.localstack(endpoint, region)`` (clients from
``localstack-client``, fake credentials) or ``Target.aws(region)`` (a plain boto3 session: the default
credential chain, or a named profile). The e2e suite (``tests/localstack``), the post-deploy suite
(``tests/integration``) and the LocalStack harness tests all take their clients from here, so the same
test code runs against both; only the endpoint and the credentials differ.

Errors: :class:`TargetError` (a ``ValueError``) when a target is malformed, or when the endpoint a client
resolved is not the target's (``localstack-client`` follows ``AWS_ENDPOINT_URL``, ``USE_SSL`` and
``LOCALSTACK_HOST`` of the process environment; boto3 follows ``AWS_ENDPOINT_URL*``): a test never talks
to another system than the one it was told to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from localstack_client import config as localstack_client_config
from localstack_client.session import Session as LocalStackSession

LOCALSTACK: Literal["localstack"] = "localstack"
# The services localstack-client has an endpoint for (its table does not depend on the host).
LOCALSTACK_CLIENT_SERVICES = frozenset(localstack_client_config.get_service_endpoints("localhost:4566"))
AWS: Literal["aws"] = "aws"
KINDS = (LOCALSTACK, AWS)
# LocalStack takes a 12-digit access key id as the account id; any other key id means 000000000000.
FAKE_SECRET = "test"
FAKE_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": FAKE_SECRET}
ACCOUNT_ID_PATTERN = re.compile(r"^[0-9]{12}$")
# [0-9], not \d (as stacks/config.py REGION_PATTERN).
REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-[0-9]$")
# Where boto3 sends requests for a commercial or GovCloud region (legacy and dual-stack names).
AWS_ENDPOINT_SUFFIXES = (".amazonaws.com", ".api.aws")


class TargetError(ValueError):
    """A target is malformed, or a client would not talk to it; the message says which and why."""


def credentials(account_id: str | None = None) -> dict[str, str]:
    """Fake LocalStack credentials; with ``account_id`` (12 digits) LocalStack answers as that account.

    Source: LocalStack docs, "Multi-account setups" (an access key id of 12 digits is the account id).
    """
    if account_id is None:
        return dict(FAKE_CREDENTIALS)
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise TargetError(f"account id {account_id!r} is not 12 digits")
    return {"aws_access_key_id": account_id, "aws_secret_access_key": FAKE_SECRET}


@dataclass(frozen=True)
class Target:
    """Where a deployed system runs: kind ``localstack`` (``endpoint``, e.g. ``http://127.0.0.1:4566``)
    or ``aws`` (``profile``, else the default credential chain); ``region`` for both.

    ``account_id`` (LocalStack only) is the account the fake access key id names.
    """

    kind: Literal["localstack", "aws"]
    region: str
    endpoint: str | None = None
    account_id: str | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TargetError(f"target kind {self.kind!r} is unknown: use {' or '.join(KINDS)}")
        if not REGION_PATTERN.fullmatch(self.region):
            raise TargetError(f"region {self.region!r} is not an AWS region name (e.g. eu-west-1)")
        if self.kind == LOCALSTACK:
            if self.endpoint is None:
                raise TargetError("a localstack target needs its endpoint (e.g. http://127.0.0.1:4566)")
            host, port = _host_and_port(self.endpoint)
            object.__setattr__(self, "endpoint", f"http://{host}:{port}")  # one spelling, compared below
            if self.profile is not None:
                raise TargetError("a localstack target takes fake credentials, not an AWS profile")
            credentials(self.account_id)  # validates the account id
        else:
            if self.endpoint is not None:
                raise TargetError(f"an aws target takes no endpoint (got {self.endpoint}); boto3 resolves AWS's own")
            if self.account_id is not None:
                raise TargetError("an aws target's account comes from its credentials, not from an account id")

    @classmethod
    def localstack(cls, endpoint: str, region: str, account_id: str | None = None) -> Target:
        return cls(LOCALSTACK, region, endpoint=endpoint, account_id=account_id)

    @classmethod
    def aws(cls, region: str, profile: str | None = None) -> Target:
        return cls(AWS, region, profile=profile)

    def describe(self) -> str:
        """One line for messages: ``localstack http://127.0.0.1:4566 (us-east-1)`` / ``aws eu-west-1``."""
        if self.kind == LOCALSTACK:
            return f"localstack {self.endpoint} ({self.region})"
        return f"aws {self.region}" + (f" (profile {self.profile})" if self.profile else "")

    @cached_property
    def session(self) -> Any:
        """A ``localstack_client.session.Session`` or a ``boto3.session.Session`` (``client`` and ``resource``
        on both), made once per target."""
        if self.kind == LOCALSTACK:
            host, port = _host_and_port(str(self.endpoint))
            return LocalStackSession(
                **credentials(self.account_id), region_name=self.region, localstack_host=f"{host}:{port}"
            )
        return boto3.session.Session(region_name=self.region, profile_name=self.profile)

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client of ``service`` (boto3 name: ``stepfunctions``, ``logs``…) for this target."""
        extra = {"config": config} if config is not None else {}
        if self.kind == LOCALSTACK and service not in LOCALSTACK_CLIENT_SERVICES:
            # localstack-client knows only the services its endpoint table lists (Signer is not one); any other
            # goes to the same edge endpoint with the same fake credentials.
            made = boto3.client(
                service, endpoint_url=self.endpoint, region_name=self.region, **credentials(self.account_id), **extra
            )
        else:
            made = self.session.client(service, **extra)
        self._check_endpoint(service, made.meta.endpoint_url)
        if service == "s3":
            _drop_expect_on_s3(made)
        return made

    def resource(self, service: str) -> Any:
        """A boto3 resource (``dynamodb``, ``s3``…) for this target."""
        made = self.session.resource(service)
        self._check_endpoint(service, made.meta.client.meta.endpoint_url)
        if service == "s3":
            _drop_expect_on_s3(made.meta.client)
        return made

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        """``headers`` plus a SigV4 signature for ``execute-api`` (API methods with ``AWS_IAM`` auth).

        Source: AWS docs, "Signing AWS API requests" (SigV4). LocalStack accepts the signature without
        checking it; AWS requires it.
        """
        if self.kind == LOCALSTACK:
            fake = credentials(self.account_id)
            signing = Credentials(fake["aws_access_key_id"], fake["aws_secret_access_key"])
        else:
            found = self.session.get_credentials()
            if found is None:
                raise TargetError(f"no AWS credentials for {self.describe()}: configure a profile or the environment")
            signing = found.get_frozen_credentials()
        signer = SigV4Auth(signing, "execute-api", self.region)
        request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        signer.add_auth(request)
        return dict(request.headers.items())

    def api_base(self, api_id: str, stage: str, invoke_url: str) -> str:
        """The base URL of a REST API stage: LocalStack's path-style ``<endpoint>/_aws/execute-api/<id>/<stage>``
        (the ``*.execute-api.localhost.localstack.cloud`` host does not resolve offline), AWS's invoke URL."""
        if self.kind == LOCALSTACK:
            return f"{self.endpoint}/_aws/execute-api/{api_id}/{stage}"
        return invoke_url.rstrip("/")

    def _check_endpoint(self, service: str, resolved: str) -> None:
        if self.kind == LOCALSTACK:
            if resolved.rstrip("/") != self.endpoint:
                raise TargetError(
                    f"localstack-client resolved {resolved} for {service}, not the target's {self.endpoint}: "
                    "unset AWS_ENDPOINT_URL / USE_SSL in this environment"
                )
            return
        parts = urlsplit(resolved)
        if parts.scheme != "https" or not (parts.hostname or "").endswith(AWS_ENDPOINT_SUFFIXES):
            raise TargetError(
                f"boto3 resolved {resolved} for {service} of an aws target: not an AWS endpoint "
                "(unset AWS_ENDPOINT_URL* and endpoint_url in the profile)"
            )


def _host_and_port(endpoint: str) -> tuple[str, int]:
    """``http://host:port`` -> (host, port); TargetError for anything else (a path, no port, another scheme)."""
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/") or parts.query:
        raise TargetError(
            f"LocalStack endpoint {endpoint!r} is not http://<host>:<port> (host mode serves plain HTTP on one port)"
        )
    return parts.hostname, port


def _drop_expect_on_s3(s3: Any) -> None:
    # botocore sends "Expect: 100-continue" with object bodies; LocalStack's hypercorn/h11 gateway answers
    # it with a response urllib3 cannot parse (BadStatusLine), so the header is dropped. AWS does not need it.
    s3.meta.events.register("before-send.s3.*", _drop_expect_header)


def _drop_expect_header(request: Any, **_: Any) -> None:
    request.headers.pop("Expect", None)


def client(
    endpoint: str, region: str, service: str, config: Config | None = None, account_id: str | None = None
) -> Any:
    """A client of ``service`` on the LocalStack at ``endpoint`` (shorthand of ``Target.localstack(...).client``)."""
    return Target.localstack(endpoint, region, account_id).client(service, config)
