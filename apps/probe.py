"""Check a running stack from outside, stdlib only: the lab's apps against the endpoint
contract, an app of yours against the requests it declares; both against bad input.

Runs on the server (verify phase, any Python >= 3.10) and in the app tests:

    python -m apps.probe --base-url http://127.0.0.1:5001 [--json]
    python -m apps.probe --target NAME URL SLOW_CLIENTS [--target ...] [--json]
    python -m apps.probe --app NAME URL SLOW_CLIENTS HEALTH REQUESTS [--declared JSON] ...

Each check sends real requests (raw bytes where a client library would refuse
to send them) and reports ok/detail; the exit code is 1 if any check failed.
With --target, several stacks are probed at once, each in a process of its own
(as if one probe ran per stack), and the JSON maps each NAME to its results.
An app of yours (--app) is checked with what does not assume the lab's contract: its
health path and each request it declares (REQUESTS: a JSON list of declarations, or names
of --declared ones, judged as bench_client judges every reply), then oversized bodies and
heads, a malformed request line and stalled clients, each answered by a 4xx or a closed
connection, never a 5xx, and the service still up.

The test types (apps/workloads.py: json, plaintext, db, queries, fortunes, updates, io) are
verified apart, per type, before they are timed (`verify_test_types`, or --test-types):

    python -m apps.probe --base-url http://127.0.0.1:5001 --test-types all [--json]

A type that fails a check is reported with that check's name and is not measured; the
others are.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import html.parser
import http.client
import json
import re
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apps import contract, workloads
from bench_client.request import (
    WORKLOADS,
    Request,
    RequestError,
    VerificationError,
    catalogue,
)

TIMEOUT_S = 10.0
# A kept-alive request answered after the client's delayed ACK (~40 ms) means
# Nagle's algorithm held the response back; a healthy local answer takes ~1 ms.
NAGLE_THRESHOLD_S = 0.030
# Rounds of five kept-alive requests before Nagle is called, and the pause between them.
NAGLE_ROUNDS = 4
NAGLE_PAUSE_S = 0.5
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
        health: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"base URL must look like http://HOST:PORT, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port
        self.max_body_bytes = max_body_bytes
        self.slow_clients = slow_clients
        self.slow_client_wait_s = slow_client_wait_s
        # An app of yours has only its health path to be asked anything of; bad input
        # goes there. The lab's apps get it at their contract's paths.
        self.yours = health is not None
        self.get_path = health or "/get"
        self.post_path = health or "/post"

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
    head = [f"POST {target.post_path} HTTP/1.1", f"Host: {target.host}:{target.port}", *headers]
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
    if target.yours:
        reply = target.request("GET", target.get_path)
        return None if reply.status == 200 else f"expected 200, got {_describe(reply)}"
    return _json_error(target.request("GET", "/health"), 200)


def _refused(target: Target, reply: Reply | str, status: int) -> str | None:
    """A lab app answers bad input with ``status`` and a JSON error; an app of yours with
    a 4xx or a closed connection, never anything else."""
    if not target.yours:
        return reply if isinstance(reply, str) else _json_error(reply, status)
    if isinstance(reply, str) or 400 <= reply.status < 500:
        return None
    return f"expected 4xx or a closed connection, got {_describe(reply)}"


def _post_expect(status: range | int, body: bytes, headers: dict[str, str]) -> Check:
    return lambda target: _json_error(target.request("POST", "/post", body, headers), status)


def _raw_expect_4xx(build: Callable[[Target], bytes]) -> Check:
    """Framing-level garbage: the server itself may answer (not JSON), but with a 4xx."""

    def check(target: Target) -> str | None:
        try:
            reply = target.raw(build(target))
        except (ConnectionError, http.client.HTTPException) as error:
            return None if target.yours else f"no HTTP answer: {error!r}"
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
    return _refused(target, _send_post(target, head, [body]), 413)


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
    return _refused(target, _send_post(target, head, parts), 413)


def _refused_while_sending(target: Target, head: list[str], body: Iterable[bytes]) -> str | None:
    """Send the head and the body's parts, never the end: the stack must answer 4xx on its own."""
    reply = _send_post(target, head, body)
    if isinstance(reply, str):
        if target.yours and "no HTTP answer" not in reply:
            return None  # closed on it
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
    return _raw_get(target, target.get_path + "?q=" + "x" * contract.MAX_REQUEST_LINE_BYTES, [])


