"""Every mode against a real loopback server: counts, times, failures, the files."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest

from bench_client.output import CSV_HEADER

# Each mode's own settings; 4 workers, not 16: the test servers run threads in
# this process, and a dozen of them waking at once queue for the GIL.
MODES: dict[str, dict[str, object]] = {
    "constant": {"interval": 0},
    "keepalive": {"interval": 0},
    "concurrent": {"interval": 0, "concurrency": 4},
    "rate": {"rate": 200},
}
DELAY = 0.05
# Generous: a shared 2-core machine under other people's load.
SLACK = 0.25


def _run(bench, server, mode: str, iterations: int = 12, **options):
    """One run in `mode` (back to back, except in rate mode); `options` override."""
    return bench(server, mode=mode, iterations=iterations, **{**MODES[mode], **options})


@pytest.mark.parametrize("mode", MODES)
def test_times_of_a_server_with_a_known_delay(server, bench, mode):
    server.delay = DELAY
    result = _run(bench, server, mode)
    assert result.code == 0
    assert len(result.rows) == 12
    assert [int(r["Iteration"]) for r in result.rows] == list(range(1, 13))
    assert all(r["Status"] == "200" and r["Error"] == "" for r in result.rows)
    # The server sleeps DELAY before answering: no time can be shorter, and the
    # client adds milliseconds at most (bounded generously for a busy machine).
    assert all(DELAY <= t <= DELAY + SLACK for t in result.times), str(result.times)
    # The typical error is far smaller: a delayed-ACK stall (~40 ms) would show here.
    assert statistics.median(result.times) - DELAY < 0.03, str(result.times)
    assert server.count == 1 + 12  # the verification request, then the measured ones
    meta = result.meta
    assert (meta["requests"], meta["successes"], meta["failures"]) == (12, 12, 0)
    assert DELAY <= meta["mean_s"] <= DELAY + SLACK
    assert meta["interrupted"] is False


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("drop", "connection closed before any response"),
        ("reset", "connection reset"),
        ("500", "HTTP 500"),
        ("slow", "timeout after 0.3 s"),
        ("broken_json", "body is not JSON"),
        ("wrong_json", "message is 'Hello'"),
    ],
)
def test_each_failure_is_counted_and_described_never_zero(server, bench, mode, kind, error):
    server.misbehave = kind
    server.misbehave_on = lambda n: n % 3 == 0  # request 1 (verification) is fine
    server.slow_seconds = 0.8
    result = _run(bench, server, mode, 9, timeout=0.3)
    assert result.code == 0  # failures are data
    assert len(result.rows) == 9
    failures = result.failures
    assert len(failures) == 3, result.rows
    for row in failures:
        assert row["Execution Time (seconds)"] == ""
        assert error in row["Error"], row
    assert all(t > 0 for t in result.times)
    assert all(r["Error"] == "" for r in result.rows if r["Execution Time (seconds)"])
    assert result.meta["failures"] == 3
    assert result.meta["successes"] == 6
    assert sum(result.meta["errors"].values()) == 3


@pytest.mark.parametrize("mode", MODES)
def test_post_echo_is_verified(server, bench, mode):
    server.misbehave = "wrong_echo"
    server.misbehave_on = lambda n: n == 4
    result = _run(bench, server, mode, 5, method="POST", out="POST.csv")
    assert result.code == 0
    assert [r["Error"] for r in result.failures] == [
        "received_data is {'key': 'other'}, want {'key': 'value'}"
    ]
    assert server.bodies[1] == b'{"key": "value"}'
    assert set(server.paths) == {"/post"}


@pytest.mark.parametrize("mode", MODES)
def test_reconnects_when_the_server_closes_every_connection(server, bench, mode):
    """Gunicorn's sync workers answer with Connection: close; keep-alive modes must cope."""
    server.close_every_response = True
    result = _run(bench, server, mode, 10)
    assert result.code == 0
    assert len(result.times) == 10
    assert server.connections == 11


@pytest.mark.parametrize("mode", ["keepalive", "concurrent", "rate"])
def test_keepalive_modes_reuse_connections(server, bench, mode):
    workers = {} if mode == "keepalive" else {"concurrency": 2}
    result = _run(bench, server, mode, 20, **workers)
    assert result.code == 0
    assert server.connections <= 2


def test_constant_mode_opens_a_connection_per_request(server, bench):
    result = _run(bench, server, "constant", 10)
    assert result.code == 0
    assert server.connections == 11


def test_csv_columns(server, bench):
    result = _run(bench, server, "concurrent", 8, concurrency=3)
    header = result.out.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(CSV_HEADER)
    assert "\r" not in result.out.read_text(encoding="utf-8")
    starts = [float(r["Start (s)"]) for r in result.rows]
    assert all(0 <= s < 10 for s in starts)
    assert {r["Worker"] for r in result.rows} <= {"0", "1", "2"}
    for row in result.rows:
        assert len(row) == len(CSV_HEADER)
        assert float(row["Execution Time (seconds)"]) > 0


