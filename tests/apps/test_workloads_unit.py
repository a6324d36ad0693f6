"""The test types' shared rules (apps/workloads.py), and the probe's per-type verification
(apps/probe.py) failing where a stack breaks a rule: a reference server in the standard
library, each fault switched on alone, must fail exactly its type, at the check that names
it, while the other types pass."""

from __future__ import annotations

import html
import http.server
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from apps import probe, workloads
from tests.apps.conftest import REPO
from tests.remote.contract_server import serving


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        *((None, 1), ("", 1), ("0", 1), ("1", 1), ("20", 20), ("500", 500), ("501", 500)),
        *(("foo", 1), ("-3", 1), ("2.5", 1), (" 7 ", 7)),
    ],
)
def test_queries_are_clamped_to_1_500(raw: str | None, count: int) -> None:
    assert workloads.queries(raw) == count


@pytest.mark.parametrize(
    ("raw", "ms"),
    [(None, 0), ("foo", 0), ("-5", 0), ("0", 0), ("50", 50), ("1000", 1000), ("5000", 1000)],
)
def test_io_waits_are_clamped_to_0_1000_ms(raw: str | None, ms: int) -> None:
    assert workloads.io_ms(raw) == ms


def test_the_added_fortune_is_sorted_in_with_the_others() -> None:
    fortunes = workloads.with_added_fortune([(2, "b"), (1, "Z"), (3, "<a>")])
    assert fortunes == [(3, "<a>"), (0, workloads.ADDITIONAL_FORTUNE), (1, "Z"), (2, "b")]
    assert fortunes[1].message == workloads.ADDITIONAL_FORTUNE


def test_updates_take_distinct_rows_in_id_order() -> None:
    ids = workloads.update_ids(500)
    assert ids == sorted(set(ids)) and len(ids) == 500
    assert all(1 <= id_ <= workloads.WORLD_ROWS for id_ in ids)


def test_the_database_is_configured_by_libpq_variables_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in workloads.LIBPQ_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not workloads.database_configured()
    with pytest.raises(workloads.DatabaseUnavailable) as refused:
        workloads.Database().pool()
    assert (refused.value.status, refused.value.message) == (503, workloads.NOT_CONFIGURED)
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    assert workloads.database_configured()


def test_a_bad_pool_size_stops_the_app() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import apps.workloads"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HTTPLAB_DB_POOL_SIZE": "lots"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "HTTPLAB_DB_POOL_SIZE must be a positive integer" in result.stderr


def test_the_standard_fortunes_are_read_from_the_seed() -> None:
    fortunes = dict(probe.standard_fortunes())
    assert len(fortunes) == 12
    assert fortunes[2] == "A computer scientist is someone who fixes things that aren't broken."
    assert fortunes[11].startswith("<script>alert(")