def _long_header_field(target: Target) -> bytes:
    return _raw_get(target, target.get_path, ["X-Big: " + "x" * contract.MAX_HEADER_FIELD_BYTES])


def _many_header_fields(target: Target) -> bytes:
    fields = [f"X-Field-{n}: x" for n in range(contract.MAX_HEADER_FIELDS + 1)]
    return _raw_get(target, target.get_path, fields)


def _check_malformed_line(target: Target) -> str | None:
    """A line that is no HTTP/1.x request: a 4xx, a closed connection, or an answer in
    HTTP/0.9's framing (a line that is no HTTP/1.x request may get one), never a 5xx."""
    try:
        reply = target.raw(b"NOT AN HTTP REQUEST\r\n\r\n")
    except (ConnectionError, http.client.BadStatusLine):
        return None
    return None if 400 <= reply.status < 500 else f"expected 4xx, got {_describe(reply)}"


def _large_head(target: Target) -> bytes:
    # Each field below the per-field limit, all of them above the head limit.
    size = contract.MAX_HEADER_FIELD_BYTES // 2
    count = contract.MAX_HEADER_BYTES // size + 1
    fields = [f"X-Part-{n}: " + "x" * size for n in range(count)]
    return _raw_get(target, target.get_path, fields)


def _check_slow_clients(target: Target) -> str | None:
    """Clients that never finish their request head must not take the stack down for good."""
    stalled = []
    try:
        for _ in range(target.slow_clients):
            sock = socket.create_connection((target.host, target.port), timeout=TIMEOUT_S)
            stalled.append(sock)
            head = f"GET {target.get_path} HTTP/1.1\r\nHost: {target.host}\r\nX-Slow: "
            sock.sendall(head.encode())
        started = time.monotonic()
        connection = http.client.HTTPConnection(
            target.host, target.port, timeout=target.slow_client_wait_s
        )
        try:
            connection.request("GET", target.get_path)
            reply = _read(connection.getresponse())
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            return (
                f"no answer within {target.slow_client_wait_s:.0f} s while {len(stalled)} "
                f"clients stalled mid-head: {error!r}"
            )
        finally:
            connection.close()
        if target.yours:
            problem = None if reply.status == 200 else f"expected 200, got {_describe(reply)}"
        else:
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


