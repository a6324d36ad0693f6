"""Uvicorn's own command line, with TCP_NODELAY on its listening socket.

With --workers, Uvicorn's kept-alive connections keep Nagle's algorithm on: a response
written in two parts waits for the client's delayed ACK, about 40 ms a request
(docs/traps.md; Kludex/uvicorn#3149). Linux hands an accepted socket its listener's
TCP_NODELAY, so setting it on the socket Uvicorn binds is the whole fix.

    python -m apps.uvicorn_nodelay --host 0.0.0.0 --port 5006 --workers 2 module:app
"""

from __future__ import annotations

import socket
import sys

from uvicorn import config as uvicorn_config
from uvicorn.main import main as uvicorn_main

_bind_socket = uvicorn_config.Config.bind_socket


def _bind_socket_without_nagle(self: uvicorn_config.Config) -> socket.socket:
    sock = _bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


if __name__ == "__main__":
    uvicorn_config.Config.bind_socket = _bind_socket_without_nagle  # type: ignore[method-assign]
    sys.exit(uvicorn_main())
