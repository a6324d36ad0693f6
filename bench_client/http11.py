"""The little HTTP/1.1 the low-overhead engines speak: build a request, parse a response.

Only what a benchmark against JSON endpoints needs: one request at a time per
connection (no pipelining), bodies framed by Content-Length, chunked encoding or
connection close. Anything else is reported as a protocol error, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench_client.request import Request


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


# Sent unless the request names its own.
_DEFAULT_HEADERS = (("User-Agent", "bench_client"), ("Accept", "application/json"))


def build_request(request: Request, target: Target, *, keep_alive: bool) -> bytes:
    """Serialise one request; the engines send the same bytes for every iteration."""
    body = request.body_bytes
    own = {name.lower() for name, _ in request.all_headers}
    defaults = [(n, v) for n, v in _DEFAULT_HEADERS if n.lower() not in own]
    lines = [
        f"{request.method} {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in (*defaults, *request.all_headers)),
    ]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
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
    flight per connection a correct server never sends them. The common case,
    a whole response in one recv(), takes the shortest path: this runs inside
    the timed window of every request.
    """

    _head: bytes = b""  # an incomplete head, waiting for the rest
    _body: bytearray = field(default_factory=bytearray)
    _status: int = 0
    _will_close: bool = False
    _length: int | None = None
    _chunked: bool = False
    _head_done: bool = False

    def feed(self, data: bytes) -> Response | None:
        if not self._head_done:
            data = self._head + data if self._head else data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > 65536:
                    raise ProtocolError("response head larger than 64 KiB")
                self._head = data
                return None
            self._parse_head(data[: end + 2].lower())
            data = data[end + 4 :]
            if self._length == len(data) and not self._chunked:
                return Response(self._status, data, self._will_close)
        self._body += data
        if self._chunked:
            return self._parse_chunked()
        if self._length is None or len(self._body) < self._length:
            return None  # more to come, or a body that runs to connection close: see eof()
        if len(self._body) > self._length:
            raise ProtocolError("server sent bytes after the response")
        return Response(self._status, bytes(self._body), self._will_close)

    def eof(self) -> Response:
        """The server closed the connection: a close-delimited body ends here."""
        if self._head_done and self._length is None and not self._chunked:
            return Response(self._status, bytes(self._body), True)
        if not self._head_done and not self._head:
            raise ConnectionError("connection closed before any response")
        raise ConnectionError("connection closed in the middle of the response")

    def _parse_head(self, head: bytes) -> None:
        """Read a lower-cased head ending in CRLF with byte searches, not a header dict."""
        if not head.startswith(b"http/1.") or head[12:13] not in (b" ", b"\r"):
            raise ProtocolError(f"not an HTTP/1.x status line: {head[:80]!r}")
        try:
            self._status = int(head[9:12])
        except ValueError:
            raise ProtocolError(f"bad status code in {head[:80]!r}") from None
        connection = _header(head, b"\r\nconnection:")
        self._will_close = connection == b"close" or (
            head.startswith(b"http/1.0") and connection != b"keep-alive"
        )
        self._chunked = b"chunked" in (_header(head, b"\r\ntransfer-encoding:") or b"")
        length = _header(head, b"\r\ncontent-length:")
        if not self._chunked and length is not None:
            try:
                self._length = int(length)
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        elif not self._chunked and (self._status in (204, 304) or self._status < 200):
            self._length = 0
        self._head_done = True

    def _parse_chunked(self) -> Response | None:
        body = bytearray()
        position = 0
        buffer = self._body
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


def _header(head: bytes, needle: bytes) -> bytes | None:
    """The value of the header that `needle` (CRLF, name, colon) starts, or None."""
    start = head.find(needle)
    if start < 0:
        return None
    start += len(needle)
    return head[start : head.find(b"\r\n", start)].strip()
