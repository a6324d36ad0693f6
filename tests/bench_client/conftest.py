"""Real loopback HTTP servers with known behaviour, started by the tests.

`StackServer` is a stdlib ThreadingHTTPServer (not the client's own reference
server, so the client is not tested against its own code). It serves
the stacks' /get and /post correctly, with an optional fixed delay, and can be
told to misbehave on chosen requests: drop the connection, reset it, answer
500, answer after the client's timeout, send broken or wrong JSON. It runs in
the tests' process, so the moments it records (`accepted`, `arrived`) are on
the client's own clock, time.perf_counter.
"""

from __future__ import annotations

import contextlib
import csv
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench_client.cli import main
from bench_client.settings import SETTINGS

POOL_MODES = SETTINGS["processes"].modes

# struct linger: two u_shorts on Windows, two ints elsewhere.
LINGER_ZERO = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
GET_MESSAGE = "This is a GET request!"
POST_MESSAGE = "This is a POST request!"


class StackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 drops SYNs when many workers connect at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = 0.0
        self.misbehave: str | None = (
            None  # drop | reset | 500 | slow | broken_json | wrong_json | wrong_echo
        )
        self.misbehave_on: Callable[[int], bool] = lambda n: False  # by request number, from 1
        self.slow_seconds = 1.0
        self.close_every_response = False
        self.idle_timeout: float | None = None  # close a kept-alive connection idle this long
        self.nodelay = True
        self.lock = threading.Lock()
        self.count = 0
        self.paths: list[str] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.accepted: list[float] = []  # perf_counter() of each accepted connection
        self.arrived: list[float] = []  # perf_counter() of each request, once read
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[socket.socket, object]:
        conn, address = super().get_request()
        with self.lock:
            self.connections += 1
            self.accepted.append(time.perf_counter())
        return conn, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StackServer

    def setup(self) -> None:
        super().setup()
        # http.server writes the head and the body separately; with Nagle on, the
        # body would wait ~40 ms for the client's delayed ACK on kept-alive
        # connections (the uvicorn trap, docs/traps.md). Real servers set TCP_NODELAY.
        if self.server.nodelay:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.idle_timeout is not None:
            # http.server closes the connection when a read times out: what
            # uvicorn's or gunicorn's keep-alive timeout does, without a header.
            self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read counts, not logs."""

    def do_GET(self) -> None:
        self._serve({"message": GET_MESSAGE})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            received = json.loads(body)
        except ValueError:
            self._send(400, b'{"error": "not JSON"}')
            return
        self._serve({"message": POST_MESSAGE, "received_data": received}, body)

    def _serve(self, document: dict, body: bytes = b"") -> None:
        server = self.server
        with server.lock:
            server.arrived.append(time.perf_counter())
            server.count += 1
            number = server.count
            server.paths.append(self.path)
            server.bodies.append(body)
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if server.delay:
                time.sleep(server.delay)
            kind = server.misbehave if server.misbehave_on(number) else None
            self._answer(kind, document)
        finally:
            with server.lock:
                server.in_flight -= 1

    def _answer(self, kind: str | None, document: dict) -> None:
        document = {**document, "timestamp": "2026-01-01T00:00:00+00:00", "pid": 1}
        if kind == "drop":
            self.close_connection = True
        elif kind == "reset":
            # Linger 0 and close now (before socketserver's graceful shutdown): an RST.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
            self.connection.close()
            self.close_connection = True
        elif kind == "500":
            self._send(500, b'{"error": "boom"}')
        elif kind == "slow":
            time.sleep(self.server.slow_seconds)
            self._send(200, json.dumps(document).encode())
        elif kind == "broken_json":
            self._send(200, b'{"message": "This is a GET req')
        elif kind == "wrong_json":
            self._send(200, json.dumps({**document, "message": "Hello"}).encode())
        elif kind == "wrong_echo":
            self._send(200, json.dumps({**document, "received_data": {"key": "other"}}).encode())
        else:
            self._send(200, json.dumps(document).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.server.close_every_response:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serving() -> Iterator[StackServer]:
    stack = StackServer()
    thread = threading.Thread(target=stack.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield stack
    stack.shutdown()
    stack.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[StackServer]:
    with serving() as stack:
        yield stack


@pytest.fixture
def other_server() -> Iterator[StackServer]:
    """A second stack, for the paired design."""
    with serving() as stack:
        yield stack


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Result:
    """What one in-process CLI run left behind."""

    def __init__(self, code: int, out: Path) -> None:
        self.code = code
        self.out = out
        self.meta_path = out.with_suffix(".meta.json")
        self.rows: list[dict[str, str]] = []
        self.meta: dict = {}
        if out.exists():
            with out.open(newline="", encoding="utf-8") as handle:
                self.rows = list(csv.DictReader(handle))
        if self.meta_path.exists():
            self.meta = json.loads(self.meta_path.read_text(encoding="utf-8"))

    @property
    def times(self) -> list[float]:
        return [
            float(r["Execution Time (seconds)"]) for r in self.rows if r["Execution Time (seconds)"]
        ]

    @property
    def failures(self) -> list[dict[str, str]]:
        return [r for r in self.rows if not r["Execution Time (seconds)"]]


def flags(**options: object) -> list[str]:
    """flags(base_url=u, iterations=5) -> ["--base-url", u, "--iterations", "5"]."""
    return [
        part
        for name, value in options.items()
        for part in (f"--{name.replace('_', '-')}", str(value))
    ]


@pytest.fixture
def bench(tmp_path: Path) -> Callable[..., Result]:
    """Run `python -m bench_client` in-process: bench(server, mode="rate", rate=100, ...)."""

    def run(
        server: StackServer | None = None,
        *args: str,
        out: str = "GET.csv",
        calibration: str = "off",
        **options: object,
    ) -> Result:
        path = tmp_path / out
        if server is not None:
            # No warm-up unless a test asks: tests count the requests a server saw.
            options = {"base_url": server.url, "warmup": 0, **options}
            if "--request" not in args:  # else the request is declared whole
                options = {"method": "GET", **options}
        if options.get("mode") in POOL_MODES:
            # One engine process unless a test asks (test_processes.py): each process
            # sends its own first request, and the tests count what a server saw.
            options = {"processes": 1, **options}
        argv = [*flags(**options), *args, "--out", str(path), "--quiet"]
        if "--calibration" not in args:
            argv += ["--calibration", calibration]
        try:
            code = main(argv)
        except SystemExit as refused:  # argparse refused an argument, as the CLI would exit
            code = int(refused.code or 0)
        return Result(code, path)

    return run
