"""The contract as a FastAPI (ASGI) application: `apps.fastapi_app:app`."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException

from apps import contract, limits

# No interactive docs or schema: they would be extra endpoints the other stacks lack.
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
app.add_middleware(limits.ASGIHeadLimits)


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=contract.JSON_CONTENT_TYPE)


def _error(status: int, message: str) -> Response:
    return _json(contract.error_body(status, message), status)


async def get() -> Response:
    return _json(contract.get_body())


async def post(request: Request) -> Response:
    try:
        # The limit is checked while reading, so a chunked body stops as soon as it passes it.
        contract.check_content_length(request.headers.get("content-length"))
        body = await contract.read_stream_limited(request.stream())
        data = contract.parse_post(request.headers.get("content-type"), body)
        return _json(contract.post_body(data))
    except contract.ContractError as error:
        return _error(error.status, error.message)


async def health() -> Response:
    return _json(contract.health_body())


for route in contract.GET_PATHS:
    app.add_api_route(route, get, methods=["GET"])
for route in contract.POST_PATHS:
    app.add_api_route(route, post, methods=["POST"])
for route in contract.HEALTH_PATHS:
    app.add_api_route(route, health, methods=["GET"])


@app.exception_handler(HTTPException)
async def http_error(request: Request, error: HTTPException) -> Response:
    """404 and 405 as JSON, keeping headers such as Allow."""
    response = _error(error.status_code, str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response
