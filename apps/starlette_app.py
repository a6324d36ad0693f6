"""The contract as a Starlette (ASGI) application: `apps.starlette_app:app`; and the test
types (apps/workloads.py) the Starlette way: its JSON, text and Jinja2 template responses,
psycopg's async pool opened by the app's lifespan (or, under a server without one, Daphne,
by the first request).

Starlette's own body limit (`Starlette(max_body_size=...)`) is not used: it answers a
declared length over it with its text/plain 413 even when the app has answered with
another, so the contract's JSON 413 could not get out. The body is read through the
contract's limit instead, which stops a chunked body as soon as it passes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from apps import contract, limits, workloads

database = workloads.AsyncDatabase()
templates = Jinja2Templates(directory=workloads.TEMPLATES)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The pool opens with the worker and closes with it (FastAPI's app uses it too)."""
    await database.open()
    yield
    await database.close()


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=contract.JSON_CONTENT_TYPE)


async def get(request: Request) -> Response:
    return json_response(contract.get_body())


async def post(request: Request) -> Response:
    headers = request.headers
    try:
        # The limit is checked while reading, so a chunked body stops as soon as it passes it.
        stream = request.stream()
        return json_response(
            await contract.answer_post(
                headers.get("content-length"), headers.get("content-type"), stream
            )
        )
    except contract.ContractError as error:
        return json_response(contract.error_body(error.status, error.message), error.status)


async def health(request: Request) -> Response:
    return json_response(contract.health_body())


async def json_type(request: Request) -> Response:
    return JSONResponse(workloads.json_payload())


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(workloads.HELLO)


async def db(request: Request) -> Response:
    async with database.connection() as conn:
        return JSONResponse(await workloads.aselect_world(conn))


async def queries(request: Request) -> Response:
    count = workloads.queries(request.query_params.get("queries"))
    async with database.connection() as conn:
        return JSONResponse(await workloads.aselect_worlds(conn, count))


async def fortunes(request: Request) -> Response:
    async with database.connection() as conn:
        rows = await workloads.aselect_fortunes(conn)
    return templates.TemplateResponse(request, workloads.FORTUNES_TEMPLATE, {"fortunes": rows})


async def updates(request: Request) -> Response:
    count = workloads.queries(request.query_params.get("queries"))
    async with database.connection() as conn:
        return JSONResponse(await workloads.aupdate_worlds(conn, count))


async def io(request: Request) -> Response:
    ms = workloads.io_ms(request.query_params.get("ms"))
    await asyncio.sleep(ms / 1000)
    return JSONResponse(workloads.io_payload(ms))


async def contract_error(request: Request, error: Exception) -> Response:
    """The test types' 503 when there is no database, or it failed."""
    assert isinstance(error, contract.ContractError)
    return json_response(contract.error_body(error.status, error.message), error.status)


async def http_error(request: Request, error: Exception) -> Response:
    """404 and 405 as JSON, keeping headers such as Allow."""
    assert isinstance(error, HTTPException)
    response = json_response(
        contract.error_body(error.status_code, error.detail), error.status_code
    )
    response.headers.update(error.headers or {})
    return response


# Each path with and without its trailing slash: a route each, never a redirect.
routes = [
    Route(path, endpoint, methods=[method])
    for paths, endpoint, method in (
        (contract.GET_PATHS, get, "GET"),
        (contract.POST_PATHS, post, "POST"),
        (contract.HEALTH_PATHS, health, "GET"),
    )
    for path in paths
] + [
    Route(workloads.PATHS[name], endpoint, methods=["GET"])
    for name, endpoint in (
        ("json", json_type),
        ("plaintext", plaintext),
        ("db", db),
        ("queries", queries),
        ("fortunes", fortunes),
        ("updates", updates),
        ("io", io),
    )
]
app = Starlette(
    routes=routes,
    middleware=[Middleware(limits.ASGIHeadLimits)],
    exception_handlers={HTTPException: http_error, contract.ContractError: contract_error},
    lifespan=lifespan,
)
# No redirect to the other spelling of a path either (Starlette's router would send one).
app.router.redirect_slashes = False
