"""The contract's views, every answer of which, errors included, is JSON; and the test
types' (apps/workloads.py) synchronous views, served under WSGI: the ORM (models.py,
Django's pool), JsonResponse, Django's templates. The ASGI entry point's are async_views."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import Error as DatabaseError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from apps import contract, workloads
from apps.django_app.models import Fortune, World

View = Callable[[HttpRequest], HttpResponse]


def _json(body: bytes, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=contract.JSON_CONTENT_TYPE)
    response["Content-Length"] = str(len(body))
    return response


def _error(status: int, message: str) -> HttpResponse:
    return _json(contract.error_body(status, message), status)


def _only(method: str) -> Callable[[View], View]:
    """Answer other methods with a JSON 405 (Django's own 405 is an empty text page)."""

    def decorate(view: View) -> View:
        def guarded(request: HttpRequest) -> HttpResponse:
            if request.method != method:
                response = _error(405, "Method Not Allowed")
                response["Allow"] = method
                return response
            return view(request)

        if method in ("GET", "HEAD"):
            # A safe-method view answers anything else with 405 before doing any
            # work; exempting it lets that 405 win over the CSRF middleware's 403.
            return csrf_exempt(guarded)
        return guarded

    return decorate


@_only("GET")
def get(request: HttpRequest) -> HttpResponse:
    return _json(contract.get_body())


def _body(request: HttpRequest) -> bytes:
    """The body, within the contract's limit however it is framed.

    Gunicorn decodes a chunked body into wsgi.input but, having no length for it,
    sets no CONTENT_LENGTH; Django then reads 0 bytes of it. wsgi.input_terminated
    says reading to the end is safe, so such a body is read here, stopping as soon
    as it passes the limit (413).
    """
    if request.META.get("wsgi.input_terminated") and not request.META.get("CONTENT_LENGTH"):
        return contract.read_limited(request.META["wsgi.input"].read)
    try:
        return request.body
    except RequestDataTooBig:
        raise contract.ContractError(413, "body too large") from None


# The API takes JSON from scripts (no cookies, no session), not forms from
# browsers, so there is no CSRF token to check.
@csrf_exempt
@_only("POST")
def post(request: HttpRequest) -> HttpResponse:
    try:
        contract.check_content_length(request.headers.get("Content-Length"))
        data = contract.parse_post(request.content_type, _body(request))
        return _json(contract.post_body(data))
    except contract.ContractError as error:
        return _error(error.status, error.message)


@_only("GET")
def health(request: HttpRequest) -> HttpResponse:
    return _json(contract.health_body())


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(400, "Bad Request")


def forbidden(
    request: HttpRequest, exception: Exception | None = None, reason: str = ""
) -> HttpResponse:
    return _error(403, "Forbidden")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _error(404, "Not Found")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(500, "Internal Server Error")


# The test types.


def sized(response: HttpResponse) -> HttpResponse:
    """Django sets no Content-Length, and without one the servers send a body chunked."""
    response["Content-Length"] = str(len(response.content))
    return response


def _refused(error: Exception) -> HttpResponse:
    problem = error if isinstance(error, contract.ContractError) else workloads.unavailable(error)
    assert isinstance(problem, contract.ContractError)
    return _error(problem.status, problem.message)


def _check_database() -> None:
    if not workloads.database_configured():
        raise workloads.DatabaseUnavailable(workloads.NOT_CONFIGURED)


def needs_database(view: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], Any]:
    """A test type's view (sync or async) that needs the database: none, or one that fails
    (any of Django's database errors, a pool without a free connection), is a 503."""
    if iscoroutinefunction(view):

        async def guarded_async(request: HttpRequest) -> HttpResponse:
            try:
                _check_database()
                return sized(await view(request))
            except (contract.ContractError, DatabaseError) as error:
                return _refused(error)

        return functools.wraps(view)(guarded_async)

    def guarded(request: HttpRequest) -> HttpResponse:
        try:
            _check_database()
            return sized(view(request))
        except (contract.ContractError, DatabaseError) as error:
            return _refused(error)

    return functools.wraps(view)(guarded)


def as_row(world: World) -> dict[str, int]:
    return workloads.world((world.id, world.randomnumber))


def fortunes_page(request: HttpRequest, rows: list[tuple[int, str]]) -> HttpResponse:
    fortunes = workloads.with_added_fortune(rows)
    return render(request, workloads.FORTUNES_TEMPLATE, {"fortunes": fortunes})


def queries_of(request: HttpRequest) -> int:
    return workloads.queries(request.GET.get("queries"))


def update_worlds(count: int) -> list[dict[str, int]]:
    """/updates: each row read on its own, in id order, locked as it is read (no deadlock
    whatever the concurrency), then one bulk UPDATE; in one transaction."""
    with transaction.atomic():
        worlds = [
            World.objects.select_for_update().get(id=id_) for id_ in workloads.update_ids(count)
        ]
        for world in worlds:
            world.randomnumber = workloads.random_number()
        World.objects.bulk_update(worlds, ["randomnumber"])
    return [as_row(world) for world in worlds]


def json_type(request: HttpRequest) -> HttpResponse:
    return sized(JsonResponse(workloads.json_payload()))


def plaintext(request: HttpRequest) -> HttpResponse:
    return sized(HttpResponse(workloads.HELLO, content_type="text/plain; charset=utf-8"))


@needs_database
def db(request: HttpRequest) -> HttpResponse:
    return JsonResponse(as_row(World.objects.get(id=workloads.random_id())))


@needs_database
def queries(request: HttpRequest) -> HttpResponse:
    worlds = [World.objects.get(id=workloads.random_id()) for _ in range(queries_of(request))]
    return JsonResponse([as_row(world) for world in worlds], safe=False)


@needs_database
def fortunes(request: HttpRequest) -> HttpResponse:
    return fortunes_page(request, list(Fortune.objects.values_list("id", "message")))


@needs_database
def updates(request: HttpRequest) -> HttpResponse:
    return JsonResponse(update_worlds(queries_of(request)), safe=False)


def io(request: HttpRequest) -> HttpResponse:
    ms = workloads.io_ms(request.GET.get("ms"))
    time.sleep(ms / 1000)
    return sized(JsonResponse(workloads.io_payload(ms)))
