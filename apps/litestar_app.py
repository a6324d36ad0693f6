"""The contract as a Litestar (ASGI) application: `apps.litestar_app:app`.

Litestar enforces the body limit itself while it streams a body (`request_max_body_size`,
chunked bodies too) and routes "/get/" to "/get" without a redirect. The contract's errors
and Litestar's own (404, 405, 413) go through its exception handlers, as JSON.

The test types (apps/workloads.py) the Litestar way: handlers return data (msgspec
serialises it), /fortunes a Template of its Jinja2 engine; psycopg's async pool opens on
startup (or, under a server without a lifespan, Daphne, with the first request). Query
parameters are declared as text, so a bad value is clamped rather than refused (400).
"""

from __future__ import annotations

import asyncio

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.template.config import TemplateConfig

from apps import contract, limits, workloads

database = workloads.AsyncDatabase()


def _json(body: bytes, status: int = 200) -> Response[bytes]:
    return Response(body, status_code=status, media_type=MediaType.JSON)


# Litestar routes a path and its trailing-slash spelling to the same handler.
@get(contract.GET_PATHS[0])
async def get_message() -> Response[bytes]:
    return _json(contract.get_body())


@post(contract.POST_PATHS[0])
async def post_message(request: Request) -> Response[bytes]:
    contract.check_content_length(request.headers.get("content-length"))
    body = await request.body()  # a 413 as soon as it passes request_max_body_size
    data = contract.parse_post(request.headers.get("content-type"), body)
    return _json(contract.post_body(data))


@get(contract.HEALTH_PATHS[0])
async def health() -> Response[bytes]:
    return _json(contract.health_body())


@get(workloads.PATHS["json"])
async def json_type() -> dict[str, str]:
    return workloads.json_payload()


@get(workloads.PATHS["plaintext"], media_type=MediaType.TEXT)
async def plaintext() -> str:
    return workloads.HELLO


@get(workloads.PATHS["db"])
async def db() -> dict[str, int]:
    async with database.connection() as conn:
        return await workloads.aselect_world(conn)


@get(workloads.PATHS["queries"])
async def queries(queries: str | None = None) -> list[dict[str, int]]:
    async with database.connection() as conn:
        return await workloads.aselect_worlds(conn, workloads.queries(queries))


@get(workloads.PATHS["fortunes"], media_type=MediaType.HTML)
async def fortunes() -> Template:
    async with database.connection() as conn:
        rows = await workloads.aselect_fortunes(conn)
    return Template(template_name=workloads.FORTUNES_TEMPLATE, context={"fortunes": rows})


@get(workloads.PATHS["updates"])
async def updates(queries: str | None = None) -> list[dict[str, int]]:
    async with database.connection() as conn:
        return await workloads.aupdate_worlds(conn, workloads.queries(queries))


@get(workloads.PATHS["io"])
async def io(ms: str | None = None) -> dict[str, int]:
    waited = workloads.io_ms(ms)
    await asyncio.sleep(waited / 1000)
    return workloads.io_payload(waited)


def contract_error(request: Request, error: contract.ContractError) -> Response[bytes]:
    return _json(contract.error_body(error.status, error.message), error.status)


def too_large(request: Request, error: HTTPException) -> Response[bytes]:
    """Litestar's 413 in the contract's words."""
    return contract_error(request, contract.ContractError(413, contract.BODY_TOO_LARGE))


def http_error(request: Request, error: HTTPException) -> Response[bytes]:
    """404, 405 and friends as JSON, keeping headers such as Allow."""
    response = _json(contract.error_body(error.status_code, error.detail), error.status_code)
    response.headers.update(error.headers or {})
    return response


# No OpenAPI schema or docs: they would be endpoints the other stacks lack. The head limits
# wrap the whole app (Litestar's own middleware runs only once a route matched).
app = limits.ASGIHeadLimits(
    Litestar(
        route_handlers=[
            get_message,
            post_message,
            health,
            *(json_type, plaintext, db, queries, fortunes, updates, io),
        ],
        exception_handlers={
            contract.ContractError: contract_error,
            HTTP_413_REQUEST_ENTITY_TOO_LARGE: too_large,
            HTTPException: http_error,
        },
        request_max_body_size=contract.MAX_BODY_BYTES,
        openapi_config=None,
        template_config=TemplateConfig(directory=workloads.TEMPLATES, engine=JinjaTemplateEngine),
        on_startup=[database.open],
        on_shutdown=[database.close],
    )
)
