"""Error bodies of the REST API (contract error): stable code, safe message, optional field details."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

JSON = "application/json"


def error_response(
    status: int, code: str, message: str, *, request_id: str | None = None, details: list[dict[str, str]] | None = None
) -> Response[str]:
    error: dict[str, Any] = {"code": code, "message": message[:300]}
    if request_id:
        error["request_id"] = request_id[:128]
    if details:
        error["details"] = [{"field": d["field"][:200], "rule": d["rule"][:64]} for d in details[:20]]
    return Response(status_code=status, content_type=JSON, body=json.dumps({"error": error}, sort_keys=True))


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body, sort_keys=True), headers=headers)
