"""A tiny loopback reference server: the stacks' /get and /post, answered in microseconds.

`calibrate` and the overhead benchmark time the client against it: whatever a
request costs here is, to within a few microseconds, the client's own cost.
It runs in its own process so that it does not share the client's GIL.

    python -m bench_client.refserver [--host 127.0.0.1] [--port 0] [--lifetime 3600]

prints `http://HOST:PORT` on its first line once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from bench_client.request import GET_MESSAGE, POST_MESSAGE


class _HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and (request := self._next_request()) is not None:
            self._answer(*request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _next_request(self) -> tuple[str, str, bytes, bool] | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        close = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path = [*head[0].split(" "), "", ""][:2]
        return method, path, body, close

    def _answer(self, method: str, path: str, body: bytes, close: bool) -> None:
        status, document = _route(method, path.rstrip("/"), body)
        payload = json.dumps(document).encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.write(head.encode() + payload)
        if close:
            self.transport.close()


def _route(method: str, path: str, body: bytes) -> tuple[str, dict[str, object]]:
    """The lab's contract on every path, so that any request can be calibrated: without a
    body, the GET reply; with one, the POST reply echoing it (JSON, else as text)."""
    stamp = {"timestamp": datetime.now(timezone.utc).isoformat(), "pid": os.getpid()}
    if not body:
        return "200 OK", {"message": GET_MESSAGE, **stamp}
    try:
        received: object = json.loads(body)
    except ValueError:
        if path == "/post":
            return "400 Bad Request", {"error": "body is not JSON"}
        received = body.decode("utf-8", "replace")
    return "200 OK", {"message": POST_MESSAGE, "received_data": received, **stamp}


async def serve(host: str, port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_HttpProtocol, host, port)
    bound = server.sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"http://{shown}:{bound[1]}", flush=True)
    async with server:
        # Bounded: a forgotten reference server does not live forever.
        await asyncio.sleep(lifetime)


@contextlib.contextmanager
def running(host: str = "127.0.0.1", lifetime: float = 600) -> Iterator[str]:
    """Start the reference server in a child process; yield its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench_client.refserver",
            "--host",
            host,
            "--lifetime",
            str(lifetime),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],  # where `-m bench_client...` is found
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"reference server did not start (exit code {process.poll()})")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench_client.refserver",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (default)")
    parser.add_argument("--lifetime", type=float, default=3600, help="exit after this many seconds")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