def _kept_alive_seconds(target: Target) -> float | None:
    """How long a second request on a kept-alive connection took, or None when the server
    closes every connection (nothing to keep alive)."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", target.get_path)
        first = connection.getresponse()
        first.read()
        if first.will_close:
            return None
        started = time.perf_counter()
        if target.yours:
            connection.request("GET", target.get_path)
        else:
            connection.request("POST", "/post", b'{"key":"value"}', JSON_HEADERS)
        connection.getresponse().read()
        return time.perf_counter() - started
    finally:
        connection.close()


def _check_nagle(target: Target) -> str | None:
    """Second request on a kept-alive connection must not wait for a delayed ACK."""
    # Nagle delays every such request by the same ~40 ms; a busy CPU slows some of them
    # (verify probes every stack at once: 41 of them on one server CPU in the full
    # matrix). So the fastest decides, and a slow round is tried again after a pause.
    fastest = float("inf")
    for round_number in range(NAGLE_ROUNDS):
        if round_number:
            time.sleep(NAGLE_PAUSE_S)
        for _ in range(5):
            took = _kept_alive_seconds(target)
            if took is None:
                return None
            fastest = min(fastest, took)
        if fastest < NAGLE_THRESHOLD_S:
            return None
    return f"kept-alive request took {fastest * 1000:.1f} ms (Nagle/delayed-ACK signature)"


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
    "malformed request line -> 4xx": _check_malformed_line,
    # Last: after all the garbage above the service must still answer.
    "still healthy": _check_health,
}

# What an app of yours is checked with besides its declared requests: nothing that assumes
# the lab's contract (bad input goes to its health path).
YOURS: dict[str, Check] = {
    "GET health path": _check_health,
    **{
        name: CHECKS[name]
        for name in (
            "oversized body -> 413",
            "oversized chunked body -> 413",
            "oversized declared body refused before it is sent",
            "request line over the limit -> 4xx",
            "header field over the limit -> 4xx",
            "too many header fields -> 4xx",
            "request head over the limit -> 4xx",
            "malformed request line -> 4xx",
            "keep-alive without Nagle delay",
            "answers while clients stall mid-head",
            "still healthy",
        )
    },
}


def declared_checks(requests: list[Any], declared: list[Any]) -> dict[str, Check]:
    """A check per request an app of yours declares: sent as bench_client sends it, its
    reply judged as bench_client judges every reply. RequestError for a bad declaration."""
    known = catalogue(declared)
    checks: dict[str, Check] = {}
    for item in requests:
        request = known[item] if isinstance(item, str) and item in known else None
        if request is None:
            if isinstance(item, str):
                raise RequestError(f"no request named {item!r} is declared")
            request = Request.from_json(item)
        checks[f"{request.name}: {request.method} {request.path} as declared"] = _answers(request)
    return checks


def _answers(request: Request) -> Check:
    def check(target: Target) -> str | None:
        reply = target.request(
            request.method, request.path, request.body_bytes, dict(request.all_headers)
        )
        try:
            request.check(reply.status, reply.body)
        except VerificationError as error:
            return str(error)
        return None

    return check


def run(
    base_url: str,
    max_body_bytes: int = contract.MAX_BODY_BYTES,
    slow_clients: int = 2,
    slow_client_wait_s: float = SLOW_CLIENT_WAIT_S,
    yours: tuple[str, list[Any], list[Any]] | None = None,
) -> list[Result]:
    """Every check of a lab stack, or with ``yours`` = (health path, its requests, the
    declared requests they may name) those of an app of yours."""
    if yours is None:
        target = Target(base_url, max_body_bytes, slow_clients, slow_client_wait_s)
        checks = CHECKS
    else:
        health, requests, declared = yours
        target = Target(base_url, max_body_bytes, slow_clients, slow_client_wait_s, health)
        first, *rest = YOURS.items()  # its health first, then what it declares
        checks = dict([first, *declared_checks(requests, declared).items(), *rest])
    return _run_checks(target, checks)


def _run_checks(
    target: Target, checks: dict[str, Check], *, until_failure: bool = False
) -> list[Result]:
    results = []
    for name, check in checks.items():
        try:
            problem = check(target)
        except (OSError, http.client.HTTPException, ValueError) as error:
            problem = f"{type(error).__name__}: {error}"
        results.append(Result(name, problem is None, problem or "ok"))
        if problem and until_failure:
            break
    return results


# A stack to probe: its base URL, its slow clients, and for an app of yours `run`'s `yours`.
Stack = tuple[str, int, "tuple[str, list[Any], list[Any]] | None"]


def run_many(
    targets: dict[str, Stack],
    max_body_bytes: int = contract.MAX_BODY_BYTES,
    slow_client_wait_s: float = SLOW_CLIENT_WAIT_S,
) -> dict[str, list[Result]]:
    """`run` for each NAME, all at once, a process each.

    A probe that crashes is reported as a failed check of its own stack."""
    for base_url, slow_clients, yours in targets.values():
        Target(base_url, max_body_bytes, slow_clients, slow_client_wait_s)  # a bad URL raises here
        if yours is not None:
            declared_checks(yours[1], yours[2])  # a bad declaration raises here
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = {
            name: pool.submit(run, url, max_body_bytes, slow, slow_client_wait_s, yours)
            for name, (url, slow, yours) in targets.items()
        }
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as error:  # any crash: reported as this stack's failure
                results[name] = [Result("probe ran", False, f"{type(error).__name__}: {error}")]
    return results


# The test types (apps/workloads.py), verified per type before they are timed.

TEST_TYPES = tuple(workloads.PATHS)
# N of /queries and /updates as sent, and how many rows each must bring (None: no parameter).
QUERY_COUNTS: tuple[tuple[str | None, int], ...] = (
    ("0", 1),
    ("1", 1),
    ("20", 20),
    ("501", 500),
    ("foo", 1),
    (None, 1),
)
IO_WAIT_MS = 50
# /updates' rows read back through /queries: at least this many, and most of them (another
# stack's verification may write to the same rows meanwhile) with the number /updates gave.
READ_BACK_ROWS = 10


@dataclass(frozen=True)
class TypeResult:
    """A test type's verification: ok when every check passed; else `failed` names the first
    check that did not (its detail in `results`)."""

    test_type: str
    ok: bool
    failed: str | None
    results: list[Result] = field(default_factory=list)


def _headers_error(reply: Reply, content_type: str) -> str | None:
    """Every test type's reply: 200, the Server, Date, Content-Type (``content_type`` or
    one with parameters, e.g. a charset) and a correct Content-Length headers."""
    if reply.status != 200:
        return f"expected 200, got {_describe(reply)}"
    for name in ("server", "date"):
        if not reply.headers.get(name):
            return f"no {name.title()} header"
    given = reply.headers.get("content-type", "")
    if given.split(";", 1)[0].strip().lower() != content_type:
        return f"Content-Type is {given!r}, not {content_type}"
    if reply.headers.get("content-length") != str(len(reply.body)):
        return f"Content-Length {reply.headers.get('content-length')!r} for {len(reply.body)} bytes"
    return None


def _json_reply(target: Target, path: str) -> tuple[Any, str | None]:
    reply = target.request("GET", path)
    problem = _headers_error(reply, contract.JSON_CONTENT_TYPE)
    if problem:
        return None, problem
    try:
        return reply.json(), None
    except ValueError:
        return None, f"body is not JSON: {_describe(reply)}"


def _world_error(row: Any) -> str | None:
    """A World row: exactly {"id", "randomNumber"}, both integers in 1-10,000."""
    if not isinstance(row, dict) or set(row) != {"id", "randomNumber"}:
        return f"not a World row ({{id, randomNumber}}): {row!r}"
    for key in ("id", "randomNumber"):
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key} is not an integer: {row!r}"
        if not 1 <= value <= workloads.WORLD_ROWS:
            return f"{key} is outside 1-{workloads.WORLD_ROWS}: {row!r}"
    return None


def _rows_error(rows: Any, count: int) -> str | None:
    if not isinstance(rows, list):
        return f"not a JSON list: {str(rows)[:120]}"
    if len(rows) != count:
        return f"{len(rows)} rows, want {count}"
    for row in rows:
        problem = _world_error(row)
        if problem:
            return problem
    return None


def _exact(path: str, content_type: str, body: bytes) -> Check:
    def check(target: Target) -> str | None:
        reply = target.request("GET", path)
        problem = _headers_error(reply, content_type)
        if problem:
            return problem
        return None if reply.body == body else f"body is {reply.body[:120]!r}, want {body!r}"

    return check


def _json_equal(path: str, want: Any) -> Check:
    def check(target: Target) -> str | None:
        data, problem = _json_reply(target, path)
        return problem or (None if data == want else f"answered {data!r}, want {want!r}")

    return check


def _check_db(target: Target) -> str | None:
    data, problem = _json_reply(target, "/db")
    return problem or _world_error(data)


def _rows(path: str, raw: str | None, count: int) -> tuple[str, Check]:
    sent = path if raw is None else f"{path}?queries={raw}"

    def check(target: Target) -> str | None:
        data, problem = _json_reply(target, sent)
        return problem or _rows_error(data, count)

    return f"GET {sent} -> {count} row{'s' if count > 1 else ''}", check


def standard_fortunes() -> list[tuple[int, str]]:
    """The Fortune table as apps/database.sql seeds it (id, message)."""
    sql = Path(workloads.__file__).with_name("database.sql").read_text(encoding="utf-8")
    values = sql.split("INSERT INTO Fortune", 1)[1]
    return [
        (int(id_), message.replace("''", "'"))
        for id_, message in re.findall(r"\((\d+), '((?:[^']|'')*)'\)", values)
    ]


class _Cells(html.parser.HTMLParser):
    """The text of each <td> of each <tr>, character references decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _fortunes(target: Target) -> tuple[list[tuple[str, str]], bytes, str | None]:
    reply = target.request("GET", "/fortunes")
    problem = _headers_error(reply, "text/html")
    if problem:
        return [], reply.body, problem
    if "utf-8" not in reply.headers.get("content-type", "").lower():
        return [], reply.body, f"no UTF-8 charset: {reply.headers.get('content-type')!r}"
    cells = _Cells()
    cells.feed(reply.body.decode("utf-8", "replace"))
    rows = [row for row in cells.rows if row]  # the header row has <th>s only
    if any(len(row) != 2 for row in rows):
        return [], reply.body, f"a row without its two cells: {rows!r}"
    return [(row[0], row[1]) for row in rows], reply.body, None


