"""Waitress serving a listening socket it is given by descriptor (apps/prefork.py's).

Waitress is one process of threads; prefork runs one per CPU on one socket, as it
does Daphne. Its limits come from the command line: the idle time of a connection,
the largest request head and body.

    python -m apps.waitress_server --fd 3 --channel-timeout 5 module:app
"""

from __future__ import annotations

import argparse
import importlib
import logging
import socket
import sys

import waitress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.waitress_server", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the listening socket's descriptor")
    parser.add_argument("--channel-timeout", type=int, required=True, help="idle seconds")
    parser.add_argument("--max-request-header-size", type=int, required=True, help="bytes")
    parser.add_argument("--max-request-body-size", type=int, required=True, help="bytes")
    parser.add_argument("app", help="module:callable, the WSGI application")
    args = parser.parse_args(argv)
    module, _, name = args.app.partition(":")
    app = getattr(importlib.import_module(module), name)
    logging.basicConfig(level=logging.WARNING)
    listener = socket.socket(fileno=args.fd)
    waitress.serve(
        app,
        sockets=[listener],
        channel_timeout=args.channel_timeout,
        max_request_header_size=args.max_request_header_size,
        max_request_body_size=args.max_request_body_size,
        ident="waitress",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
