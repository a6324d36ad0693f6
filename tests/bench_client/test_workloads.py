"""The standard workloads as bench_client measures them: each built-in request's expectation
against replies recorded from a real app and database (data/workload_replies.json), wrong
shapes and a stopped database's 503 as failures (never a time), and the requests that carry
their own concurrency."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench_client import config
from bench_client.request import (
    ALL_WORKLOADS,
    BUILTIN,
    DATABASE_TYPES,
    PAPER,
    WORKLOADS,
    Request,
    RequestError,
    VerificationError,
    check_selection,
    expand,
    leveled,
    needs_database,
)
from bench_client.settings import SETTINGS, SettingError, resolve

RECORDED = json.loads((Path(__file__).parent / "data" / "workload_replies.json").read_text())
REPLIES = RECORDED["replies"]
STOPPED = REPLIES["db, database stopped"]


def test_the_seven_workloads_are_built_in_beside_the_papers_requests() -> None:
    assert list(WORKLOADS) == ["json", "plaintext", "db", "queries", "fortunes", "updates", "io"]
    assert list(BUILTIN) == [*PAPER, *WORKLOADS]
    assert WORKLOADS["queries"].path == "/queries?queries=20"
    assert WORKLOADS["updates"].path == "/updates?queries=20"
    assert WORKLOADS["io"].path == "/io?ms=10"


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_each_workload_accepts_the_recorded_reply_of_a_real_app(name: str) -> None:
    reply = REPLIES[name]
    assert WORKLOADS[name].path == reply["path"]
    WORKLOADS[name].check(reply["status"], reply["body"].encode())


@pytest.mark.parametrize("name", DATABASE_TYPES)
def test_a_stopped_databases_503_is_a_failure(name: str) -> None:
    with pytest.raises(VerificationError, match="HTTP 503"):
        WORKLOADS[name].check(STOPPED["status"], STOPPED["body"].encode())


def _rows(name: str) -> list[dict]:
    return json.loads(REPLIES[name]["body"])


@pytest.mark.parametrize(
    ("name", "body", "why"),
    [
        ("json", {"message": "Hello, world"}, "message is"),
        ("plaintext", "Hello", "body lacks"),
        ("db", {"id": 1}, "JSON lacks randomNumber"),
        ("db", [{"id": 1, "randomNumber": 2}], "not an object"),
        ("queries", _rows("queries")[:19], "19 rows, want 20"),
        ("queries", {"id": 1, "randomNumber": 2}, "not a list"),
        ("updates", [*_rows("updates")[:19], {"id": 3}], "JSON lacks randomNumber"),
        ("updates", [*_rows("updates")[:19], 7], "not an object"),
        ("fortunes", REPLIES["fortunes"]["body"].replace("Additional", "Other"), "body lacks"),
        ("io", {"ms": 0}, "ms is 0, want 10"),
        ("queries", "<html>oops</html>", "not JSON"),
    ],
)
def test_a_reply_of_the_wrong_shape_is_a_failure(name: str, body: object, why: str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(VerificationError, match=why):
        WORKLOADS[name].check(200, text.encode())


def test_leveled_requests_carry_their_concurrency_and_round_trip() -> None:
    levels = leveled([16, 64])
    assert sorted(levels) == sorted(f"{n}-c{c}" for n in DATABASE_TYPES for c in (16, 64))
    db64 = levels["db-c64"]
    assert (db64.path, db64.concurrency, db64.base, db64.expect) == (
        "/db", 64, "db", WORKLOADS["db"].expect
    )  # fmt: skip
    assert Request.from_json(db64.as_json()) == db64
    queries = levels["queries-c16"]
    assert queries.as_json()["expect"]["rows"] == 20
    assert Request.from_json(queries.as_json()) == queries
    assert db64.applies_to("concurrent") and db64.applies_to("rate") and db64.applies_to("sweep")
    assert not db64.applies_to("constant") and not db64.applies_to("keepalive")
    assert WORKLOADS["db"].applies_to("constant") and WORKLOADS["db"].base == "db"


@pytest.mark.parametrize("bad", [0, 257, "64", True, 1.5])
def test_a_requests_concurrency_is_a_whole_number_the_client_can_hold(bad: object) -> None:
    with pytest.raises(RequestError, match="concurrency must be a whole number"):
        Request.from_json({"name": "x", "path": "/x", "concurrency": bad})


def test_workloads_selects_the_seven_and_each_database_workload_brings_its_levels() -> None:
    assert expand([ALL_WORKLOADS], []) == tuple(WORKLOADS)
    assert expand(["GET", "db", "io"], [16, 256]) == ("GET", "db", "db-c16", "db-c256", "io")
    every = expand([ALL_WORKLOADS, "json"], [16, 64, 256])
    assert len(every) == 7 + 4 * 3 and every.count("json") == 1
    assert expand(["GET", "POST"], [16]) == ("GET", "POST")


def test_an_unknown_request_name_is_refused_with_the_closest() -> None:
    check_selection(["workloads", "db-c64"], [*BUILTIN, *leveled([64])])
    with pytest.raises(ValueError, match="did you mean 'fortunes'"):
        check_selection(["fortune"], BUILTIN)
    with pytest.raises(ValueError, match="did you mean 'workloads'"):
        check_selection(["workload"], BUILTIN)


def test_only_the_database_workloads_need_the_database() -> None:
    assert not needs_database([*PAPER.values(), WORKLOADS["json"], WORKLOADS["io"]])
    assert needs_database([WORKLOADS["plaintext"], leveled([64])["fortunes-c64"]])
    for name in DATABASE_TYPES:
        assert needs_database([WORKLOADS[name]])


def test_the_levels_setting_is_a_list_of_connections_the_client_can_hold() -> None:
    assert SETTINGS["db_concurrency"].default == (16, 64, 256)
    assert resolve({"db_concurrency": "64,16"})["db_concurrency"] == (16, 64)
    assert resolve({"httplab_bench_db_concurrency": [256, 16, 16]})["db_concurrency"] == (16, 256)
    assert resolve({"db_concurrency": []})["db_concurrency"] == ()
    with pytest.raises(SettingError, match="db_concurrency: must be at most 256, not 512"):
        resolve({"db_concurrency": [16, 512]})
    with pytest.raises(SettingError, match="whole number"):
        resolve({"db_concurrency": "16,lots"})


def _build(mode: str, request: str, **settings: object) -> config.RunConfig:
    return config.build(
        base_url="http://127.0.0.1:1", out="x.csv", mode=mode, quiet=True, calibration="off",
        request=config.request_argument(request), **settings,
    )  # fmt: skip


def test_bench_client_measures_a_leveled_request_at_its_own_concurrency() -> None:
    db64 = json.dumps(leveled([64])["db-c64"].as_json())
    assert _build("concurrent", db64).concurrency == 64
    assert _build("rate", db64, rate=100).concurrency == 64
    with pytest.raises(config.ConfigError, match="give --concurrency 64 or none, not 16"):
        _build("concurrent", db64, concurrency=16)
    with pytest.raises(config.ConfigError, match="not constant"):
        _build("constant", db64)
    assert config.request_argument("fortunes") == WORKLOADS["fortunes"]


class _Recorded(BaseHTTPRequestHandler):
    """Answers each workload's path with its recorded reply; database paths with the
    recorded 503 once ``server.stop_after`` requests were answered."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        by_path = {reply["path"]: reply for reply in REPLIES.values() if reply is not STOPPED}
        reply = by_path[self.path]
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.answered += 1  # type: ignore[attr-defined]
            stopped = self.server.answered > self.server.stop_after  # type: ignore[attr-defined]
        if stopped and self.path.split("?")[0] != "/io":
            reply = STOPPED
        body = reply["body"].encode()
        self.send_response(reply["status"])
        self.send_header("Content-Type", reply["content_type"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorded() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    server.daemon_threads = True
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.answered = 0  # type: ignore[attr-defined]
    server.stop_after = 10**9  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("name", ["queries", "fortunes", "io"])
def test_bench_client_times_every_recorded_reply(recorded, bench, name: str) -> None:
    request = json.dumps(WORKLOADS[name].as_json())
    result = bench(
        None, "--request", request, base_url=_url(recorded), mode="concurrent",
        concurrency=4, processes=1, iterations=20, warmup=0, interval=0,
    )  # fmt: skip
    assert result.code == 0
    assert len(result.times) == 20 and all(time > 0 for time in result.times)
    assert result.meta["failures"] == 0


def test_a_database_stopped_mid_run_makes_failures_never_times(recorded, bench) -> None:
    recorded.stop_after = 11  # the checked first request and 10 timed ones, then a 503 each
    request = json.dumps(leveled([8])["db-c8"].as_json())
    result = bench(
        None, "--request", request, base_url=_url(recorded), mode="concurrent", processes=1,
        iterations=30, warmup=0, interval=0,
    )  # fmt: skip
    assert result.meta["config"]["concurrency"] == 8
    assert len(result.times) == 10 and all(time > 0 for time in result.times)
    assert len(result.failures) == 20
    assert {row["Status"] for row in result.failures} == {"503"}
    assert all(row["Error"] for row in result.failures)
    assert result.meta["failures"] == 20
