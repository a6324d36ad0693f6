"""The endpoint contract every stack serves, independent of the framework.

Messages, the body limit, the JSON encoding and the validation of POST bodies
live here once, so the Flask, Django and FastAPI apps answer byte-for-byte the
same way and differ only in the framework and server being measured.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterable, Callable, Iterable
from datetime import datetime, timezone
from typing import Any

JSON_CONTENT_TYPE = "application/json"
GET_MESSAGE = "This is a GET request!"
POST_MESSAGE = "This is a POST request!"

# Paths with and without the trailing slash: the paper's client asked for
# "/get/" and "/post/", a redirect would have cost it a second request.
GET_PATHS = ("/get", "/get/")
POST_PATHS = ("/post", "/post/")
HEALTH_PATHS = ("/health", "/health/")


class ContractError(Exception):
    """A request the contract rejects, with the HTTP status to answer it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def positive_int_from_env(name: str, default: int) -> int:
    """The positive integer in environment variable ``name`` (``default`` when unset); a
    bad value stops the app with a message naming it."""
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SystemExit(f"{name} must be a positive integer, got {raw!r}")
    return value


# The limits every stack enforces, whatever its server (the role sets them in
# the unit's environment, and the same values as flags where a server has them).
MAX_BODY_BYTES = positive_int_from_env("HTTPLAB_MAX_BODY_BYTES", 1024 * 1024)
# Gunicorn's defaults for the request line and each header field; Twisted's
# fixed limit for the whole head.
MAX_REQUEST_LINE_BYTES = positive_int_from_env("HTTPLAB_MAX_REQUEST_LINE_BYTES", 4094)
MAX_HEADER_FIELDS = positive_int_from_env("HTTPLAB_MAX_HEADER_FIELDS", 100)
MAX_HEADER_FIELD_BYTES = positive_int_from_env("HTTPLAB_MAX_HEADER_FIELD_BYTES", 8190)
MAX_HEADER_BYTES = positive_int_from_env("HTTPLAB_MAX_HEADER_BYTES", 16384)
# What a body over the limit is answered with (413), however a framework noticed it.
BODY_TOO_LARGE = f"body larger than {MAX_BODY_BYTES} bytes"


def access_log_enabled() -> bool:
    """Whether the app should let its server log each request (off by default)."""
    return os.environ.get("HTTPLAB_ACCESS_LOG", "0") == "1"


def encode(payload: dict[str, Any]) -> bytes:
    """Serialise a response payload; compact, so every stack sends the same bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _stamp(payload: dict[str, Any]) -> dict[str, Any]:
    payload["timestamp"] = datetime.now(timezone.utc).isoformat()
    payload["pid"] = os.getpid()
    return payload


def get_body() -> bytes:
    return encode(_stamp({"message": GET_MESSAGE}))


def post_body(data: dict[str, Any]) -> bytes:
    try:
        return encode(_stamp({"message": POST_MESSAGE, "received_data": data}))
    except RecursionError:
        # The parser accepted it with fewer frames on the stack than the encoder has.
        raise ContractError(400, "JSON body is nested too deeply") from None


def health_body() -> bytes:
    return encode({"status": "ok"})


def error_body(status: int, message: str) -> bytes:
    return encode({"error": message, "status": status})


def check_content_length(header: str | None) -> None:
    """Reject a declared body size over the limit before reading any of it."""
    if header is None or header == "":
        return
    try:
        length = int(header)
    except ValueError:
        raise ContractError(400, "Content-Length is not a number") from None
    if length < 0:
        raise ContractError(400, "Content-Length is negative")
    if length > MAX_BODY_BYTES:
        raise ContractError(413, BODY_TOO_LARGE)


def check_body_size(size: int) -> None:
    """Reject a body that turned out larger than the limit (e.g. chunked)."""
    if size > MAX_BODY_BYTES:
        raise ContractError(413, BODY_TOO_LARGE)


def read_limited(read: Callable[[int], bytes]) -> bytes:
    """Read a body through `read(n)` until EOF, failing as soon as it passes the limit."""
    chunks = bytearray()
    while chunk := read(65536):
        chunks += chunk
        check_body_size(len(chunks))
    return bytes(chunks)


async def read_stream_limited(stream: AsyncIterable[bytes]) -> bytes:
    """Join a body's chunks as an ASGI app receives them, failing as soon as they pass the
    limit (a chunked body too, which declares no length)."""
    chunks = bytearray()
    async for chunk in stream:
        chunks += chunk
        check_body_size(len(chunks))
    return bytes(chunks)


async def answer_post(
    content_length: str | None, content_type: str | None, stream: AsyncIterable[bytes]
) -> bytes:
    """The answer to a POST whose body an ASGI app receives as `stream`: the declared length
    checked first, the body read through the limit, validated and echoed; else ContractError."""
    check_content_length(content_length)
    return post_body(parse_post(content_type, await read_stream_limited(stream)))


def check_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> None:
    """Reject a request line or headers over the limits (414, 431).

    Sizes are counted as on the wire: "METHOD TARGET HTTP/1.1" and "Name: value".
    """
    if len(method) + len(target) + len(" HTTP/1.1") + 1 > MAX_REQUEST_LINE_BYTES:
        raise ContractError(414, f"request line longer than {MAX_REQUEST_LINE_BYTES} bytes")
    count = total = 0
    for name, value in fields:
        size = len(name) + len(": ") + len(value)
        count += 1
        total += size
        if size > MAX_HEADER_FIELD_BYTES:
            raise ContractError(
                431, f"a header field is longer than {MAX_HEADER_FIELD_BYTES} bytes"
            )
    if count > MAX_HEADER_FIELDS:
        raise ContractError(431, f"more than {MAX_HEADER_FIELDS} header fields")
    if total > MAX_HEADER_BYTES:
        raise ContractError(431, f"headers larger than {MAX_HEADER_BYTES} bytes")


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and could not be echoed back as JSON.
    raise ValueError(f"{name} is not valid JSON")


def parse_post(content_type: str | None, body: bytes) -> dict[str, Any]:
    """Validate a POST request body and return the JSON object it carries."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_CONTENT_TYPE:
        raise ContractError(400, "Content-Type must be application/json")
    check_body_size(len(body))
    if not body.strip():
        raise ContractError(400, "empty body; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError(400, "body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ContractError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ContractError(400, "JSON body must be an object")
    return data
