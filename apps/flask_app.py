"""The contract as a Flask (WSGI) application: `apps.flask_app:app`; and the test types
(apps/workloads.py) the Flask way: jsonify, Jinja2 templates, a psycopg pool per process."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from apps import contract, limits, workloads

app = Flask(__name__, template_folder=str(workloads.TEMPLATES))
database = workloads.Database()
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


@app.errorhandler(contract.ContractError)
def contract_error(error: contract.ContractError) -> Response:
    """The test types' 503 when there is no database, or it failed."""
    return _error(error.status, error.message)


@app.get(workloads.PATHS["json"])
def json_type() -> Response:
    return jsonify(workloads.json_payload())


@app.get(workloads.PATHS["plaintext"])
def plaintext() -> Response:
    return Response(workloads.HELLO, mimetype="text/plain")


@app.get(workloads.PATHS["db"])
def db() -> Response:
    with database.connection() as conn:
        return jsonify(workloads.select_world(conn))


@app.get(workloads.PATHS["queries"])
def queries() -> Response:
    count = workloads.queries(request.args.get("queries"))
    with database.connection() as conn:
        return jsonify(workloads.select_worlds(conn, count))


@app.get(workloads.PATHS["fortunes"])
def fortunes() -> str:
    with database.connection() as conn:
        rows = workloads.select_fortunes(conn)
    return render_template(workloads.FORTUNES_TEMPLATE, fortunes=rows)


@app.get(workloads.PATHS["updates"])
def updates() -> Response:
    count = workloads.queries(request.args.get("queries"))
    with database.connection() as conn:
        return jsonify(workloads.update_worlds(conn, count))


@app.get(workloads.PATHS["io"])
def io() -> Response:
    """A blocking sleep: it holds a thread (Werkzeug, Granian, Waitress), a sync worker
    (Gunicorn), or under gevent's patching yields the greenlet."""
    ms = workloads.io_ms(request.args.get("ms"))
    time.sleep(ms / 1000)
    return jsonify(workloads.io_payload(ms))
