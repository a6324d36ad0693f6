"""The contract as a Starlette (ASGI) application: `apps.starlette_app:app`.

Starlette's own body limit (`Starlette(max_body_size=...)`) is not used: it answers a
declared length over it with its text/plain 413 even when the app has answered with
another, so the contract's JSON 413 could not get out. The body is read through the
contract's limit instead, which stops a chunked body as soon as it passes it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apps import contract, limits


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
]
app = Starlette(
    routes=routes,
    middleware=[Middleware(limits.ASGIHeadLimits)],
    exception_handlers={HTTPException: http_error},
)
# No redirect to the other spelling of a path either (Starlette's router would send one).
app.router.redirect_slashes = False
