"""The little HTTP/1.1 the low-overhead engines speak: build a request, parse a response.

Only what a benchmark against JSON endpoints needs: one request at a time per
connection (no pipelining), bodies framed by Content-Length, chunked encoding or
connection close. Anything else is reported as a protocol error, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.1 response we can frame."""


@dataclass(frozen=True)
class Target:
    """Where requests go: host and port to connect to, and the request line's pieces."""

    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def from_url(cls, base_url: str, path: str) -> Target:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs are supported, got {base_url!r}")
        if not parts.hostname:
            raise ValueError(f"no host in {base_url!r}")
        port = parts.port or 80
        host = parts.hostname
        shown_host = f"[{host}]" if ":" in host else host
        host_header = shown_host if port == 80 else f"{shown_host}:{port}"
        return cls(host=host, port=port, path=path, host_header=host_header)

    @property
    def url(self) -> str:
        return f"http://{self.host_header}{self.path}"


def build_request(method: str, target: Target, body: bytes | None, *, keep_alive: bool) -> bytes:
    """Serialise one request; the engines send the same bytes for every iteration."""
    lines = [
        f"{method} {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        "User-Agent: bench_client",
        "Accept: application/json",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + (body or b"")


@dataclass
class Response:
    status: int
    body: bytes
    will_close: bool


@dataclass
class ResponseParser:
    """Incremental parser: feed() bytes as they arrive until it returns a Response.

    Bytes after the end of the response are an error: with one request in
    flight per connection a correct server never sends them.
    """

    _buffer: bytearray = field(default_factory=bytearray)
    _status: int = 0
    _will_close: bool = False
    _length: int | None = None
    _chunked: bool = False
    _head_done: bool = False

    def feed(self, data: bytes) -> Response | None:
        self._buffer += data
        if not self._head_done and not self._parse_head():
            return None
        if self._chunked:
            return self._parse_chunked()
        if self._length is None:
            return None  # body runs to connection close: see eof()
        if len(self._buffer) < self._length:
            return None
        if len(self._buffer) > self._length:
            raise ProtocolError("server sent bytes after the response")
        return Response(self._status, bytes(self._buffer), self._will_close)

    def eof(self) -> Response:
        """The server closed the connection: a close-delimited body ends here."""
        if self._head_done and self._length is None and not self._chunked:
            return Response(self._status, bytes(self._buffer), True)
        if not self._head_done and not self._buffer:
            raise ConnectionError("connection closed before any response")
        raise ConnectionError("connection closed in the middle of the response")

    def _parse_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > 65536:
                raise ProtocolError("response head larger than 64 KiB")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        status_line = head[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x status line: {head[0][:80]!r}")
        try:
            self._status = int(status_line[1])
        except ValueError:
            raise ProtocolError(f"bad status code in {head[0][:80]!r}") from None
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        self._will_close = connection == "close" or (
            status_line[0] == "HTTP/1.0" and connection != "keep-alive"
        )
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not self._chunked and "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        elif not self._chunked and (self._status in (204, 304) or self._status < 200):
            self._length = 0
        self._head_done = True
        return True

    def _parse_chunked(self) -> Response | None:
        body = bytearray()
        position = 0
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            try:
                size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            start = line_end + 2
            if size == 0:
                # Trailers (rare) end with an empty line, like the head.
                trailer_end = buffer.find(b"\r\n", start)
                while trailer_end > start:
                    start = trailer_end + 2
                    trailer_end = buffer.find(b"\r\n", start)
                if trailer_end < 0:
                    return None
                return Response(self._status, bytes(body), self._will_close)
            if len(buffer) < start + size + 2:
                return None
            body += buffer[start : start + size]
            position = start + size + 2
