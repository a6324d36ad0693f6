"""The contract as a Flask (WSGI) application: `apps.flask_app:app`."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from apps import contract, limits

app = Flask(__name__)
# Werkzeug enforces the limit while reading, which also covers chunked bodies. Where the
# server sets wsgi.input_terminated (Gunicorn), it refuses a body that reaches its limit, not
# one that passes it: one more byte, and the contract's own check answers a body over it.
app.config["MAX_CONTENT_LENGTH"] = contract.MAX_BODY_BYTES + 1
app.wsgi_app = limits.wsgi(app.wsgi_app)  # type: ignore[method-assign]

if not contract.access_log_enabled():
    # The development server logs every request at INFO through this logger.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=contract.JSON_CONTENT_TYPE)


def _error(status: int, message: str) -> Response:
    return _json(contract.error_body(status, message), status)


# strict_slashes=False serves both spellings from one rule, without a redirect.
@app.get(contract.GET_PATHS[0], strict_slashes=False)
def get() -> Response:
    return _json(contract.get_body())


@app.post(contract.POST_PATHS[0], strict_slashes=False)
def post() -> Response:
    try:
        contract.check_content_length(request.headers.get("Content-Length"))
        data = contract.parse_post(request.content_type, contract.read_limited(request.stream.read))
        return _json(contract.post_body(data))
    except contract.ContractError as error:
        return _error(error.status, error.message)


@app.get(contract.HEALTH_PATHS[0], strict_slashes=False)
def health() -> Response:
    return _json(contract.health_body())


@app.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """404, 405, 413 and friends as JSON, keeping headers such as Allow."""
    status = error.code or 500
    response = _error(status, error.description or error.name)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
