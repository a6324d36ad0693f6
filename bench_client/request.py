"""A request to measure: what bench_client sends, and what reply counts as correct.

A cell of a run is a mode × stack × request × repetition. The paper's two requests are
built in (BUILTIN: ``GET`` and ``POST``, the lab's contract of docs/design.md), and so are
the field's standard workloads (WORKLOADS: TechEmpower's test types and an I/O wait, issue
25: ``json``, ``plaintext``, ``db``, ``queries``, ``fortunes``, ``updates``, ``io``); a run
may declare more (the inventory's ``httplab_requests``), each a JSON object::

    {"name": "orders", "method": "POST", "path": "/orders", "body": "{\\"id\\": 1}",
     "headers": {"Content-Type": "application/json"},
     "expect": {"status": 201, "json": {"ok": true}, "json_keys": ["id"], "contains": "id"}}

Every response is judged (:meth:`Request.check`), not only the first: a fast wrong answer
is a failure, never a time.

A request may carry its own concurrency (``"concurrency": 64``): it is then measured at that
many connections, and only in the modes that take a concurrency (concurrent, rate, sweep).
The database workloads are measured so at the field's levels (``db-c16``, ``db-c64``...:
:func:`leveled`, from the run's ``httplab_bench_db_concurrency``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bench_client.results_format import check_request_name
from bench_client.settings import MAX_CONNECTIONS, SETTINGS, check_names

GET_MESSAGE = "This is a GET request!"
POST_MESSAGE = "This is a POST request!"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers bench_client sets itself, per connection (docs/method.md).
_OWN_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class RequestError(ValueError):
    """A request declaration is wrong; the message says which field and why."""


class VerificationError(Exception):
    """The server answered, but not what the request expects."""


@dataclass(frozen=True)
class Expect:
    """What a correct reply has: the status, and optionally JSON keys and values or text.

    ``rows``: the reply is a JSON list of exactly this many objects, each of which has
    ``json`` and ``json_keys`` (the database workloads' /queries and /updates)."""

    status: int = 200
    json: Mapping[str, Any] | None = None  # the reply's JSON object has these keys, each equal
    json_keys: tuple[str, ...] = ()  # the reply's JSON object has these keys
    contains: str | None = None  # the body has this text
    rows: int | None = None  # the reply is a JSON list of this many such objects

    def check(self, status: int, body: bytes) -> None:
        """Raise VerificationError with a short reason unless the reply is as expected."""
        if status != self.status:
            raise VerificationError(f"HTTP {status}")
        if self.rows is not None:
            document = _json_list(body)
            if len(document) != self.rows:
                raise VerificationError(f"{len(document)} rows, want {self.rows}")
            for row in document:
                self._object(row, body)
        elif self.json is not None or self.json_keys:
            self._object(_json_object(body), body)
        if self.contains is not None and self.contains.encode() not in body:
            raise VerificationError(f"body lacks {self.contains!r}: {_preview(body)}")

    def _object(self, document: Any, body: bytes) -> None:
        if not isinstance(document, dict):
            raise VerificationError(f"JSON is not an object: {_preview(body)}")
        for key, want in (self.json or {}).items():
            if document.get(key) != want:
                raise VerificationError(f"{key} is {document.get(key)!r}, want {want!r}")
        missing = [key for key in self.json_keys if key not in document]
        if missing:
            raise VerificationError(f"JSON lacks {', '.join(missing)}: {_preview(body)}")


@dataclass(frozen=True)
class Request:
    """One request: its name (the cell's, and its files'), what is sent, what must come back."""

    name: str
    method: str = "GET"
    path: str = "/"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    expect: Expect = field(default_factory=Expect)
    concurrency: int | None = None  # its own connections, in the modes that take them

    @property
    def base(self) -> str:
        """The request it is a level of (``db`` for ``db-c64``), else its own name."""
        if self.concurrency is None:
            return self.name
        return self.name.removesuffix(level_suffix(self.concurrency))

    def applies_to(self, mode: str) -> bool:
        """Whether it means something in ``mode``: one with its own concurrency only in the
        modes that take one."""
        return self.concurrency is None or SETTINGS["concurrency"].applies_to(mode)

    @property
    def body_bytes(self) -> bytes | None:
        return None if self.body is None else self.body.encode()

    @property
    def all_headers(self) -> tuple[tuple[str, str], ...]:
        """Its headers, with a JSON Content-Type when it has a body and names none."""
        named = {name.lower() for name, _ in self.headers}
        if self.body is not None and "content-type" not in named:
            return (*self.headers, ("Content-Type", "application/json"))
        return self.headers

    def check(self, status: int, body: bytes) -> None:
        self.expect.check(status, body)

    def as_json(self) -> dict[str, Any]:
        expect: dict[str, Any] = {"status": self.expect.status}
        if self.expect.json is not None:
            expect["json"] = dict(self.expect.json)
        if self.expect.json_keys:
            expect["json_keys"] = list(self.expect.json_keys)
        if self.expect.contains is not None:
            expect["contains"] = self.expect.contains
        if self.expect.rows is not None:
            expect["rows"] = self.expect.rows
        declared: dict[str, Any] = {"name": self.name, "method": self.method, "path": self.path}
        if self.body is not None:
            declared["body"] = self.body
        if self.headers:
            declared["headers"] = dict(self.headers)
        if self.concurrency is not None:
            declared["concurrency"] = self.concurrency
        return {**declared, "expect": expect}

    @classmethod
    def from_json(cls, data: Any) -> Request:
        """A declaration as :meth:`as_json` writes it (a body may also be a JSON value,
        sent as JSON); RequestError names the field that is wrong."""
        if not isinstance(data, Mapping):
            raise RequestError(f"a request is a JSON object, not {data!r}")
        unknown = set(data) - {"name", "method", "path", "body", "headers", "expect", "concurrency"}
        if unknown:
            raise RequestError(f"unknown key(s) {', '.join(sorted(unknown))} in a request")
        name = _field(data, "name", str)
        try:
            check_request_name(name)
        except ValueError as error:
            raise RequestError(str(error)) from None
        method = _field(data, "method", str, "GET").upper()
        if method not in METHODS:
            raise RequestError(
                f"request {name}: method {method!r} is not one of {', '.join(METHODS)}"
            )
        path = _field(data, "path", str, "/")
        if not path.startswith("/") or any(c in path for c in " \r\n\t"):
            raise RequestError(
                f"request {name}: path {path!r} must start with '/' and have no spaces"
            )
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body)
        concurrency = data.get("concurrency")
        if concurrency is not None and not _whole(concurrency, 1, MAX_CONNECTIONS):
            raise RequestError(
                f"request {name}: concurrency must be a whole number of connections, "
                f"1-{MAX_CONNECTIONS}, not {concurrency!r}"
            )
        return cls(
            name,
            method,
            path,
            body,
            _headers(name, data.get("headers")),
            _expect(name, data.get("expect")),
            concurrency,
        )


