"""A tiny loopback HTTP server with the stacks' endpoints (apps/contract.py), for Fabric tests."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ContractHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/get":
            self._reply(200, {"message": "This is a GET request!"})
        elif self.path.rstrip("/") == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/post":
            self._reply(404, {"error": "not found"})
            return
        try:
            data = json.loads(body)
        except ValueError:
            self._reply(400, {"error": "body is not JSON"})
            return
        self._reply(200, {"message": "This is a POST request!", "received_data": data})

    def _reply(self, status: int, document: dict) -> None:
        document = {
            **document,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "pid": os.getpid(),
        }
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: thousands of requests


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler] = ContractHandler) -> Iterator[str]:
    """Serve ``handler`` (the lab's contract by default) on 127.0.0.1 on a free port; yield
    the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
