"""Entry point of the api_handler function (the payment routes land with the handlers issue)."""

from __future__ import annotations

import json
from typing import Any

from lambdas.shared.runtime import logger, settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    logger.info("api_handler invoked", extra={"environment": config.environment})
    body = {"error": {"code": "NOT_IMPLEMENTED", "message": "payment routes are not deployed yet"}}
    return {"statusCode": 501, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