def _field(data: Mapping[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = data.get(key, default)
    if not isinstance(value, kind):
        raise RequestError(f"request field {key!r} must be a {kind.__name__}, not {value!r}")
    return value


def _headers(name: str, given: Any) -> tuple[tuple[str, str], ...]:
    if given is None:
        return ()
    if not isinstance(given, Mapping):
        raise RequestError(f"request {name}: headers must be an object of name: value")
    headers = []
    for key, value in given.items():
        if (
            not _HEADER_NAME.match(str(key))
            or not isinstance(value, str)
            or "\r" in value
            or "\n" in value
        ):
            raise RequestError(f"request {name}: header {key!r}: {value!r} is not a valid header")
        if key.lower() in _OWN_HEADERS:
            raise RequestError(f"request {name}: bench_client sets {key} itself")
        headers.append((str(key), value))
    return tuple(headers)


def _expect(name: str, given: Any) -> Expect:
    if given is None:
        return Expect()
    if not isinstance(given, Mapping):
        raise RequestError(f"request {name}: expect must be an object")
    unknown = set(given) - {"status", "json", "json_keys", "contains", "rows"}
    if unknown:
        raise RequestError(f"request {name}: unknown key(s) {', '.join(sorted(unknown))} in expect")
    status = given.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise RequestError(f"request {name}: expect.status must be an HTTP status, not {status!r}")
    wanted = given.get("json")
    if wanted is not None and not isinstance(wanted, Mapping):
        raise RequestError(f"request {name}: expect.json must be an object of keys and values")
    keys = given.get("json_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise RequestError(f"request {name}: expect.json_keys must be a list of names")
    contains = given.get("contains")
    if contains is not None and not isinstance(contains, str):
        raise RequestError(f"request {name}: expect.contains must be text")
    rows = given.get("rows")
    if rows is not None and not _whole(rows, 0, None):
        raise RequestError(f"request {name}: expect.rows must be a whole number, not {rows!r}")
    return Expect(status, wanted, tuple(keys), contains, rows)


def _whole(value: Any, low: int, high: int | None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and low <= value
        and (high is None or value <= high)
    )


def _json_object(body: bytes) -> dict[str, Any]:
    return _json(body, dict, "an object")


def _json_list(body: bytes) -> list[Any]:
    return _json(body, list, "a list")


def _json(body: bytes, kind: type, what: str) -> Any:
    try:
        document = json.loads(body)
    except ValueError:
        raise VerificationError(f"body is not JSON: {_preview(body)}") from None
    if not isinstance(document, kind):
        raise VerificationError(f"JSON is not {what}: {_preview(body)}")
    return document


def _preview(body: bytes) -> str:
    text = body[:60].decode("utf-8", "replace")
    return repr(text + ("..." if len(body) > 60 else ""))


PAPER_PAYLOAD: dict[str, Any] = {"key": "value"}
PAPER: Mapping[str, Request] = {
    "GET": Request("GET", "GET", "/get", expect=Expect(json={"message": GET_MESSAGE})),
    "POST": Request(
        "POST",
        "POST",
        "/post",
        json.dumps(PAPER_PAYLOAD),
        expect=Expect(json={"message": POST_MESSAGE, "received_data": PAPER_PAYLOAD}),
    ),
}

# The standard workloads (issue 25; TechEmpower's test types and their rules, and an I/O
# wait). Each reply's shape is checked cheaply, after the clock stops: the JSON keys, the
# rows, a piece of text. The thorough rules (ids within 1-10,000, N clamped, the fortunes
# escaped and sorted, the updates persisted) are the verification's before timing
# (apps/probe.py), not every reply's.
HELLO = "Hello, World!"
ADDITIONAL_FORTUNE = "Additional fortune added at request time."
WORLD_KEYS = ("id", "randomNumber")
QUERIES = 20  # N of /queries and /updates as measured
IO_MS = 10  # the wait of /io as measured
WORKLOADS: Mapping[str, Request] = {
    "json": Request("json", path="/json", expect=Expect(json={"message": HELLO})),
    "plaintext": Request("plaintext", path="/plaintext", expect=Expect(contains=HELLO)),
    "db": Request("db", path="/db", expect=Expect(json_keys=WORLD_KEYS)),
    "queries": Request(
        "queries",
        path=f"/queries?queries={QUERIES}",
        expect=Expect(json_keys=WORLD_KEYS, rows=QUERIES),
    ),
    "fortunes": Request(
        "fortunes", path="/fortunes", expect=Expect(contains=f"<td>{ADDITIONAL_FORTUNE}</td>")
    ),
    "updates": Request(
        "updates",
        path=f"/updates?queries={QUERIES}",
        expect=Expect(json_keys=WORLD_KEYS, rows=QUERIES),
    ),
    "io": Request("io", path=f"/io?ms={IO_MS}", expect=Expect(json={"ms": IO_MS})),
}
# The workloads that read or write the database: measured at each of the run's levels, and
# the run provisions PostgreSQL when it measures one (orchestrator/workloads.py).
DATABASE_TYPES = ("db", "queries", "fortunes", "updates")
# A name that selects the seven workloads at once in httplab_bench_requests.
ALL_WORKLOADS = "workloads"
BUILTIN: Mapping[str, Request] = {**PAPER, **WORKLOADS}


def level_suffix(concurrency: int) -> str:
    return f"-c{concurrency}"


def leveled(levels: Iterable[int]) -> dict[str, Request]:
    """Each database workload at each level of connections, named ``db-c64``."""
    return {
        f"{name}{level_suffix(level)}": replace(
            WORKLOADS[name], name=f"{name}{level_suffix(level)}", concurrency=level
        )
        for name in DATABASE_TYPES
        for level in levels
    }


def expand(names: Iterable[str], levels: Iterable[int]) -> tuple[str, ...]:
    """A selection of requests as a run measures it: ``workloads`` is the seven workloads,
    and each database workload named comes with its levels (``db``, ``db-c16``, ...; in the
    modes without a concurrency ``db`` alone is measured, in the others its levels)."""
    levels = list(levels)
    found: list[str] = []
    for name in names:
        for one in WORKLOADS if name == ALL_WORKLOADS else (name,):
            found.append(one)
            if one in DATABASE_TYPES:
                found.extend(f"{one}{level_suffix(level)}" for level in levels)
    return tuple(dict.fromkeys(found))


def measured_in(requests: Mapping[str, Request]) -> Callable[[str, str], bool]:
    """Whether a run measures request ``name`` in ``mode``, as ``(mode, name)``.

    A request with its own concurrency (``db-c64``) only in the modes that take one; a
    database workload whose levels the run measures (``db`` beside ``db-c16``...) only in
    the others (constant, keepalive), where its levels mean nothing: at the run's one
    concurrency it would repeat a level. Every other request in every mode."""
    leveled_bases = {r.base for r in requests.values() if r.concurrency is not None}
    takes_concurrency = SETTINGS["concurrency"].applies_to

    def measured(mode: str, name: str) -> bool:
        request = requests.get(name)
        if request is None:  # not one of these: a plain request
            return True
        if request.concurrency is not None:
            return takes_concurrency(mode)
        return not (name in leveled_bases and takes_concurrency(mode))

    return measured


def needs_database(requests: Iterable[Request]) -> bool:
    """Whether measuring ``requests`` needs the database (a database workload, at any level)."""
    return any(request.base in DATABASE_TYPES for request in requests)


def check_selection(names: Iterable[str], known: Iterable[str]) -> None:
    """ValueError naming each of ``names`` that is neither a known request nor
    ``workloads``, with the closest name."""
    check_names(names, [*known, ALL_WORKLOADS])


def catalogue(declared: Any = None) -> dict[str, Request]:
    """The built-in requests and a run's own (``httplab_requests``: a list of declarations);
    a declared request may not reuse a built-in's name."""
    requests = dict(BUILTIN)
    for item in declared or []:
        request = Request.from_json(item)
        if request.name in requests:
            raise RequestError(
                f"request {request.name} is declared twice (or is a built-in's name)"
            )
        requests[request.name] = request
    return requests
