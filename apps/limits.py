"""The contract's request-line and header limits, in front of any WSGI or ASGI app.

The servers differ: Gunicorn checks the line and each field (its flags carry the
contract's values), Twisted only the whole head (16 KiB), Werkzeug's development
server allows 64 KiB lines, and Uvicorn with httptools has no limit at all (and
ignores Gunicorn's). Wrapping every app answers the same 414/431 on every stack
for anything the server itself let through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from apps import contract

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


def _wsgi_target(environ: dict[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING", "")
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    return f"{path}?{query}" if query else path


def _wsgi_fields(environ: dict[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:], str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key, str(value)


def wsgi(app: WSGIApp) -> WSGIApp:
    """`app` behind the contract's head limits (WSGI merges repeated fields into one)."""

    def limited(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            contract.check_head(
                environ.get("REQUEST_METHOD", ""), _wsgi_target(environ), _wsgi_fields(environ)
            )
        except contract.ContractError as error:
            body = contract.error_body(error.status, error.message)
            start_response(
                f"{error.status} {HTTPStatus(error.status).phrase}",
                [("Content-Type", contract.JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))],
            )
            return [body]
        return app(environ, start_response)

    return limited


class ASGIHeadLimits:
    """An ASGI app behind the contract's head limits (a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            target = scope.get("raw_path") or scope["path"].encode()
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            fields = (
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in scope["headers"]
            )
            try:
                contract.check_head(scope["method"], target.decode("latin-1"), fields)
            except contract.ContractError as error:
                body = contract.error_body(error.status, error.message)
                headers = [
                    (b"content-type", contract.JSON_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send(
                    {"type": "http.response.start", "status": error.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
