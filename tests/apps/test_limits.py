"""The contract's request-head limits, and the WSGI/ASGI guards that apply them on every stack."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from apps import contract, limits


def _fields(count: int, size: int) -> list[tuple[str, str]]:
    return [(f"X-{n}", "x" * size) for n in range(count)]


@pytest.mark.parametrize(
    ("target", "fields", "status"),
    [
        ("/get?q=" + "x" * contract.MAX_REQUEST_LINE_BYTES, [], 414),
        ("/get", _fields(1, contract.MAX_HEADER_FIELD_BYTES), 431),
        ("/get", _fields(contract.MAX_HEADER_FIELDS + 1, 1), 431),
        ("/get", _fields(4, contract.MAX_HEADER_BYTES // 4), 431),
    ],
    ids=["request line", "one field", "field count", "whole head"],
)
def test_heads_over_a_limit_are_refused(
    target: str, fields: list[tuple[str, str]], status: int
) -> None:
    with pytest.raises(contract.ContractError) as error:
        contract.check_head("GET", target, fields)
    assert error.value.status == status


def test_a_head_at_the_limits_passes() -> None:
    line_room = contract.MAX_REQUEST_LINE_BYTES - len("GET  HTTP/1.1")
    field_room = contract.MAX_HEADER_FIELD_BYTES - len("X-0: ")
    contract.check_head("GET", "/" + "x" * (line_room - 1), _fields(1, field_room))


def _wsgi_call(environ: dict[str, Any]) -> tuple[str, bytes]:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"app"]

    body = b"".join(limits.wsgi(app)(environ, lambda status, headers: seen.append(status)))
    return seen[0], body


def test_wsgi_guard_answers_431_as_json() -> None:
    status, body = _wsgi_call(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/get", "HTTP_X_BIG": "x" * 9000}
    )
    assert status == "431 Request Header Fields Too Large"
    assert json.loads(body)["status"] == 431


def test_wsgi_guard_passes_a_normal_request_on() -> None:
    assert _wsgi_call({"REQUEST_METHOD": "GET", "PATH_INFO": "/get"}) == ("200 OK", b"app")


def _asgi_call(scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(limits.ASGIHeadLimits(app)(scope, receive, send))
    return sent


def test_asgi_guard_answers_414_as_json() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/get",
        "raw_path": b"/get",
        "query_string": b"q=" + b"x" * 5000,
        "headers": [],
    }
    start, body = _asgi_call(scope)
    assert start["status"] == 414
    assert json.loads(body["body"])["status"] == 414


def test_asgi_guard_passes_a_normal_request_on() -> None:
    scope = {"type": "http", "method": "GET", "path": "/get", "query_string": b"", "headers": []}
    assert _asgi_call(scope) == [{"type": "http.response.start", "status": 200, "headers": []}]