def _check_fortunes_all(target: Target) -> str | None:
    rows, _, problem = _fortunes(target)
    if problem:
        return problem
    want = sorted(
        [(str(id_), message) for id_, message in standard_fortunes()]
        + [("0", workloads.ADDITIONAL_FORTUNE)]
    )
    if sorted(rows) != want:
        missing = sorted(set(want) - set(rows))
        extra = sorted(set(rows) - set(want))
        return f"the table differs: missing {missing[:3]!r}, unexpected {extra[:3]!r}"
    return None


def _check_fortunes_sorted(target: Target) -> str | None:
    rows, _, problem = _fortunes(target)
    messages = [message for _, message in rows]
    if problem or messages == sorted(messages):
        return problem
    return f"not sorted by message: {messages[:4]!r}..."


def _check_fortunes_escaped(target: Target) -> str | None:
    rows, body, problem = _fortunes(target)
    if problem:
        return problem
    if b"<script>" in body:
        return "the <script> fortune was sent unescaped"
    if not any(message.startswith("<script>") for _, message in rows):
        return "the <script> fortune is missing (or was escaped twice)"
    return None


def _check_updates_persisted(target: Target) -> str | None:
    """Rows /updates changed, read back through /queries: they carry the new numbers."""
    updated, problem = _json_reply(target, f"/updates?queries={workloads.MAX_QUERIES}")
    problem = problem or _rows_error(updated, workloads.MAX_QUERIES)
    if problem:
        return f"/updates: {problem}"
    given = {row["id"]: row["randomNumber"] for row in updated}
    read: dict[int, int] = {}
    for _ in range(5):
        rows, problem = _json_reply(target, f"/queries?queries={workloads.MAX_QUERIES}")
        problem = problem or _rows_error(rows, workloads.MAX_QUERIES)
        if problem:
            return f"/queries: {problem}"
        read.update((row["id"], row["randomNumber"]) for row in rows if row["id"] in given)
        if len(read) >= READ_BACK_ROWS:
            break
    if len(read) < READ_BACK_ROWS:
        return f"only {len(read)} updated rows came back through /queries"
    kept = sum(given[id_] == number for id_, number in read.items())
    if kept * 2 <= len(read):
        return f"only {kept} of {len(read)} updated rows read back with their new number"
    return None


