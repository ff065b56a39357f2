"""API Gateway request validation as AWS answers it: a body the validator cannot read is 400, not 500.

LocalStack 2026.3's request validator (``execute_api/handlers/method_request.py``,
``MethodRequestHandler._is_body_valid``) parses the body with ``json.loads`` and catches only
``JSONDecodeError`` and jsonschema's ``ValidationError``. Other failures of the same parse escape
as a 500 "Error in apigateway invocation" from the emulator itself:

- ``RecursionError`` for a deeply nested body (issue 10: 100,000 ``[`` then 100,000 ``]``);
- ``ValueError`` for an integer of more than 4300 digits (Python's int-from-text limit);
- ``UnicodeDecodeError`` (a ``ValueError``) for a body that is not UTF-8.

API Gateway answers a body its validator cannot read with the ``BAD_REQUEST_BODY`` gateway response
(400, "Invalid request body"), as LocalStack does for ``JSONDecodeError``; this hook makes those
failures that refusal too, so the e2e suite meets the answer a client of the deployed API gets.
Nothing else of the validator changes.

Registered as the hook ``paygate_apigateway_validation`` in ``localstack.hooks.on_infra_start``.
"""

from __future__ import annotations

import logging
from typing import Any

from localstack.runtime import hooks
from localstack.services.apigateway.next_gen.execute_api.handlers import method_request

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def paygate_apigateway_validation() -> None:
    handler_class = method_request.MethodRequestHandler
    original = handler_class._is_body_valid
    if getattr(original, "paygate_patched", False):
        return

    def is_body_valid(method: Any, rest_api: Any, request: Any) -> bool:
        try:
            return bool(original(method, rest_api, request))
        except (RecursionError, ValueError) as error:  # UnicodeDecodeError is a ValueError
            LOG.debug("request body cannot be read by the validator: %s", type(error).__name__)
            return False

    is_body_valid.paygate_patched = True  # type: ignore[attr-defined]
    handler_class._is_body_valid = staticmethod(is_body_valid)  # type: ignore[method-assign]
