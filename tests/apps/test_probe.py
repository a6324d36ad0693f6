"""The probe's checks must be able to fail: servers that break the contract on
purpose (Nagle left on, a redirect, a non-JSON 404) are caught."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from apps import probe


class _Handler(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 that writes headers and body in two sends (like many servers)."""

    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, payload: dict[str, object], **headers: str) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/get/":
            self._answer(308, {}, Location="/get")
        else:
            self._answer(200, {"message": probe.contract.GET_MESSAGE, "timestamp": "t", "pid": 1})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(200, {"message": probe.contract.POST_MESSAGE})

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(nagle: bool) -> Iterator[probe.Target]:
    handler = type("Handler", (_Handler,), {"disable_nagle_algorithm": not nagle})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield probe.Target(f"http://127.0.0.1:{server.server_address[1]}", 1024)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def nagle_server() -> Iterator[probe.Target]:
    yield from _serve(nagle=True)


@pytest.fixture
def nodelay_server() -> Iterator[probe.Target]:
    yield from _serve(nagle=False)


def test_nagle_signature_is_flagged(nagle_server: probe.Target) -> None:
    problem = probe.CHECKS["keep-alive without Nagle delay"](nagle_server)
    assert problem is not None and "Nagle" in problem


def test_nodelay_server_passes_the_nagle_check(nodelay_server: probe.Target) -> None:
    assert probe.CHECKS["keep-alive without Nagle delay"](nodelay_server) is None


def test_a_busy_round_is_tried_again_before_nagle_is_called(
    nodelay_server: probe.Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU busy for a while slows every request of a round; a later round decides."""
    times = iter([0.045] * 5 + [0.044, 0.002, 0.050, 0.041, 0.047])
    monkeypatch.setattr(probe, "_kept_alive_seconds", lambda target: next(times))
    monkeypatch.setattr(probe, "NAGLE_PAUSE_S", 0.0)
    assert probe.CHECKS["keep-alive without Nagle delay"](nodelay_server) is None


def test_nagle_is_called_only_when_every_round_is_slow(
    nodelay_server: probe.Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(probe, "_kept_alive_seconds", lambda target: calls.append(1) or 0.041)
    monkeypatch.setattr(probe, "NAGLE_PAUSE_S", 0.0)
    problem = probe.CHECKS["keep-alive without Nagle delay"](nodelay_server)
    assert problem is not None and "41.0 ms" in problem
    assert len(calls) == 5 * probe.NAGLE_ROUNDS


def test_redirect_on_trailing_slash_is_flagged(nodelay_server: probe.Target) -> None:
    problem = probe.CHECKS["GET /get/"](nodelay_server)
    assert problem is not None and "308" in problem


def test_missing_date_header_is_flagged(nodelay_server: probe.Target) -> None:
    # http.server sends Date; a reply without one must be reported.
    reply = probe.Reply(200, {"content-type": "application/json", "content-length": "2"}, b"{}")
    assert probe._framing_error(reply) == "no Date header"


def test_wrong_status_is_flagged(nodelay_server: probe.Target) -> None:
    # This server accepts any POST: the malformed-JSON probe must fail.
    problem = probe.CHECKS["malformed JSON -> 400"](nodelay_server)
    assert problem is not None and "expected 400" in problem


def test_cli_rejects_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        probe.main(["--base-url", "ftp://example"])
    assert exit_info.value.code == 2
    assert "http://HOST:PORT" in capsys.readouterr().err


@pytest.mark.slow  # a check of the test server waits out probe.TIMEOUT_S
def test_cli_reports_failures_with_exit_code_1(
    nodelay_server: probe.Target, capsys: pytest.CaptureFixture[str]
) -> None:
    base_url = f"http://{nodelay_server.host}:{nodelay_server.port}"
    assert probe.main(["--base-url", base_url, "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert {result["check"] for result in results} == set(probe.CHECKS)
    assert any(not result["ok"] for result in results)


def test_a_server_held_by_a_stalled_client_is_flagged() -> None:
    """One thread, no timeout: a client that never finishes its head blocks everyone."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = probe.Target(
            f"http://127.0.0.1:{server.server_address[1]}", 1024, 1, slow_client_wait_s=1
        )
        problem = probe.CHECKS["answers while clients stall mid-head"](target)
    finally:
        server.shutdown()
        server.server_close()
    assert problem is not None and "stalled mid-head" in problem


@pytest.mark.slow  # a check of the test server waits out probe.TIMEOUT_S
def test_several_targets_are_probed_at_once_and_reported_by_name(
    nagle_server: probe.Target,
    nodelay_server: probe.Target,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--target: one JSON object, each stack's results under its name, its own failures."""
    argv = ["--json", "--max-body-bytes", "1024", "--slow-client-wait", "5"]
    for name, target in (("nagle", nagle_server), ("nodelay", nodelay_server)):
        argv += ["--target", name, f"http://{target.host}:{target.port}", "1"]
    assert probe.main(argv) == 1
    by_name = json.loads(capsys.readouterr().out)
    assert set(by_name) == {"nagle", "nodelay"}
    for results in by_name.values():
        assert [result["check"] for result in results] == list(probe.CHECKS)
    nagle = {result["check"]: result["ok"] for result in by_name["nagle"]}
    nodelay = {result["check"]: result["ok"] for result in by_name["nodelay"]}
    assert not nagle["keep-alive without Nagle delay"]
    assert nodelay["keep-alive without Nagle delay"]


def _crash(*args: object) -> list[probe.Result]:
    raise RuntimeError("boom")


def test_a_probe_that_crashes_fails_its_own_stack(
    nodelay_server: probe.Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe, "run", _crash)
    url = f"http://{nodelay_server.host}:{nodelay_server.port}"
    by_name = probe.run_many({"a": (url, 1, None)}, 1024, 5)
    assert by_name == {"a": [probe.Result("probe ran", False, "RuntimeError: boom")]}


def test_cli_rejects_a_bad_target_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        probe.main(["--target", "a", "http://127.0.0.1:1", "1", "--target", "b", "ftp://x", "1"])
    assert exit_info.value.code == 2
    assert "http://HOST:PORT" in capsys.readouterr().err
