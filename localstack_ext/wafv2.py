"""WAFv2 for host-mode LocalStack, served by moto's in-process backend (LocalStack's free core has no WAFv2).

Every operation of the ``wafv2`` service model goes to moto's WAFv2 backend under one lock
(``moto_service.moto_backed_service``: LocalStack's community edition has no WAFv2 provider to inherit from).

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

from localstack.services.plugins import Service, aws_provider

from localstack_ext.moto_service import moto_backed_service

PROVIDER_NAME = "paygate"
SERVICE = "wafv2"


@aws_provider(api=SERVICE, name=PROVIDER_NAME)
def wafv2_paygate() -> Service:
    return moto_backed_service(SERVICE, threading.RLock())
