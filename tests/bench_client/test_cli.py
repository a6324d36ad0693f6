"""The command line: flags, one-line errors, exit codes, nothing sent on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench_client.cli import main

REPO = Path(__file__).resolve().parents[2]


def _base(server, *extra: str) -> list[str]:
    return ["--base-url", server.url, "--method", "GET", *extra]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "rate"], "--mode rate needs --rate"),
        (["--mode", "rate", "--rate", "10", "--interval", "0.1"], "--interval has no meaning"),
        (["--rate", "10"], "--rate has no meaning in constant mode"),
        (["--concurrency", "4"], "--concurrency has no meaning in constant mode"),
        (["--mode", "concurrent", "--concurrency", "0"], "--concurrency: must be at least 1"),
        (["--mode", "concurrent", "--concurrency", "5000"], "--concurrency: must be at most 256"),
        (["--iterations", "0"], "--iterations: must be at least 1"),
        (["--warmup", "-1"], "--warmup: must be at least 0"),
        (["--timeout", "0"], "--timeout: must be more than 0"),
        (["--interval", "-1"], "--interval: must be at least 0"),
        (["--payload", "{}"], "--payload only applies to --method POST"),
        (["--path", "get"], "--path must start with '/'"),
        (["--mode", "bogus"], "invalid choice: 'bogus'"),
        (["--iterations", "ten"], "want a whole number, not 'ten'"),
        (["--timeout", "soon"], "want a number, not 'soon'"),
        (["--request", '{"name": "x y"}'], "--request: request name 'x y'"),
        (["--request", '{"name": "x", "expect": {"status": 99}}'], "expect.status"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_send_nothing(
    server, tmp_path, capsys, args, message
):
    code = _exit_code(lambda: main([*_base(server, *args), "--out", str(tmp_path / "GET.csv")]))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert server.count == 0
    assert not (tmp_path / "GET.csv").exists()


def test_bad_payload_and_base_url(server, tmp_path, capsys):
    out = str(tmp_path / "POST.csv")
    assert (
        main(["--base-url", server.url, "--method", "POST", "--payload", "{oops", "--out", out])
        == 2
    )
    assert "--payload is not valid JSON" in capsys.readouterr().err
    assert main(["--base-url", "https://example.invalid", "--method", "GET", "--out", out]) == 2
    assert "only http:// URLs" in capsys.readouterr().err
    assert _exit_code(lambda: main(["--method", "GET", "--out", out])) == 2
    assert "--base-url" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make_out",
    [
        lambda tmp: tmp / "a-file" / "GET.csv",  # parent is a file
        lambda tmp: tmp / "GET.txt",  # not a .csv
        lambda tmp: tmp / "dir.csv",  # a directory
    ],
)
def test_unwritable_output_exits_2_before_any_request(server, tmp_path, capsys, make_out):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "dir.csv").mkdir()
    code = main([*_base(server), "--out", str(make_out(tmp_path))])
    assert code == 2
    assert capsys.readouterr().err.startswith("bench_client: error: ")
    assert server.count == 0


def test_missing_output_directories_are_created(server, bench, tmp_path):
    result = bench(server, iterations=2, out="results/run-1/constant/x/GET.csv")
    assert result.code == 0
    assert len(result.rows) == 2


def test_first_request_failing_verification_exits_3_and_writes_nothing(server, tmp_path, capsys):
    server.misbehave = "wrong_json"
    server.misbehave_on = lambda n: True
    out = tmp_path / "GET.csv"
    code = main([*_base(server), "--out", str(out), "--calibration", "off"])
    assert code == 3
    err = capsys.readouterr().err
    assert f"GET {server.url}/get" in err
    assert "message is 'Hello'" in err
    assert server.count == 1
    assert not out.exists()
    assert not out.with_suffix(".meta.json").exists()


@pytest.mark.parametrize("mode", ["constant", "keepalive", "concurrent"])
def test_connection_refused_at_the_first_request_exits_3(closed_port, tmp_path, capsys, mode):
    out = tmp_path / "GET.csv"
    code = main(
        [
            "--base-url",
            f"http://127.0.0.1:{closed_port}",
            "--method",
            "GET",
            "--mode",
            mode,
            "--out",
            str(out),
            "--calibration",
            "off",
        ]
    )
    assert code == 3
    assert "connection refused" in capsys.readouterr().err
    assert not out.exists()


def test_unresolvable_host_exits_3(tmp_path, capsys):
    code = main(
        [
            "--base-url",
            "http://no-such-host.invalid:5000",
            "--method",
            "GET",
            "--mode",
            "keepalive",
            "--out",
            str(tmp_path / "GET.csv"),
            "--calibration",
            "off",
        ]
    )
    assert code == 3
    assert "cannot resolve host" in capsys.readouterr().err


def test_warmup_requests_are_sent_but_not_recorded(server, bench):
    result = bench(server, mode="keepalive", iterations=5, warmup=7)
    assert result.code == 0
    assert len(result.rows) == 5
    assert server.count == 1 + 7 + 5
    assert result.meta["config"]["warmup"] == 7


def test_path_override_like_the_papers_trailing_slash(server, bench):
    result = bench(server, path="/get/", iterations=3)
    assert result.code == 0
    assert set(server.paths) == {"/get/"}
    assert result.meta["config"]["url"] == f"{server.url}/get/"


def test_base_url_with_a_path_prefix(server, bench):
    result = bench(base_url=f"{server.url}/api/", method="GET", iterations=2)
    assert result.code == 0
    assert set(server.paths) == {"/api/get"}


@pytest.mark.parametrize("mode", ["constant", "keepalive", "concurrent"])
def test_payload_is_sent_and_its_echo_checked(server, bench, mode):
    payload = {"numbers": [1, 2, 3], "text": "héllo"}
    result = bench(
        server, method="post", mode=mode, iterations=3, payload=json.dumps(payload), out="POST.csv"
    )
    assert result.code == 0
    assert len(result.times) == 3
    assert all(json.loads(body) == payload for body in server.bodies)
    assert json.loads(result.meta["config"]["request"]["body"]) == payload
    assert result.meta["config"]["request"]["expect"]["json"]["received_data"] == payload


def test_a_declared_request_is_sent_as_declared_and_its_reply_judged(server, bench):
    """--request carries a whole request: method, path, body, headers and what a reply needs."""
    declared = {
        "name": "orders",
        "method": "POST",
        "path": "/post/orders",
        "body": '{"id": 7}',
        "headers": {"X-Trace": "bench"},
        "expect": {"status": 200, "json_keys": ["received_data"], "contains": "POST request"},
    }
    good = bench(server, "--request", json.dumps(declared), iterations=3, out="orders.csv")
    assert good.code == 0 and len(good.times) == 3
    assert set(server.paths) == {"/post/orders"}
    assert all(json.loads(body) == {"id": 7} for body in server.bodies)
    assert good.meta["config"]["request"] == declared
    wrong = dict(declared, expect={"status": 200, "contains": "no such text"})
    refused = bench(server, "--request", json.dumps(wrong), iterations=3, out="wrong.csv")
    assert refused.code == 3  # the first answer is checked too: nothing is timed


def test_quiet_prints_nothing_and_loud_prints_a_summary(server, tmp_path, capsys):
    out = str(tmp_path / "GET.csv")
    assert (
        main([*_base(server, "--iterations", "3"), "--out", out, "--quiet", "--calibration", "off"])
        == 0
    )
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert main([*_base(server, "--iterations", "3"), "--out", out, "--calibration", "off"]) == 0
    captured = capsys.readouterr()
    assert "3 ok, 0 failed" in captured.out
    assert captured.err == ""  # not a TTY: no progress bar


@pytest.mark.parametrize("mode", ["constant", "rate"])
def test_quick_calibration_is_recorded(server, bench, mode):
    rate = ["--rate", "100"] if mode == "rate" else []
    result = bench(server, *rate, mode=mode, iterations=2, calibration="quick")
    overhead = result.meta["client_overhead"]
    assert overhead["source"] == "quick"
    assert overhead["mode"] == mode
    assert overhead["failures"] == 0
    assert 0 < overhead["median_s"] < 0.05
    # The calibration ran against the reference server, not the stack.
    assert server.count == 1 + 2


def test_calibration_off(server, bench):
    result = bench(server, iterations=2, calibration="off")
    assert result.meta["client_overhead"] is None


def test_calibrate_command_then_cached_calibration(server, bench, tmp_path, monkeypatch):
    # The cache lives under %LOCALAPPDATA% on Windows, $XDG_CACHE_HOME elsewhere.
    cache_env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "LOCALAPPDATA": str(tmp_path / "cache")}
    env = {**os.environ, **cache_env, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bench_client", "calibrate", "--requests", "20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for mode in ("constant", "keepalive", "concurrent", "rate"):
        assert mode in done.stdout
    cache = tmp_path / "cache" / "bench_client" / "calibration.json"
    assert str(cache) in done.stdout
    cached = json.loads(cache.read_text())["results"]
    assert set(cached) == {
        f"{m} {v}" for m in ("constant", "keepalive", "concurrent", "rate") for v in ("GET", "POST")
    }
    for name, value in cache_env.items():
        monkeypatch.setenv(name, value)
    result = bench(server, mode="keepalive", iterations=2, calibration="cached")
    overhead = result.meta["client_overhead"]
    assert overhead["source"].startswith("cached")
    assert overhead["median_s"] == cached["keepalive GET"]["median_s"]
    # The cache holds one connection at a time: a run at another concurrency measures its own.
    assert cached["concurrent GET"]["concurrency"] == 1
    result = bench(server, mode="concurrent", concurrency=3, iterations=2, calibration="cached")
    overhead = result.meta["client_overhead"]
    assert overhead["source"] == "quick (no matching cached calibration)"
    assert overhead["concurrency"] == 3


def test_cached_calibration_without_a_cache_measures_quickly(server, bench, tmp_path, monkeypatch):
    for name in ("XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.setenv(name, str(tmp_path / "empty"))
    result = bench(server, iterations=2, calibration="cached")
    assert result.meta["client_overhead"]["source"] == "quick (no matching cached calibration)"


def test_help_documents_modes_and_exit_codes(capsys):
    assert _exit_code(lambda: main(["--help"])) == 0
    text = capsys.readouterr().out
    for needle in (
        "constant",
        "keepalive",
        "concurrent",
        "rate",
        "Closed loop",
        "Open loop",
        "exit codes",
        "130",
        "examples:",
    ):
        assert needle in text


def _exit_code(call) -> int:
    try:
        return call()
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_a_write_failure_after_the_run_is_one_line_and_exit_2(server, tmp_path, capsys):
    """Something takes the output's place mid-run (on Windows: the CSV open in Excel)."""
    blocker = tmp_path / "GET.csv"

    def occupy_the_output(number: int) -> bool:
        if number == 3:
            blocker.mkdir()
            (blocker / "in-the-way").write_text("x")
        return False

    server.misbehave_on = occupy_the_output
    result = main(
        [
            "--base-url",
            server.url,
            "--method",
            "GET",
            "--iterations",
            "4",
            "--out",
            str(blocker),
            "--calibration",
            "off",
            "--quiet",
        ]
    )
    assert result == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench_client: error: could not write {blocker}")
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GET.csv"]  # no temp files left


@pytest.mark.parametrize("mode", ["constant", "keepalive", "concurrent", "rate"])
def test_proxy_settings_of_the_client_host_are_ignored(
    server, bench, closed_port, monkeypatch, mode
):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    rate = {"rate": 100.0} if mode == "rate" else {}
    result = bench(server, mode=mode, iterations=3, **rate)
    assert result.code == 0
    assert len(result.times) == 3


def test_calibrate_rejects_bad_arguments_in_one_line(capsys):
    assert main(["calibrate", "--requests", "0"]) == 2
    assert capsys.readouterr().err == "bench_client: error: --requests must be at least 1\n"
    assert _exit_code(lambda: main(["calibrate", "--request", "PUT"])) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'PUT'" in err
    assert len(err.strip().splitlines()) == 1