def test_concurrent_workers_share_the_requests_in_parallel(server, bench):
    server.delay = 0.1
    result = _run(bench, server, "concurrent", 16, concurrency=4)
    assert result.code == 0
    assert len(result.rows) == 16
    assert {r["Worker"] for r in result.rows} == {"0", "1", "2", "3"}
    assert server.max_in_flight == 4
    # 16 requests of 0.1 s on 4 workers: ~0.4 s, far from the 1.6 s of one worker.
    assert result.meta["duration_s"] < 1.2


def test_concurrent_interval_is_each_workers_pause(server, bench):
    result = bench(server, mode="concurrent", concurrency=2, iterations=10, interval=0.05)
    assert result.code == 0
    assert 0.05 <= result.meta["achieved_interval_s"] <= 0.05 + SLACK
    assert server.max_in_flight <= 2


def test_rate_mode_keeps_its_schedule_and_reports_the_rate(server, bench):
    result = bench(server, mode="rate", rate=100, iterations=50)
    assert result.code == 0
    starts = [float(r["Start (s)"]) for r in result.rows]
    # Start (s) is the scheduled start: exactly (i-1)/rate after the first.
    assert all(abs((s - starts[0]) - i / 100) < 1e-3 for i, s in enumerate(starts))
    limits = result.meta["client_limits"]
    assert limits["target_rate"] == 100
    assert 80 <= limits["achieved_send_rate"] <= 120
    assert limits["schedule_slip_s"]["p50"] < 0.01


def test_rate_mode_counts_a_stall_in_every_request_it_delayed(server, bench):
    """No coordinated omission: requests due during a stall carry the wait in their time."""
    server.misbehave = "slow"
    server.misbehave_on = lambda n: n == 6
    server.slow_seconds = 0.5
    result = bench(server, mode="rate", rate=50, iterations=40, concurrency=1)
    assert result.code == 0
    assert len(result.times) == 40
    # One request stalls 0.5 s; the ~24 due within it (every 20 ms) wait behind it.
    delayed = [t for t in result.times if t > 0.1]
    assert len(delayed) >= 15, result.times
    assert result.meta["client_limits"]["waited_for_connection"] >= 15


def test_constant_mode_sleeps_the_interval_after_each_response(server, bench):
    result = bench(server, mode="constant", iterations=10, interval=0.03)
    assert 0.03 <= result.meta["achieved_interval_s"] <= 0.03 + SLACK
    starts = [float(r["Start (s)"]) for r in result.rows]
    assert starts[-1] >= 9 * 0.03


def test_a_run_where_every_measured_request_fails(server, bench):
    server.misbehave = "drop"
    server.misbehave_on = lambda n: n >= 2
    result = _run(bench, server, "keepalive", 5)
    assert result.code == 0
    assert len(result.failures) == 5
    assert result.meta["successes"] == 0
    assert result.meta["mean_s"] is None


@pytest.mark.skipif(sys.platform != "linux", reason="Linux's 40 ms delayed-ACK timer")
@pytest.mark.parametrize(
    ("mode", "workers"), [("keepalive", {}), ("concurrent", {"concurrency": 1})]
)
def test_a_server_with_nagle_on_shows_its_stall(server, bench, mode, workers):
    """The uvicorn Nagle trap (docs/traps.md): the client measures the ~40 ms stall."""
    server.nodelay = False
    result = _run(bench, server, mode, 10, **workers)
    assert result.code == 0
    assert statistics.median(result.times) > 0.03, result.times


@pytest.mark.parametrize(
    ("mode", "left_out"),
    [("constant", {"asyncio"}), ("concurrent", {"requests"})],
)
def test_a_measurement_imports_only_its_own_engine(server, tmp_path, mode, left_out):
    """Every measurement starts a new bench_client: the other engines' libraries (about 0.1 s
    each to import) must not be loaded, the calibration being reused from its file."""
    out = tmp_path / "GET.csv"
    args = [
        "--base-url", server.url, "--method", "GET", "--mode", mode, "--iterations", "3",
        "--warmup", "0", "--interval", "0", "--out", str(out), "--quiet",
        "--calibration-file", str(tmp_path / "calibration.json"),
    ]  # fmt: skip
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['bench_client', *{args!r}]\n"
        "try:\n    runpy.run_module('bench_client', run_name='__main__')\n"
        "except SystemExit as end:\n    assert end.code == 0, end.code\n"
        f"print(sorted(name for name in {sorted(left_out)!r} if name in sys.modules))\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr  # measured the calibration (its server: asyncio)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "[]"
    assert out.exists()
