"""A minimal blocking HTTP/1.1 client on a raw socket: the keepalive mode's engine.

Inside the timed window it does what a raw-socket loop does: connect if there
is no connection, sendall, recv until the response is framed. Before the clock
starts, prepare() notices a connection the server closed while idle (a
zero-timeout select()), so that a stale socket is replaced rather than counted
as the server dropping a request.
"""

from __future__ import annotations

import select
import socket
import struct
import sys

from bench_client.failures import RequestFailed, describe
from bench_client.http11 import ProtocolError, Response, ResponseParser, Target


def resolve(target: Target) -> tuple[int, tuple]:
    """Resolve once, before timing starts: name lookups are not the server's time."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as exc:
        raise RequestFailed(f"cannot resolve host {target.host!r}: {exc.strerror}") from None
    return family, address


class SocketEngine:
    def __init__(self, target: Target, request: bytes, timeout: float) -> None:
        self.family, self.address = resolve(target)
        self.request = request
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def prepare(self) -> None:
        if self._sock is not None and self._closed_by_server(self._sock):
            self.close()

    def send(self) -> tuple[int, bytes]:
        try:
            if self._sock is None:
                self._connect()
            assert self._sock is not None
            self._sock.sendall(self.request)
            response = self._read_response(self._sock)
        except BlockingIOError:  # what SO_RCVTIMEO/SO_SNDTIMEO expiring looks like on POSIX
            self.close()
            raise RequestFailed(f"timeout after {self.timeout:g} s") from None
        except (OSError, ProtocolError) as exc:
            self.close()
            raise RequestFailed(describe(exc, self.timeout)) from None
        if response.will_close:
            self.close()
        return response.status, response.body

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> None:
        self.close()
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        # From here on the kernel enforces the timeout: with Python's own
        # socket timeout every send and recv would cost an extra poll() call.
        sock.settimeout(None)
        option = timeout_option(self.timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, option)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, option)
        self._sock = sock

    @staticmethod
    def _closed_by_server(sock: socket.socket) -> bool:
        # Between requests an idle keep-alive socket has nothing to read; if it
        # is readable the server closed it (or sent junk): start afresh.
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    @staticmethod
    def _read_response(sock: socket.socket) -> Response:
        parser = ResponseParser()
        while True:
            data = sock.recv(65536)
            if not data:
                return parser.eof()
            response = parser.feed(data)
            if response is not None:
                return response


def timeout_option(seconds: float, platform: str = sys.platform) -> bytes:
    """SO_RCVTIMEO's value: a DWORD of milliseconds on Windows, a struct timeval elsewhere."""
    if platform == "win32":
        return struct.pack("<L", max(1, round(seconds * 1000)))
    whole = int(seconds)
    return struct.pack("ll", whole, round((seconds - whole) * 1_000_000))
