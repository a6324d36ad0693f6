"""What counts as a correct answer (the endpoints of docs/design.md).

Every response is checked, not only the first: a 200 with the wrong body is a
failure, so a stack that answers fast but wrong cannot look fast.
"""

from __future__ import annotations

import json
from typing import Any

GET_MESSAGE = "This is a GET request!"
POST_MESSAGE = "This is a POST request!"
DEFAULT_PATHS = {"GET": "/get", "POST": "/post"}
DEFAULT_PAYLOAD: dict[str, Any] = {"key": "value"}


class VerificationError(Exception):
    """The server answered, but not what the endpoint promises."""


def check(method: str, status: int, body: bytes, payload: Any) -> None:
    """Raise VerificationError with a short reason unless the response is correct."""
    if not 200 <= status < 300:
        raise VerificationError(f"HTTP {status}")
    try:
        document = json.loads(body)
    except ValueError:
        raise VerificationError(f"body is not JSON: {_preview(body)}") from None
    if not isinstance(document, dict):
        raise VerificationError(f"JSON is not an object: {_preview(body)}")
    expected = GET_MESSAGE if method == "GET" else POST_MESSAGE
    if document.get("message") != expected:
        raise VerificationError(f"message is {document.get('message')!r}, want {expected!r}")
    if method == "POST" and document.get("received_data") != payload:
        raise VerificationError(
            f"received_data is {document.get('received_data')!r}, want {payload!r}"
        )


def _preview(body: bytes) -> str:
    text = body[:60].decode("utf-8", "replace")
    return repr(text + ("..." if len(body) > 60 else ""))