def _io(raw: str | None, ms: int) -> tuple[str, Check]:
    path = "/io" if raw is None else f"/io?ms={raw}"

    def check(target: Target) -> str | None:
        started = time.perf_counter()
        data, problem = _json_reply(target, path)
        took = time.perf_counter() - started
        if problem or data != workloads.io_payload(ms):
            return problem or f"answered {data!r}, want {workloads.io_payload(ms)!r}"
        if took < ms / 1000:
            return f"answered after {took * 1000:.1f} ms, before the {ms} ms wait"
        return None

    return f"GET {path} -> waits {ms} ms", check


def _type_checks() -> dict[str, dict[str, Check]]:
    measured = {
        name: {f"GET {request.path} as bench_client judges it": _answers(request)}
        for name, request in WORKLOADS.items()
    }
    hello = workloads.HELLO.encode()
    return {
        "json": {
            **measured["json"],
            "GET /json -> the message": _json_equal("/json", workloads.json_payload()),
        },
        "plaintext": {
            **measured["plaintext"],
            "GET /plaintext -> the text": _exact("/plaintext", "text/plain", hello),
        },
        "db": {**measured["db"], "GET /db -> a World row": _check_db},
        "queries": {
            **measured["queries"],
            **dict(_rows("/queries", raw, count) for raw, count in QUERY_COUNTS),
        },
        "fortunes": {
            **measured["fortunes"],
            "GET /fortunes -> the <script> fortune escaped": _check_fortunes_escaped,
            "GET /fortunes -> every fortune and the added one": _check_fortunes_all,
            "GET /fortunes -> sorted by message": _check_fortunes_sorted,
        },
        "updates": {
            **measured["updates"],
            **dict(_rows("/updates", raw, count) for raw, count in QUERY_COUNTS),
            "updates persisted (read back through /queries)": _check_updates_persisted,
        },
        "io": {
            **measured["io"],
            **dict(
                _io(raw, ms)
                for raw, ms in (
                    (str(IO_WAIT_MS), IO_WAIT_MS),
                    ("-5", 0),
                    ("foo", 0),
                    (None, 0),
                    ("5000", workloads.MAX_IO_MS),
                )
            ),
        },
    }