class _Reference(http.server.BaseHTTPRequestHandler):
    """The test types as the rules want them, in memory; `faults` breaks one rule each."""

    protocol_version = "HTTP/1.1"
    faults: frozenset[str] = frozenset()
    world: dict[int, int] = {}  # noqa: RUF012 - set per server

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if "no-length" not in self.faults:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: object) -> None:
        self._send(200, "application/json", json.dumps(data).encode())

    def _rows(self, count: int) -> list[dict[str, int]]:
        ids = [random.randint(1, workloads.WORLD_ROWS) for _ in range(count)]
        return [{"id": id_, "randomNumber": self.world[id_]} for id_ in ids]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        count = workloads.queries(query.get("queries"))
        raw = query.get("queries", "")
        if "no-clamp" in self.faults and url.path == "/queries" and raw.isdigit():
            count = max(int(raw), 1)
        if url.path == "/json":
            self._json(workloads.json_payload())
        elif url.path == "/plaintext":
            self._send(200, "text/plain", workloads.HELLO.encode())
        elif url.path == "/db":
            if "db-500" in self.faults:
                self._send(500, "application/json", b'{"error": "boom"}')
            else:
                self._json(self._rows(1)[0])
        elif url.path == "/queries":
            self._json(self._rows(count))
        elif url.path == "/fortunes":
            self._fortunes()
        elif url.path == "/updates":
            rows = [
                {"id": id_, "randomNumber": random.randint(1, workloads.WORLD_ROWS)}
                for id_ in workloads.update_ids(count)
            ]
            if "lost-updates" not in self.faults:
                self.world.update((row["id"], row["randomNumber"]) for row in rows)
            self._json(rows)
        elif url.path == "/io":
            ms = workloads.io_ms(query.get("ms"))
            if "io-no-wait" not in self.faults:
                time.sleep(ms / 1000)
            self._json(workloads.io_payload(ms))
        else:
            self._send(404, "application/json", b"{}")

    def _fortunes(self) -> None:
        fortunes = workloads.with_added_fortune(probe.standard_fortunes())
        if "unsorted" in self.faults:
            fortunes.reverse()
        escape = (lambda text: text) if "unescaped" in self.faults else html.escape
        cells = "".join(
            f"<tr><td>{id_}</td><td>{escape(message)}</td></tr>" for id_, message in fortunes
        )
        head = "<!DOCTYPE html><html><body><table><tr><th>id</th><th>message</th></tr>"
        page = f"{head}{cells}</table></body></html>"
        self._send(200, "text/html; charset=utf-8", page.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(faults: frozenset[str]) -> Iterator[str]:
    world = {id_: random.randint(1, workloads.WORLD_ROWS) for id_ in range(1, 10_001)}
    handler = type("Handler", (_Reference,), {"faults": faults, "world": world})
    with serving(handler) as url:
        yield url


@pytest.fixture
def reference() -> Iterator[str]:
    yield from _serve(frozenset())


def test_the_reference_passes_every_type(reference: str) -> None:
    verified = probe.verify_test_types(reference)
    assert list(verified) == list(probe.TEST_TYPES)
    assert {name: verdict.failed for name, verdict in verified.items()} == dict.fromkeys(
        probe.TEST_TYPES
    )


@pytest.mark.parametrize(
    ("fault", "test_type", "check"),
    [
        ("unescaped", "fortunes", "GET /fortunes -> the <script> fortune escaped"),
        ("unsorted", "fortunes", "GET /fortunes -> sorted by message"),
        ("no-clamp", "queries", "GET /queries?queries=501 -> 500 rows"),
        ("lost-updates", "updates", "updates persisted (read back through /queries)"),
        ("io-no-wait", "io", "GET /io?ms=50 -> waits 50 ms"),
        ("db-500", "db", "GET /db as bench_client judges it"),
    ],
)
def test_a_broken_rule_fails_its_type_at_its_check(fault: str, test_type: str, check: str) -> None:
    for base_url in _serve(frozenset({fault})):
        verified = probe.verify_test_types(base_url)
        failed = {name: verdict.failed for name, verdict in verified.items() if not verdict.ok}
        assert failed == {test_type: check}
        assert verified[test_type].results[-1].check == check, "later checks do not run"


def test_a_missing_content_length_fails_every_type() -> None:
    for base_url in _serve(frozenset({"no-length"})):
        verified = probe.verify_test_types(base_url, ["json", "plaintext"])
        for verdict in verified.values():
            details = [result.detail for result in verdict.results if not result.ok]
            assert not verdict.ok and any("Content-Length" in detail for detail in details)


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown test type"):
        probe.verify_test_types("http://127.0.0.1:1", ["graphql"])


def test_the_cli_verifies_the_types_asked_for(
    reference: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert probe.main(["--base-url", reference, "--test-types", "json,io", "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert list(verified) == ["json", "io"]
    assert all(verdict["ok"] and verdict["failed"] is None for verdict in verified.values())


def test_the_cli_refuses_test_types_of_several_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        probe.main(["--target", "a", "http://127.0.0.1:1", "1", "--test-types", "all"])
    assert exit_info.value.code == 2
    assert "--base-url alone" in capsys.readouterr().err
