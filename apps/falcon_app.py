"""The contract as Falcon applications: `apps.falcon_app:wsgi` (falcon.App, WSGI) and
`apps.falcon_app:asgi` (falcon.asgi.App, ASGI).

Falcon's responders are methods of resources, synchronous for WSGI and coroutines for
ASGI; both raise the contract's errors, which a Falcon error handler answers, and Falcon's
own (404, 405 with its Allow header, 400 for a bad header) go through one error
serializer, so every error is the contract's JSON. One route serves each path with and
without its trailing slash (strip_url_path_trailing_slash), never a redirect.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import falcon
import falcon.asgi

from apps import contract, limits


def _json(resp: falcon.Response, body: bytes, status: int = 200) -> None:
    resp.status = status
    resp.content_type = contract.JSON_CONTENT_TYPE
    resp.data = body


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Falcon's errors as the contract's JSON (Falcon has already set their headers)."""
    status = error.status_code
    message = error.description or HTTPStatus(status).phrase
    _json(resp, contract.error_body(status, message), status)


def contract_error(
    req: falcon.Request, resp: falcon.Response, error: contract.ContractError, params: Any
) -> None:
    _json(resp, contract.error_body(error.status, error.message), error.status)


def _wsgi_body(req: falcon.Request) -> bytes:
    """The body, read through the contract's limit however it is framed.

    `bounded_stream` reads Content-Length bytes; a chunked body has none, so where the
    server says reading to the end is safe (wsgi.input_terminated: it decoded the chunks)
    the raw stream is read to its end, stopping as soon as it passes the limit.
    """
    contract.check_content_length(req.get_header("Content-Length"))
    terminated = req.env.get("wsgi.input_terminated") and req.content_length is None
    return contract.read_limited(req.stream.read if terminated else req.bounded_stream.read)


class Get:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, contract.get_body())


class Post:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = contract.parse_post(req.content_type, _wsgi_body(req))
        _json(resp, contract.post_body(data))


class Health:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, contract.health_body())


class AsyncGet:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        _json(resp, contract.get_body())


class AsyncPost:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        length = req.get_header("Content-Length")
        _json(resp, await contract.answer_post(length, req.content_type, req.stream))


class AsyncHealth:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        _json(resp, contract.health_body())


async def async_contract_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: contract.ContractError, params: Any
) -> None:
    contract_error(req, resp, error, params)


def _configure(app: falcon.App, resources: tuple[object, object, object]) -> None:
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(serialize_error)
    get, post, health = resources
    app.add_route(contract.GET_PATHS[0], get)
    app.add_route(contract.POST_PATHS[0], post)
    app.add_route(contract.HEALTH_PATHS[0], health)


wsgi_app = falcon.App()
_configure(wsgi_app, (Get(), Post(), Health()))
wsgi_app.add_error_handler(contract.ContractError, contract_error)

asgi_app = falcon.asgi.App()
_configure(asgi_app, (AsyncGet(), AsyncPost(), AsyncHealth()))
asgi_app.add_error_handler(contract.ContractError, async_contract_error)

# What the servers run: each app behind the contract's head limits.
wsgi = limits.wsgi(wsgi_app)
asgi = limits.ASGIHeadLimits(asgi_app)
