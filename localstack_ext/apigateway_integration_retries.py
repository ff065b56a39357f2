"""API Gateway's integration requests made once, as AWS makes them: a throttled Lambda reaches the client at once.

What LocalStack 2026.3 does (``execute_api/integrations/aws.py``, ``get_service_factory``): the clients its AWS and
AWS_PROXY integrations call Lambda and the other services with are LocalStack's internal boto clients with
botocore's default retries. A Lambda invoke refused with ``TooManyRequestsException`` (the function at its reserved
concurrency) was retried up to 4 more times, up to 15 s of backoff (7.5 s on average), before API Gateway answered
the client; meanwhile the request held a slot of the API's own capacity.

What AWS does: API Gateway sends an integration request once and maps the failure to the method's answer (a Lambda
throttle is an ``INTEGRATION_FAILURE``; the stack declares that gateway response as 503 with ``Retry-After``). The
client retries, if it wants to (Amazon API Gateway developer guide, "Gateway response types"; "Handle Lambda errors
in API Gateway").

What the patch changes: only the retry configuration of the clients that factory makes (one attempt,
``retries={"total_max_attempts": 1}``); which service, credentials, role and region they use is LocalStack's own
code, unchanged. Other internal callers keep their retries: Step Functions' and the event source mapping's Lambda
clients already make one attempt (``stepfunctions/asl/utils/boto_client.py``, ``esm_worker_factory.py``), and
the rest (S3 notifications, SNS deliveries, the event source mapping's SQS receive) retry on AWS too.

Registered as the hook ``paygate_apigateway_integration_retries`` in ``localstack.hooks.on_infra_start``; applied
when LocalStack imports the integrations module (wrapt's post-import hook), before any request.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from botocore.config import Config
from localstack.runtime import hooks
from wrapt.importer import register_post_import_hook

MODULE = "localstack.services.apigateway.next_gen.execute_api.integrations.aws"
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})
PATCHED = "paygate_one_attempt"


def patch(module: ModuleType) -> None:
    """Replace ``module.get_service_factory`` with the same factory whose clients make one attempt (idempotent)."""
    original = module.get_service_factory
    if getattr(original, PATCHED, False):
        return

    @functools.lru_cache(maxsize=64)  # as LocalStack's own: one factory per region and role
    def get_service_factory(region_name: str, role_arn: str) -> Any:
        if role_arn:
            return module.connect_to.with_assumed_role(
                role_arn=role_arn,
                region_name=region_name,
                service_principal=module.ServicePrincipal.apigateway,
                session_name="BackplaneAssumeRoleSession",
                config=ONE_ATTEMPT,
            )
        return module.connect_to(region_name=region_name, config=ONE_ATTEMPT)

    setattr(get_service_factory, PATCHED, True)
    module.get_service_factory = get_service_factory


@hooks.on_infra_start()
def paygate_apigateway_integration_retries() -> None:
    register_post_import_hook(patch, MODULE)
