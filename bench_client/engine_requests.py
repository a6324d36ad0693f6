"""The paper's client, kept faithful: `requests` without a Session.

No Session means every request builds a fresh connection pool and so opens a
new TCP connection, exactly as the paper's script did. That costs ~2 ms of
client time per request (docs/traps.md), which the meta file reports beside the
results as the client's measured overhead.
"""

from __future__ import annotations

import requests

from bench_client.failures import RequestFailed, describe
from bench_client.request import Request

# Measure the stack, never a proxy in between, even if HTTP_PROXY is set on the
# client host (the raw-socket engines never use one either).
NO_PROXY = {"http": "", "https": ""}


class RequestsEngine:
    def __init__(self, url: str, request: Request, timeout: float) -> None:
        self.url = url
        self.method = request.method
        self.body = request.body_bytes
        self.headers = dict(request.all_headers)
        self.timeout = timeout

    def prepare(self) -> None:
        """Nothing to tidy: no connection outlives its request."""

    def send(self) -> tuple[int, bytes]:
        try:
            # requests.request is what requests.get and requests.post call; the body is the
            # bytes json= would have made for the paper's payload.
            response = requests.request(
                self.method,
                self.url,
                data=self.body,
                headers=self.headers,
                timeout=self.timeout,
                proxies=NO_PROXY,
            )
        except requests.Timeout:
            raise RequestFailed(f"timeout after {self.timeout:g} s") from None
        except (requests.RequestException, OSError) as exc:
            raise RequestFailed(describe(exc, self.timeout)) from None
        return response.status_code, response.content

    def close(self) -> None:
        """Nothing is kept between requests."""
