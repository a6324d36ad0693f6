"""Check a running stack against the endpoint contract, from outside, stdlib only.

Runs on the server (verify phase, any Python >= 3.10) and in the app tests:

    python -m apps.probe --base-url http://127.0.0.1:5001 [--json]
    python -m apps.probe --target NAME URL SLOW_CLIENTS [--target ...] [--json]

Each check sends real requests (raw bytes where a client library would refuse
to send them) and reports ok/detail; the exit code is 1 if any check failed.
With --target, several stacks are probed at once, each in a process of its own
(as if one probe ran per stack), and the JSON maps each NAME to its results.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from apps import contract

TIMEOUT_S = 10.0
# A kept-alive request answered after the client's delayed ACK (~40 ms) means
# Nagle's algorithm held the response back; a healthy local answer takes ~1 ms.
NAGLE_THRESHOLD_S = 0.030
JSON_HEADERS = {"Content-Type": contract.JSON_CONTENT_TYPE}
# How long the stack may take to answer while slow clients hold connections:
# a Gunicorn sync worker is freed only when its worker timeout kills it.
SLOW_CLIENT_WAIT_S = 20.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Result:
    check: str
    ok: bool
    detail: str


class Target:
    """Where the stack listens; every request uses a fresh connection unless said otherwise."""

    def __init__(
        self,
        base_url: str,
        max_body_bytes: int,
        slow_clients: int = 2,
        slow_client_wait_s: float = SLOW_CLIENT_WAIT_S,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"base URL must look like http://HOST:PORT, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port
        self.max_body_bytes = max_body_bytes
        self.slow_clients = slow_clients
        self.slow_client_wait_s = slow_client_wait_s

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            return _read(connection.getresponse())
        finally:
            connection.close()

    def raw(self, data: bytes) -> Reply:
        """Send bytes as they are (invalid headers and framing included)."""
        with socket.create_connection((self.host, self.port), timeout=TIMEOUT_S) as sock:
            sock.sendall(data)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return _read(response)


# A check returns None when the stack behaved, else what went wrong.
Check = Callable[[Target], "str | None"]


def _read(response: http.client.HTTPResponse) -> Reply:
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Reply(response.status, headers, body)


def _raw_post(target: Target, headers: list[str], body: bytes) -> bytes:
    head = ["POST /post HTTP/1.1", f"Host: {target.host}:{target.port}", *headers]
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _describe(reply: Reply) -> str:
    return f"{reply.status} {reply.body[:120]!r}"


def _json_error(reply: Reply, expected: range | int) -> str | None:
    """None if the reply is the expected status with a JSON body, else what is wrong."""
    statuses = expected if isinstance(expected, range) else range(expected, expected + 1)
    if reply.status not in statuses:
        return f"expected {expected}, got {_describe(reply)}"
    return _framing_error(reply)


def _framing_error(reply: Reply) -> str | None:
    """Every response: JSON content type, a correct Content-Length and a Date."""
    content_type = reply.headers.get("content-type", "")
    if not content_type.startswith(contract.JSON_CONTENT_TYPE):
        return f"Content-Type is {content_type!r}, not JSON: {_describe(reply)}"
    if reply.headers.get("content-length") != str(len(reply.body)):
        return f"Content-Length {reply.headers.get('content-length')!r} for {len(reply.body)} bytes"
    if "date" not in reply.headers:
        return "no Date header"
    try:
        reply.json()
    except ValueError:
        return f"body is not JSON: {_describe(reply)}"
    return None


def _check_get(target: Target, path: str) -> str | None:
    reply = target.request("GET", path)
    problem = _json_error(reply, 200)
    if problem:
        return problem
    data = reply.json()
    if data.get("message") != contract.GET_MESSAGE:
        return f"wrong message: {data!r}"
    if not isinstance(data.get("pid"), int) or not isinstance(data.get("timestamp"), str):
        return f"missing pid or timestamp: {data!r}"
    return None


def _check_post(target: Target, path: str) -> str | None:
    sent = {"key": "value"}
    reply = target.request("POST", path, json.dumps(sent).encode(), JSON_HEADERS)
    problem = _json_error(reply, 200)
    if problem:
        return problem
    data = reply.json()
    if data.get("message") != contract.POST_MESSAGE or data.get("received_data") != sent:
        return f"wrong answer: {data!r}"
    return None


def _check_health(target: Target) -> str | None:
    return _json_error(target.request("GET", "/health"), 200)


def _post_expect(status: range | int, body: bytes, headers: dict[str, str]) -> Check:
    return lambda target: _json_error(target.request("POST", "/post", body, headers), status)


def _raw_expect_4xx(build: Callable[[Target], bytes]) -> Check:
    """Framing-level garbage: the server itself may answer (not JSON), but with a 4xx."""

    def check(target: Target) -> str | None:
        try:
            reply = target.raw(build(target))
        except (ConnectionError, http.client.HTTPException) as error:
            return f"no HTTP answer: {error!r}"
        return None if 400 <= reply.status < 500 else f"expected 4xx, got {_describe(reply)}"

    return check


def _send_post(target: Target, head: list[str], body: Iterable[bytes]) -> Reply | str:
    """POST the head and the body's parts as they are; the reply, or why there is none.

    A stack may answer and close before the body is all sent: a failed send
    is not the end, its answer is still read.
    """
    with socket.create_connection((target.host, target.port), timeout=TIMEOUT_S) as sock:
        try:
            sock.sendall(_raw_post(target, head, b""))
            for part in body:
                sock.sendall(part)
        except OSError:
            pass
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            return _read(response)
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            return f"no HTTP answer: {error!r}"


def _check_oversized(target: Target) -> str | None:
    body = b'{"k":"' + b"x" * target.max_body_bytes + b'"}'
    head = [f"Content-Type: {contract.JSON_CONTENT_TYPE}", f"Content-Length: {len(body)}"]
    reply = _send_post(target, head, [body])
    return reply if isinstance(reply, str) else _json_error(reply, 413)


def _check_chunked_post(target: Target) -> str | None:
    """A chunked body within the limit (no Content-Length) is read whole, like any other."""
    sent = {"key": "value", "filler": "x" * 100_000}
    body = json.dumps(sent).encode()
    parts = [body[start : start + 16384] for start in range(0, len(body), 16384)]
    chunks = [b"%x\r\n%s\r\n" % (len(part), part) for part in parts] + [b"0\r\n\r\n"]
    head = [f"Content-Type: {contract.JSON_CONTENT_TYPE}", "Transfer-Encoding: chunked"]
    reply = _send_post(target, head, chunks)
    if isinstance(reply, str):
        return reply
    problem = _json_error(reply, 200)
    if problem:
        return problem
    return None if reply.json().get("received_data") == sent else "the body came back changed"


def _check_chunked_oversized(target: Target) -> str | None:
    chunk = b"x" * 65536
    count = target.max_body_bytes // len(chunk) + 2
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(count)] + [b"0\r\n\r\n"]
    head = ["Content-Type: application/json", "Transfer-Encoding: chunked"]
    reply = _send_post(target, head, parts)
    return reply if isinstance(reply, str) else _json_error(reply, 413)


def _refused_while_sending(target: Target, head: list[str], body: Iterable[bytes]) -> str | None:
    """Send the head and the body's parts, never the end: the stack must answer 4xx on its own."""
    reply = _send_post(target, head, body)
    if isinstance(reply, str):
        return f"{reply} before the body was complete (does it buffer the whole body?)"
    return None if 400 <= reply.status < 500 else f"expected 4xx, got {_describe(reply)}"


