"""The contract's request limits (line, head, body), in front of any WSGI or ASGI app.

The servers differ: Gunicorn checks the line and each field (its flags carry the
contract's values), Twisted only the whole head (16 KiB), Werkzeug's development
server allows 64 KiB lines, and Uvicorn with httptools has no limit at all (and
ignores Gunicorn's). Wrapping every app answers the same 414/431 on every stack
for anything the server itself let through.
"""

from __future__ import annotations

import io
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
            return _wsgi_refuse(error, start_response)
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
                await _asgi_refuse(error, send)
                return
        await self.app(scope, receive, send)


def wsgi_body(app: WSGIApp) -> WSGIApp:
    """`app` behind the contract's body limit: a declared length over it gets 413 before a
    byte is read; a chunked body is read here, up to the limit, and handed on whole."""

    def limited(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            contract.check_content_length(environ.get("CONTENT_LENGTH"))
            if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
                body = contract.read_limited(environ["wsgi.input"].read)
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
                del environ["HTTP_TRANSFER_ENCODING"]
        except contract.ContractError as error:
            return _wsgi_refuse(error, start_response)
        return app(environ, start_response)

    return limited


def _wsgi_refuse(error: contract.ContractError, start_response: Callable[..., Any]) -> list[bytes]:
    body = contract.error_body(error.status, error.message)
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [("Content-Type", contract.JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))],
    )
    return [body]


async def _asgi_refuse(
    error: contract.ContractError, send: Callable[[Any], Awaitable[None]]
) -> None:
    body = contract.error_body(error.status, error.message)
    headers = [
        (b"content-type", contract.JSON_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ASGIBodyLimit:
    """An ASGI app behind the contract's body limit: a declared length over it gets 413 at
    once; a chunked body that passes it gets 413 as soon as it does, and the app sees the
    client gone (http.disconnect)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        try:
            contract.check_content_length(declared.decode("latin-1") if declared else None)
        except contract.ContractError as error:
            await _asgi_refuse(error, send)
            return
        received = 0
        refused = started = False

        async def counted() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                try:
                    contract.check_body_size(received)
                except contract.ContractError as error:
                    refused = True
                    if not started:
                        await _asgi_refuse(error, send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = True
            await send(message)

        await self.app(scope, counted, watched)