TYPE_CHECKS: dict[str, dict[str, Check]] = _type_checks()


def verify_test_types(
    base_url: str, test_types: Iterable[str] = TEST_TYPES
) -> dict[str, TypeResult]:
    """Verify a deployed stack's test types before they are timed, each by its own rules.

    For each type of ``test_types`` (names of TEST_TYPES: json, plaintext, db, queries,
    fortunes, updates, io) every check of TYPE_CHECKS[type] runs against ``base_url``, over
    HTTP only: the reply's shape and content type, its Server, Date and Content-Length, ids
    in 1-10,000, N rows for queries=0, 1, 20, 501, foo and none, the fortunes complete,
    sorted and escaped, the updates persisted (read back through /queries), the wait of /io
    and the clamping of every parameter.

    Returns {type: TypeResult}, in the order asked: ``ok`` says whether the type may be
    measured (its request: bench_client.request.WORKLOADS[type]); ``failed`` names the first
    check that failed, the last of ``results`` (the type's later checks do not run). A type's
    failure never stops the others: a stack without a database fails db, queries, fortunes
    and updates (503) and passes json, plaintext and io.
    ValueError for an unknown type or a bad URL.
    """
    wanted = list(test_types)
    unknown = [name for name in wanted if name not in TYPE_CHECKS]
    if unknown:
        raise ValueError(f"unknown test type(s) {', '.join(unknown)}: not in {TEST_TYPES}")
    target = Target(base_url, contract.MAX_BODY_BYTES)
    verified = {}
    for name in wanted:
        # A type stops at its first failed check: with its database down, each further
        # check would wait out the app's pool timeout only to fail the same way.
        results = _run_checks(target, TYPE_CHECKS[name], until_failure=True)
        failed = next((result.check for result in results if not result.ok), None)
        verified[name] = TypeResult(name, failed is None, failed, results)
    return verified