def _check_chunked_refused_early(target: Target) -> str | None:
    chunk = b"x" * 65536
    count = target.max_body_bytes // len(chunk) + 2
    head = ["Content-Type: application/json", "Transfer-Encoding: chunked"]
    return _refused_while_sending(
        target, head, (b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(count))
    )


def _check_declared_refused_early(target: Target) -> str | None:
    head = ["Content-Type: application/json", f"Content-Length: {10 * 1024**3}"]
    return _refused_while_sending(target, head, [b'{"k":"' + b"x" * 65536])


def _raw_get(target: Target, path: str, fields: list[str]) -> bytes:
    head = [f"GET {path} HTTP/1.1", f"Host: {target.host}:{target.port}", *fields]
    return ("\r\n".join([*head, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def _long_request_line(target: Target) -> bytes:
    return _raw_get(target, "/get?q=" + "x" * contract.MAX_REQUEST_LINE_BYTES, [])


def _long_header_field(target: Target) -> bytes:
    return _raw_get(target, "/get", ["X-Big: " + "x" * contract.MAX_HEADER_FIELD_BYTES])


def _many_header_fields(target: Target) -> bytes:
    fields = [f"X-Field-{n}: x" for n in range(contract.MAX_HEADER_FIELDS + 1)]
    return _raw_get(target, "/get", fields)


def _large_head(target: Target) -> bytes:
    # Each field below the per-field limit, all of them above the head limit.
    size = contract.MAX_HEADER_FIELD_BYTES // 2
    count = contract.MAX_HEADER_BYTES // size + 1
    return _raw_get(target, "/get", [f"X-Part-{n}: " + "x" * size for n in range(count)])


def _check_slow_clients(target: Target) -> str | None:
    """Clients that never finish their request head must not take the stack down for good."""
    stalled = []
    try:
        for _ in range(target.slow_clients):
            sock = socket.create_connection((target.host, target.port), timeout=TIMEOUT_S)
            stalled.append(sock)
            sock.sendall(f"GET /get HTTP/1.1\r\nHost: {target.host}\r\nX-Slow: ".encode())
        started = time.monotonic()
        connection = http.client.HTTPConnection(
            target.host, target.port, timeout=target.slow_client_wait_s
        )
        try:
            connection.request("GET", "/get")
            reply = _read(connection.getresponse())
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            return (
                f"no answer within {target.slow_client_wait_s:.0f} s while {len(stalled)} "
                f"clients stalled mid-head: {error!r}"
            )
        finally:
            connection.close()
        problem = _json_error(reply, 200)
        return problem and f"after {time.monotonic() - started:.1f} s: {problem}"
    finally:
        for sock in stalled:
            sock.close()


def _check_method(method: str, path: str) -> Check:
    return lambda target: _json_error(
        target.request(method, path, b"" if method == "POST" else None), 405
    )


def _check_not_found(target: Target) -> str | None:
    return _json_error(target.request("GET", "/no-such-endpoint"), 404)


def _check_nagle(target: Target) -> str | None:
    """Second request on a kept-alive connection must not wait for a delayed ACK."""
    seconds: list[float] = []
    for _ in range(5):
        connection = http.client.HTTPConnection(target.host, target.port, timeout=TIMEOUT_S)
        try:
            connection.request("GET", "/get")
            first = connection.getresponse()
            first.read()
            if first.will_close:
                return None  # the server closes every connection: nothing to keep alive
            started = time.perf_counter()
            connection.request("POST", "/post", b'{"key":"value"}', JSON_HEADERS)
            connection.getresponse().read()
            seconds.append(time.perf_counter() - started)
        finally:
            connection.close()
    # Nagle delays every such request by the same ~40 ms; a busy CPU slows some of
    # them. So the fastest of five decides, not the typical one.
    fastest = min(seconds)
    if fastest >= NAGLE_THRESHOLD_S:
        return f"kept-alive request took {fastest * 1000:.1f} ms (Nagle/delayed-ACK signature)"
    return None


_NESTED = b"[" * 100_000 + b"]" * 100_000

CHECKS: dict[str, Check] = {
    "GET /get": lambda target: _check_get(target, "/get"),
    "GET /get/": lambda target: _check_get(target, "/get/"),
    "POST /post": lambda target: _check_post(target, "/post"),
    "POST /post/": lambda target: _check_post(target, "/post/"),
    "GET /health": _check_health,
    "malformed JSON -> 400": _post_expect(400, b'{"key": ', JSON_HEADERS),
    "non-JSON content type -> 400": _post_expect(
        400, b"key=value", {"Content-Type": "application/x-www-form-urlencoded"}
    ),
    "empty body -> 400": _post_expect(400, b"", JSON_HEADERS),
    "invalid UTF-8 -> 400": _post_expect(400, b'{"key": "\xff\xfe"}', JSON_HEADERS),
    "JSON array -> 400": _post_expect(400, b'["key", "value"]', JSON_HEADERS),
    "JSON scalar -> 400": _post_expect(400, b"42", JSON_HEADERS),
    "NaN -> 400": _post_expect(400, b'{"key": NaN}', JSON_HEADERS),
    "deeply nested JSON -> 400": _post_expect(400, _NESTED, JSON_HEADERS),
    "oversized body -> 413": _check_oversized,
    "chunked POST -> 200": _check_chunked_post,
    "oversized chunked body -> 413": _check_chunked_oversized,
    "oversized chunked body refused while it is sent": _check_chunked_refused_early,
    "oversized declared body refused before it is sent": _check_declared_refused_early,
    "request line over the limit -> 4xx": _raw_expect_4xx(_long_request_line),
    "header field over the limit -> 4xx": _raw_expect_4xx(_long_header_field),
    "too many header fields -> 4xx": _raw_expect_4xx(_many_header_fields),
    "request head over the limit -> 4xx": _raw_expect_4xx(_large_head),
    "bad Content-Length -> 4xx": _raw_expect_4xx(
        lambda target: _raw_post(target, ["Content-Length: abc"], b"{}")
    ),
    "GET /post -> 405": _check_method("GET", "/post"),
    "POST /get -> 405": _check_method("POST", "/get"),
    "unknown path -> 404": _check_not_found,
    "keep-alive without Nagle delay": _check_nagle,
    "answers while clients stall mid-head": _check_slow_clients,
    # Last: after all the garbage above the service must still answer.
    "still healthy": _check_health,
}


def run(
    base_url: str,
    max_body_bytes: int = contract.MAX_BODY_BYTES,
    slow_clients: int = 2,
    slow_client_wait_s: float = SLOW_CLIENT_WAIT_S,
) -> list[Result]:
    target = Target(base_url, max_body_bytes, slow_clients, slow_client_wait_s)
    results = []
    for name, check in CHECKS.items():
        try:
            problem = check(target)
        except (OSError, http.client.HTTPException, ValueError) as error:
            problem = f"{type(error).__name__}: {error}"
        results.append(Result(name, problem is None, problem or "ok"))
    return results


def run_many(
    targets: dict[str, tuple[str, int]],
    max_body_bytes: int = contract.MAX_BODY_BYTES,
    slow_client_wait_s: float = SLOW_CLIENT_WAIT_S,
) -> dict[str, list[Result]]:
    """`run` for each NAME: (base URL, slow clients), all at once, a process each.

    A probe that crashes is reported as a failed check of its own stack."""
    for base_url, slow_clients in targets.values():
        Target(base_url, max_body_bytes, slow_clients, slow_client_wait_s)  # a bad URL raises here
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = {
            name: pool.submit(run, base_url, max_body_bytes, slow_clients, slow_client_wait_s)
            for name, (base_url, slow_clients) in targets.items()
        }
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as error:  # any crash: reported as this stack's failure
                results[name] = [Result("probe ran", False, f"{type(error).__name__}: {error}")]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.probe", description=__doc__)
    stacks = parser.add_mutually_exclusive_group(required=True)
    stacks.add_argument("--base-url", help="http://HOST:PORT of the stack")
    stacks.add_argument(
        "--target",
        nargs=3,
        action="append",
        metavar=("NAME", "BASE_URL", "SLOW_CLIENTS"),
        help="a stack to probe beside the others (repeat it); --slow-clients is then per target",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=contract.MAX_BODY_BYTES, help="the stack's limit"
    )
    parser.add_argument(
        "--slow-clients", type=int, default=2, help="stalled connections (the stack's workers)"
    )
    parser.add_argument(
        "--slow-client-wait",
        type=float,
        default=SLOW_CLIENT_WAIT_S,
        help="seconds the stack may take to answer meanwhile (its worker timeout + a margin)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        if args.target:
            by_name = run_many(
                {name: (url, int(slow)) for name, url, slow in args.target},
                args.max_body_bytes,
                args.slow_client_wait,
            )
        else:
            by_name = {
                "": run(
                    args.base_url, args.max_body_bytes, args.slow_clients, args.slow_client_wait
                )
            }
    except ValueError as error:
        parser.error(str(error))
    as_dicts = {name: [asdict(result) for result in results] for name, results in by_name.items()}
    if args.json:
        print(json.dumps(as_dicts if args.target else as_dicts[""]))
    else:
        for name, results in by_name.items():
            for result in results:
                where = f"{name}: " if name else ""
                print(f"{'ok ' if result.ok else 'FAIL'} {where}{result.check}: {result.detail}")
    return 0 if all(result.ok for results in by_name.values() for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
