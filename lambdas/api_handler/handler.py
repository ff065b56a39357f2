"""Entry point of the api_handler function (the domain logic lands with the handlers issue)."""

from __future__ import annotations

from typing import Any

from lambdas.shared.runtime import logger, settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    logger.info("api_handler invoked", extra={"environment": config.environment})
    return {"function": "api_handler", "environment": config.environment}
