"""The paper's client, kept faithful: `requests.get/post` without a Session.

No Session means every request builds a fresh connection pool and so opens a
new TCP connection, exactly as the paper's script did. That costs ~2 ms of
client time per request (docs/traps.md), which the meta file reports beside the
results as the client's measured overhead.
"""

from __future__ import annotations

from typing import Any

import requests

from bench_client.failures import RequestFailed, describe

# Measure the stack, never a proxy in between, even if HTTP_PROXY is set on the
# client host (the raw-socket engines never use one either).
NO_PROXY = {"http": "", "https": ""}


class RequestsEngine:
    def __init__(self, url: str, method: str, payload: Any, timeout: float) -> None:
        self.url = url
        self.method = method
        self.payload = payload
        self.timeout = timeout

    def prepare(self) -> None:
        """Nothing to tidy: no connection outlives its request."""

    def send(self) -> tuple[int, bytes]:
        try:
            if self.method == "GET":
                response = requests.get(self.url, timeout=self.timeout, proxies=NO_PROXY)
            else:
                response = requests.post(
                    self.url, json=self.payload, timeout=self.timeout, proxies=NO_PROXY
                )
        except requests.Timeout:
            raise RequestFailed(f"timeout after {self.timeout:g} s") from None
        except (requests.RequestException, OSError) as exc:
            raise RequestFailed(describe(exc, self.timeout)) from None
        return response.status_code, response.content

    def close(self) -> None:
        """Nothing is kept between requests."""
