"""The contract's views; every answer, errors included, is JSON."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps import contract

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
