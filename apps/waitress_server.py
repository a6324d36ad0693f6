"""Waitress serving a listening socket it is given by descriptor (apps/prefork.py's).

Waitress is one process of threads; prefork runs one per CPU on one socket, as it
does Daphne. Its limits come from the command line: the idle time of a connection,
the largest request head and body.

Waitress reads a whole body before the app runs, so the body limit is its own: it refuses
a declared length over it before reading any, and a chunked body as soon as it passes it.
Two things here make that the contract's limit: Waitress answers its 413 as text, which is
answered as the contract's JSON instead; and it refuses a body of exactly its limit
(`>=`), so it is given the contract's limit plus one. Waitress writes no access log:
--access-log logs each request to stderr (the journal), as the other servers' flags do.

    python -m apps.waitress_server --fd 3 --channel-timeout 5 ... module:app
"""

from __future__ import annotations

import argparse
import importlib
import logging
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any

import waitress
from waitress import utilities

from apps import contract

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _json_too_large(
    self: utilities.RequestEntityTooLarge, ident: str | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Waitress' 413 as the contract's (Waitress adds Content-Length, Date, Connection)."""
    body = contract.error_body(413, contract.BODY_TOO_LARGE)
    return f"{self.code} {self.reason}", [("Content-Type", contract.JSON_CONTENT_TYPE)], body


utilities.RequestEntityTooLarge.to_response = _json_too_large  # type: ignore[method-assign]


def access_logged(app: WSGIApp) -> WSGIApp:
    """`app`, logging each request's line and status (a common-log-format subset)."""
    log = logging.getLogger("httplab.access")

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            query = environ.get("QUERY_STRING")
            target = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            line = f"{environ['REQUEST_METHOD']} {target} {environ.get('SERVER_PROTOCOL')}"
            log.info('%s "%s" %s', environ.get("REMOTE_ADDR", "-"), line, status.split()[0])
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return logged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.waitress_server", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the listening socket's descriptor")
    parser.add_argument("--channel-timeout", type=int, required=True, help="idle seconds")
    parser.add_argument(
        "--cleanup-interval", type=int, default=30, help="seconds between looks for idle ones"
    )
    parser.add_argument("--max-request-header-size", type=int, required=True, help="bytes")
    parser.add_argument(
        "--max-request-body-size", type=int, required=True, help="bytes: the largest body taken"
    )
    parser.add_argument("--access-log", action="store_true", help="log each request to stderr")
    parser.add_argument("app", help="module:callable, the WSGI application")
    args = parser.parse_args(argv)
    module, _, name = args.app.partition(":")
    app = getattr(importlib.import_module(module), name)
    logging.basicConfig(level=logging.WARNING)
    if args.access_log:
        logging.getLogger("httplab.access").setLevel(logging.INFO)
        app = access_logged(app)
    listener = socket.socket(fileno=args.fd)
    waitress.serve(
        app,
        sockets=[listener],
        channel_timeout=args.channel_timeout,
        cleanup_interval=args.cleanup_interval,
        max_request_header_size=args.max_request_header_size,
        # Waitress refuses a body of its limit or more.
        max_request_body_size=args.max_request_body_size + 1,
        ident="waitress",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
