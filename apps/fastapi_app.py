"""The contract as a FastAPI (ASGI) application: `apps.fastapi_app:app`.

FastAPI's Request and Response are Starlette's: the POST endpoint and the error handlers,
which use nothing else, are the Starlette app's (apps/starlette_app.py), and so are its
Jinja2 templates and the lifespan that opens psycopg's async pool. The test types
(apps/workloads.py) are path operations the FastAPI way: they return data, which FastAPI
serialises (its JSONResponse); their query parameters are declared as text, so that a bad
value is clamped rather than refused (FastAPI would answer 422).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException

from apps import contract, limits, workloads
from apps.starlette_app import (
    contract_error,
    database,
    http_error,
    json_response,
    lifespan,
    post,
    templates,
)

# No interactive docs or schema: they would be extra endpoints the other stacks lack.
app = FastAPI(
    docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False, lifespan=lifespan
)
app.add_middleware(limits.ASGIHeadLimits)


async def get() -> Response:
    return json_response(contract.get_body())


async def health() -> Response:
    return json_response(contract.health_body())


for route in contract.GET_PATHS:
    app.add_api_route(route, get, methods=["GET"])
for route in contract.POST_PATHS:
    app.add_api_route(route, post, methods=["POST"])
for route in contract.HEALTH_PATHS:
    app.add_api_route(route, health, methods=["GET"])

# 404 and 405 as JSON, keeping headers such as Allow; the test types' 503.
app.add_exception_handler(HTTPException, http_error)
app.add_exception_handler(contract.ContractError, contract_error)


@app.get(workloads.PATHS["json"])
async def json_type() -> dict[str, str]:
    return workloads.json_payload()


@app.get(workloads.PATHS["plaintext"], response_class=PlainTextResponse)
async def plaintext() -> str:
    return workloads.HELLO


@app.get(workloads.PATHS["db"])
async def db() -> dict[str, int]:
    async with database.connection() as conn:
        return await workloads.aselect_world(conn)


@app.get(workloads.PATHS["queries"])
async def queries(queries: str | None = None) -> list[dict[str, int]]:
    async with database.connection() as conn:
        return await workloads.aselect_worlds(conn, workloads.queries(queries))


@app.get(workloads.PATHS["fortunes"])
async def fortunes(request: Request) -> Response:
    async with database.connection() as conn:
        rows = await workloads.aselect_fortunes(conn)
    return templates.TemplateResponse(request, workloads.FORTUNES_TEMPLATE, {"fortunes": rows})


@app.get(workloads.PATHS["updates"])
async def updates(queries: str | None = None) -> list[dict[str, int]]:
    async with database.connection() as conn:
        return await workloads.aupdate_worlds(conn, workloads.queries(queries))


@app.get(workloads.PATHS["io"])
async def io(ms: str | None = None) -> dict[str, int]:
    waited = workloads.io_ms(ms)
    await asyncio.sleep(waited / 1000)
    return workloads.io_payload(waited)
