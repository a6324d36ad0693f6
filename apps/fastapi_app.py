"""The contract as a FastAPI (ASGI) application: `apps.fastapi_app:app`.

FastAPI's Request and Response are Starlette's: the POST endpoint and the error handler,
which use nothing else, are the Starlette app's (apps/starlette_app.py).
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from starlette.exceptions import HTTPException

from apps import contract, limits
from apps.starlette_app import http_error, json_response, post

# No interactive docs or schema: they would be extra endpoints the other stacks lack.
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
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

# 404 and 405 as JSON, keeping headers such as Allow.
app.add_exception_handler(HTTPException, http_error)
