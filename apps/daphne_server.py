"""Daphne with the contract's body limit enforced while Twisted reads the body.

Twisted reads a whole request body, into memory or a temporary file, before
Daphne hands the request to the app, and Django's ASGI handler reads it all
again: one chunked POST of 10 GB fills /tmp or memory before any check of the
app runs. Here the request refuses a declared or received body over
HTTPLAB_MAX_BODY_BYTES with a JSON 413 and closes the connection, as soon as
the limit is passed. Also sets Twisted's idle timeout (60 s by default) to the
keep-alive time the other stacks get, and sends the Date header Daphne leaves out (every
other server sends one), whatever the app.

    python -m apps.daphne_server --idle-timeout 5 --fd 3 apps.django_app.asgi:application
"""

from __future__ import annotations

import argparse
import sys
from email.utils import formatdate
from typing import Any

# Daphne's server module installs Twisted's asyncio reactor: import it first.
from daphne import server as daphne_server  # isort: skip
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet import reactor

from apps import contract

# Seconds a refused request's connection stays open for the client to read the 413.
LINGER_S = 2.0


class LimitedRequest(WebRequest):
    """A Daphne request that stops reading its body past the limit."""

    _received = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        self._received = 0
        if length is not None and length > contract.MAX_BODY_BYTES:
            self._refuse()
            length = 0  # nothing of it will be kept
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > contract.MAX_BODY_BYTES:
            self._refuse()
            return
        super().handleContentChunk(data)

    def handle_reply(self, message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(name.lower() == b"date" for name, _ in headers):
                headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
            message = {**message, "headers": headers}
        super().handle_reply(message)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if not self._refused:
            super().requestReceived(command, path, version)

    def _refuse(self) -> None:
        self._refused = True
        body = contract.error_body(413, contract.BODY_TOO_LARGE)
        head = (
            "HTTP/1.1 413 Content Too Large\r\n"
            f"Content-Type: {contract.JSON_CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            "Connection: close\r\n\r\n"
        )
        transport = self.channel.transport
        transport.write(head.encode("latin-1") + body)
        # Closing with the client's body still arriving would reset the connection
        # and could lose the answer: stop writing, keep discarding what comes for a
        # moment, then close.
        transport.loseWriteConnection()
        reactor.callLater(LINGER_S, transport.loseConnection)


def _factory(idle_timeout: int) -> type[HTTPFactory]:
    class LimitedHTTPFactory(HTTPFactory):
        def __init__(self, server: Any) -> None:
            super().__init__(server)
            self.timeOut = idle_timeout

        def buildProtocol(self, addr: Any) -> Any:
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = LimitedRequest
            return protocol

    return LimitedHTTPFactory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m apps.daphne_server",
        description=__doc__,
        epilog="Every other argument goes to Daphne.",
        allow_abbrev=False,
    )
    parser.add_argument("--idle-timeout", type=int, required=True, help="seconds idle")
    args, daphne_args = parser.parse_known_args(argv)
    # Daphne's server builds `HTTPFactory(self)` by this module-level name.
    daphne_server.HTTPFactory = _factory(args.idle_timeout)  # type: ignore[misc]
    sys.argv = ["daphne", *daphne_args]
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
