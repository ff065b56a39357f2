"""REST API bodies: the strict request-body reader (I-JSON) and the error bodies of the contract.

A request body is read as I-JSON (RFC 7493), the profile of JSON that every parser reads the same way,
plus two bounds: at most ``MAX_BODY_BYTES`` and ``MAX_JSON_DEPTH`` levels of nesting, checked before
the JSON parser recurses. Whatever the body, reading it either returns a value or raises
MalformedJsonError (code MALFORMED_JSON) or BodyTooLargeError: never RecursionError, an int-limit
ValueError, or a value that fails later (NaN, an infinite float, an unpaired surrogate that cannot
be encoded as UTF-8 for DynamoDB or a log line).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from aws_lambda_powertools.event_handler import Response

from lambdas.shared.errors import BodyTooLargeError, MalformedJsonError

JSON = "application/json"
# Far above the largest create request (a 140-character description escaped as \uXXXX pairs is
# under 2 KiB), far below API Gateway's 10 MB and Lambda's 6 MB payload limits: it bounds the work of
# every later reader (card-number scan, nesting scan, parser) on a body no valid request comes near.
MAX_BODY_BYTES = 256 * 1024
# The create request nests 1 level; the bound stops deep bodies before json.loads recurses.
MAX_JSON_DEPTH = 32
# RFC 7493 section 2.2: integers beyond +-(2^53 - 1) are not read the same way by every parser.
MAX_SAFE_INTEGER = 2**53 - 1
# Strings (with their escapes) and the brackets outside them; an unterminated string runs to the end.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest more than ``limit`` levels (brackets inside strings
    do not count); stops reading at the first bracket past the limit."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise MalformedJsonError(f"{name} is not a JSON number (RFC 8259 section 6)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJsonError("a number is too large for a double (RFC 7493 section 2.2)")
    return value


def _safe_int(text: str) -> int:
    # 17 characters hold any safe integer with its sign; the length check comes before int().
    if len(text) > 17 or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise MalformedJsonError("an integer is outside +-(2^53-1) (RFC 7493 section 2.2)")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise MalformedJsonError("an object has duplicate member names (RFC 7493 section 2.3)")
    return members


def _holds_surrogate(value: Any) -> bool:
    """Whether any string or member name in ``value`` holds an unpaired UTF-16 surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode_body(body: str | None, *, base64_encoded: bool) -> str:
    """The request body as text: the proxy event's ``body``, base64-decoded when ``isBase64Encoded``.

    Raises BodyTooLargeError above ``MAX_BODY_BYTES`` (UTF-8 bytes) and MalformedJsonError for
    base64 that is not strict RFC 4648 or bytes that are not UTF-8.
    """
    text = body or ""
    if base64_encoded:
        if len(text) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise BodyTooLargeError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedJsonError("the body is not valid base64 (RFC 4648)") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJsonError("the body is not UTF-8 (RFC 8259 section 8.1)") from None
    # A character is at least one UTF-8 byte: the length check alone clears most bodies.
    if len(text) > MAX_BODY_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    return text


def parse_json(text: str) -> Any:
    """The JSON value of ``text``, read as I-JSON (RFC 7493) nested at most ``MAX_JSON_DEPTH`` levels.

    Raises MalformedJsonError (a message naming the rule, never the input) for: text that is not
    JSON (RFC 8259), NaN/Infinity/-Infinity, floats beyond a double, integers beyond +-(2^53-1),
    duplicate member names, unpaired surrogates (escaped or raw), deeper nesting.
    """
    if nests_deeper_than(text, MAX_JSON_DEPTH):
        raise MalformedJsonError(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_safe_int,
            object_pairs_hook=_unique_members,
        )
    except MalformedJsonError:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise MalformedJsonError("the body is not valid JSON (RFC 8259)") from None
    if _holds_surrogate(value):
        raise MalformedJsonError("the body holds an unpaired UTF-16 surrogate (RFC 7493 section 2.1)")
    return value


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON as UTF-8: absent (API Gateway then assumes JSON) or
    ``application/json`` with no parameter but ``charset=utf-8`` (case-insensitive, RFC 9110 8.3)."""
    if not content_type:
        return True
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON:
        return False
    for parameter in filter(None, parameters):  # RFC 9110 allows empty parameters ("application/json;")
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The contract's error body (contracts/schemas/error.schema.json) with ``status`` and any extra ``headers``."""
    error: dict[str, Any] = {"code": code, "message": message[:300]}
    if request_id:
        error["request_id"] = request_id[:128]
    if details:
        error["details"] = [{"field": d["field"][:200], "rule": d["rule"][:64]} for d in details[:20]]
    body = json.dumps({"error": error}, sort_keys=True)
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=JSON, body=json.dumps(body, sort_keys=True), headers=headers)
