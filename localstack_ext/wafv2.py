"""WAFv2 for host-mode LocalStack, served by moto's in-process backend (LocalStack's free core has no WAFv2).

LocalStack's community edition ships no WAFv2 provider and no generated ``localstack.aws.api.wafv2`` module,
so this provider has no API class to inherit: its dispatch table maps every operation of the botocore service
model (``wafv2``, loaded by LocalStack's ``load_service``) to LocalStack's moto fallthrough (``_proxy_moto``),
which hands the request to moto's WAFv2 backend (``moto-ext`` inside LocalStack, state in the LocalStack process).
Every operation runs under one lock (moto's backend is not thread-safe; LocalStack serves on many threads).

Selected with ``PROVIDER_OVERRIDE_WAFV2=paygate`` (``pipeline/localstack/instance.py`` sets it). Registered as the
entry point ``wafv2:paygate`` of the plux namespace ``localstack.aws.provider``.

Emulated (as far as moto implements them): web ACLs (create/get/update/delete/list, rules and their
statements stored as sent, lock tokens), ``AssociateWebACL``/``DisassociateWebACL``/``GetWebACLForResource``
(associating with an API Gateway stage also sets the stage's ``webAclArn``, which ``GetStage`` then returns,
because LocalStack's API Gateway keeps its stages in moto's backend), logging configurations (redacted
fields stored), IP sets, regex pattern sets, rule groups, tags.

Not emulated: rule evaluation. No request to the API is inspected, counted, rate-limited or blocked by the web
ACL; managed rule groups are names only. What the web ACL does to traffic is AWS's to prove (the post-deploy
suite on AWS); on LocalStack the tests prove what is deployed and associated.
"""

from __future__ import annotations

import threading
from typing import Any

from localstack.aws.api import RequestContext, ServiceRequest
from localstack.aws.skeleton import DispatchTable
from localstack.aws.spec import load_service
from localstack.services.moto import _proxy_moto
from localstack.services.plugins import Service, aws_provider

PROVIDER_NAME = "paygate"
SERVICE = "wafv2"


class MotoWafv2Provider:
    """The provider object LocalStack's service needs: its service name; every operation goes to moto."""

    service = SERVICE


def moto_dispatch_table(provider: object) -> DispatchTable:
    """Every operation of the ``wafv2`` service model, forwarded to moto under one lock."""
    lock = threading.RLock()

    def forward(context: RequestContext, request: ServiceRequest) -> Any:
        with lock:
            return _proxy_moto(context, request)

    return dict.fromkeys(load_service(SERVICE).operation_names, forward)


@aws_provider(api=SERVICE, name=PROVIDER_NAME)
def wafv2_paygate() -> Service:
    return Service.for_provider(MotoWafv2Provider(), dispatch_table_factory=moto_dispatch_table)  # type: ignore[arg-type]