def _json_list(text: str) -> list[Any]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError(f"want a JSON list, not {text!r}")
    return value


def _test_types(text: str) -> list[str]:
    if text == "all":
        return list(TEST_TYPES)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TEST_TYPES]
    if unknown or not names:
        known = ",".join(TEST_TYPES)
        raise argparse.ArgumentTypeError(
            f"unknown test type(s) {', '.join(unknown) or text!r}: use all or {known}"
        )
    return names


def _print_test_types(
    base_url: str, test_types: list[str], as_json: bool, parser: argparse.ArgumentParser
) -> int:
    try:
        verified = verify_test_types(base_url, test_types)
    except ValueError as error:
        parser.error(str(error))
    if as_json:
        print(json.dumps({name: asdict(result) for name, result in verified.items()}))
    else:
        for name, verdict in verified.items():
            state = "ok  " if verdict.ok else f"FAIL at {verdict.failed!r}"
            print(f"{state} {name}")
            for result in verdict.results:
                print(f"    {'ok ' if result.ok else 'FAIL'} {result.check}: {result.detail}")
    return 0 if all(verdict.ok for verdict in verified.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.probe", description=__doc__)
    parser.add_argument("--base-url", help="http://HOST:PORT of the stack")
    parser.add_argument(
        "--target",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "BASE_URL", "SLOW_CLIENTS"),
        help="a stack to probe beside the others (repeat it); --slow-clients is then per target",
    )
    parser.add_argument(
        "--app",
        nargs=5,
        action="append",
        default=[],
        metavar=("NAME", "BASE_URL", "SLOW_CLIENTS", "HEALTH", "REQUESTS"),
        help="like --target, a stack of an app of yours: its health path and its requests",
    )
    parser.add_argument(
        "--declared",
        type=_json_list,
        default=[],
        help="requests an app's REQUESTS may name (httplab_requests), as a JSON list",
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
    parser.add_argument(
        "--test-types",
        type=_test_types,
        help="verify these test types of --base-url instead (comma-separated, or all): "
        + ",".join(TEST_TYPES),
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.test_types is not None:
        if not args.base_url or args.target or args.app:
            parser.error("--test-types verifies one stack: give --base-url alone")
        return _print_test_types(args.base_url, args.test_types, args.json, parser)
    several = bool(args.target or args.app)
    if several == bool(args.base_url):
        parser.error("give --base-url, or --target and --app")
    try:
        if several:
            targets: dict[str, Stack] = {
                name: (url, int(slow), None) for name, url, slow in args.target
            }
            for name, url, slow, health, requests in args.app:
                targets[name] = (url, int(slow), (health, _json_list(requests), args.declared))
            by_name = run_many(targets, args.max_body_bytes, args.slow_client_wait)
        else:
            by_name = {
                "": run(
                    args.base_url, args.max_body_bytes, args.slow_clients, args.slow_client_wait
                )
            }
    except (ValueError, RequestError) as error:
        parser.error(str(error))
    as_dicts = {name: [asdict(result) for result in results] for name, results in by_name.items()}
    if args.json:
        print(json.dumps(as_dicts if several else as_dicts[""]))
    else:
        for name, results in by_name.items():
            for result in results:
                where = f"{name}: " if name else ""
                print(f"{'ok ' if result.ok else 'FAIL'} {where}{result.check}: {result.detail}")
    return 0 if all(result.ok for results in by_name.values() for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
