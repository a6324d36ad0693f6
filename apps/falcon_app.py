"""The contract as Falcon applications: `apps.falcon_app:wsgi` (falcon.App, WSGI) and
`apps.falcon_app:asgi` (falcon.asgi.App, ASGI).

Falcon's responders are methods of resources, synchronous for WSGI and coroutines for
ASGI; both raise the contract's errors, which a Falcon error handler answers, and Falcon's
own (404, 405 with its Allow header, 400 for a bad header) go through one error
serializer, so every error is the contract's JSON. One route serves each path with and
without its trailing slash (strip_url_path_trailing_slash), never a redirect.

The test types (apps/workloads.py) the Falcon way: resources setting `resp.media` (Falcon's
JSON handler) or `resp.text`. Falcon has no template engine: /fortunes renders with Jinja2,
autoescaping. The WSGI app keeps a psycopg pool per process, the ASGI app psycopg's async
pool, opened by a startup middleware (lifespan), or by the first request under Daphne.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Any

import falcon
import falcon.asgi
import jinja2

from apps import contract, limits, workloads

database = workloads.Database()
async_database = workloads.AsyncDatabase()
fortunes_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(workloads.TEMPLATES), autoescape=True
).get_template(workloads.FORTUNES_TEMPLATE)


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


def _queries(req: falcon.Request) -> int:
    return workloads.queries(req.get_param("queries"))


def _fortunes(resp: falcon.Response, rows: list[workloads.Fortune]) -> None:
    resp.content_type = falcon.MEDIA_HTML
    resp.text = fortunes_template.render(fortunes=rows)


class Json:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = workloads.json_payload()


class Plaintext:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = workloads.HELLO


class Db:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with database.connection() as conn:
            resp.media = workloads.select_world(conn)


class Queries:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with database.connection() as conn:
            resp.media = workloads.select_worlds(conn, _queries(req))


class Fortunes:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with database.connection() as conn:
            rows = workloads.select_fortunes(conn)
        _fortunes(resp, rows)


class Updates:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with database.connection() as conn:
            resp.media = workloads.update_worlds(conn, _queries(req))


class Io:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ms = workloads.io_ms(req.get_param("ms"))
        time.sleep(ms / 1000)
        resp.media = workloads.io_payload(ms)


class AsyncJson:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = workloads.json_payload()


class AsyncPlaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = workloads.HELLO


class AsyncDb:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with async_database.connection() as conn:
            resp.media = await workloads.aselect_world(conn)


class AsyncQueries:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with async_database.connection() as conn:
            resp.media = await workloads.aselect_worlds(conn, _queries(req))


class AsyncFortunes:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with async_database.connection() as conn:
            rows = await workloads.aselect_fortunes(conn)
        _fortunes(resp, rows)


class AsyncUpdates:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async with async_database.connection() as conn:
            resp.media = await workloads.aupdate_worlds(conn, _queries(req))


class AsyncIo:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        ms = workloads.io_ms(req.get_param("ms"))
        await asyncio.sleep(ms / 1000)
        resp.media = workloads.io_payload(ms)


class Lifespan:
    """The ASGI app's startup and shutdown: psycopg's async pool opens and closes with it."""

    async def process_startup(self, scope: Any, event: Any) -> None:
        await async_database.open()

    async def process_shutdown(self, scope: Any, event: Any) -> None:
        await async_database.close()


async def async_contract_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, error: contract.ContractError, params: Any
) -> None:
    contract_error(req, resp, error, params)


def _configure(app: falcon.App, resources: tuple[object, ...]) -> None:
    """The contract's resources, then the test types' in workloads.PATHS' order."""
    app.req_options.strip_url_path_trailing_slash = True
    app.set_error_serializer(serialize_error)
    get, post, health, *types = resources
    app.add_route(contract.GET_PATHS[0], get)
    app.add_route(contract.POST_PATHS[0], post)
    app.add_route(contract.HEALTH_PATHS[0], health)
    for path, resource in zip(workloads.PATHS.values(), types, strict=True):
        app.add_route(path, resource)


wsgi_app = falcon.App()
_configure(
    wsgi_app,
    (Get(), Post(), Health(), Json(), Plaintext(), Db(), Queries(), Fortunes(), Updates(), Io()),
)
wsgi_app.add_error_handler(contract.ContractError, contract_error)

asgi_app = falcon.asgi.App(middleware=[Lifespan()])
_configure(
    asgi_app,
    (
        *(AsyncGet(), AsyncPost(), AsyncHealth(), AsyncJson(), AsyncPlaintext(), AsyncDb()),
        *(AsyncQueries(), AsyncFortunes(), AsyncUpdates(), AsyncIo()),
    ),
)
asgi_app.add_error_handler(contract.ContractError, async_contract_error)

# What the servers run: each app behind the contract's head limits.
wsgi = limits.wsgi(wsgi_app)
asgi = limits.ASGIHeadLimits(asgi_app)
