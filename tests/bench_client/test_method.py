"""The method's claims, checked on the client's own clock against a real loopback server.

The test server runs in this process, so the moments it records (a connection
accepted, a request read) and the client's samples share time.perf_counter:
an order of events can be asserted without any timing threshold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench_client import config, limits, modes
from bench_client.request import Request
from bench_client.timing import Check, Recorder, clock

# Each mode's own settings (4 workers: the test server's threads share this process's GIL).
MODE_OPTIONS: dict[str, dict[str, Any]] = {
    "constant": {"interval": 0.0},
    "keepalive": {"interval": 0.0},
    "concurrent": {"interval": 0.0, "concurrency": 4},
    "rate": {"rate": 200.0, "concurrency": 4},
}


def settings(server, mode: str, **overrides: Any) -> config.RunConfig:
    options: dict[str, Any] = {
        "base_url": server.url,
        "method": "GET",
        "mode": mode,
        "iterations": 8,
        "interval": None,
        "timeout": 5.0,
        "concurrency": None,
        "rate": None,
        "warmup": 0,
        "path": None,
        "payload": None,
        "out": "GET.csv",
        "quiet": True,
        "calibration": "off",
    }
    return config.build(**{**options, **MODE_OPTIONS[mode], **overrides})


@dataclass(frozen=True)
class RecordingCheck:
    """The request's real check, noting on the client's clock when each response was judged."""

    request: Request
    calls: list[float] = field(default_factory=list)

    def __call__(self, status: int, body: bytes) -> None:
        self.calls.append(clock())
        self.request.check(status, body)


def measured(run: config.RunConfig, check: Check | None = None) -> Recorder:
    runner = modes.make_runner(run, 0.0, check=check)
    recorder = Recorder()
    try:
        modes.execute(runner, run, recorder)
    finally:
        runner.close()
    return recorder


def test_constant_mode_connects_inside_the_clock(server):
    """The paper's mode times a new TCP connection per request: the connect is in the time."""
    recorder = measured(settings(server, "constant"))
    samples = recorder.samples
    assert len(samples) == 8 and all(s.elapsed is not None for s in samples)
    # Connection 0 is the verification request's; connection i is sample i's.
    assert len(server.accepted) == 1 + len(samples)
    for sample, accepted in zip(samples, server.accepted[1:], strict=True):
        assert sample.start < accepted < sample.end, (sample, accepted)


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_verification_stays_outside_the_clock(server, mode):
    run = settings(server, mode)
    check = RecordingCheck(run.request)
    samples = measured(run, check).samples
    assert len(samples) == 8 and all(s.elapsed is not None for s in samples)
    # Samples are recorded as they are judged: the last 8 checks are theirs, in order.
    judged = check.calls[-len(samples) :]
    for sample, moment in zip(samples, judged, strict=True):
        assert sample.end <= moment, (sample, moment)
        assert sample.elapsed == sample.end - sample.start


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_warmup_is_excluded_in_every_mode(server, mode):
    warmup, iterations = 6, 8
    samples = measured(settings(server, mode, warmup=warmup, iterations=iterations)).samples
    assert server.count == 1 + warmup + iterations  # verification, warm-up, measured
    assert len(samples) == iterations
    assert sorted(s.iteration for s in samples) == list(range(1, iterations + 1))
    # Request number 1 + warmup (0-based index warmup) is the last warm-up one:
    # every measured request started after the server had read it.
    last_warmup = server.arrived[warmup]
    assert all(s.start > last_warmup for s in samples), (last_warmup, samples)


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_client_cpu_is_read_over_the_timed_requests_only(server, mode):
    """The CPU reading (client_limits) must not include the probe and the warm-up."""
    warmup = 10
    run = settings(server, mode, warmup=warmup)
    runner = modes.make_runner(run, 0.0)
    watch = limits.CpuWatch()
    recorder = Recorder()
    try:
        modes.execute(runner, run, recorder, on_timing=watch.start)
    finally:
        runner.close()
    assert watch.started > server.arrived[warmup]  # after the last warm-up request
    assert watch.started <= min(s.start for s in recorder.samples)


@pytest.mark.parametrize("mode", ["keepalive", "concurrent", "rate"])
def test_a_connection_the_server_closed_while_idle_is_not_a_failure(server, mode):
    """A kept-alive connection closed by the server's idle timeout is replaced before the
    clock starts, not counted as the server dropping the next request."""
    server.idle_timeout = 0.05
    run = settings(server, mode, concurrency=1) if mode != "keepalive" else settings(server, mode)
    runner = modes.make_runner(run, 0.0)
    try:
        runner.run(1, Recorder())  # opens the connection
        time.sleep(0.3)  # idle: the server closes it; nothing reads the socket meanwhile
        recorder = Recorder()
        recorder.begin()
        runner.run(3, recorder)
    finally:
        runner.close()
    assert [s.error for s in recorder.samples] == ["", "", ""]
    assert server.connections == 2


def test_throughput_counts_successful_responses_only(server, bench):
    server.misbehave = "500"
    server.misbehave_on = lambda n: n % 2 == 0  # request 1 (verification) is fine
    result = bench(server, mode="keepalive", iterations=10, interval=0)
    assert result.code == 0
    meta = result.meta
    assert (meta["successes"], meta["failures"]) == (5, 5)
    assert meta["throughput_rps"] == pytest.approx(meta["successes"] / meta["duration_s"], rel=1e-3)


def test_quick_calibration_runs_at_the_runs_concurrency(server, bench):
    result = bench(server, mode="concurrent", iterations=6, concurrency=3, calibration="quick")
    assert result.code == 0
    overhead = result.meta["client_overhead"]
    assert "error" not in overhead, overhead
    assert overhead["concurrency"] == 3
    assert overhead["failures"] == 0


def test_a_calibration_file_is_measured_once_and_reused_only_with_the_same_settings(
    server, bench, tmp_path
):
    saved = tmp_path / "calibration" / "concurrent.GET.json"
    run = {"mode": "concurrent", "iterations": 6, "calibration": "quick"}
    first = bench(server, out="a.csv", concurrency=3, calibration_file=saved, **run)
    assert first.code == 0
    assert first.meta["client_overhead"]["source"] == "quick"  # measured, then saved
    assert json.loads(saved.read_text())["result"] == {
        key: value for key, value in first.meta["client_overhead"].items() if key != "source"
    }

    again = bench(server, out="b.csv", concurrency=3, calibration_file=saved, **run)
    assert again.code == 0
    reused = again.meta["client_overhead"]
    assert reused["source"].startswith(f"quick, reused from {saved}")
    assert reused["measured_at"] == first.meta["client_overhead"]["measured_at"]
    assert reused["mean_s"] == first.meta["client_overhead"]["mean_s"]

    # Another concurrency is another calibration: measured anew, and saved in its place.
    other = bench(server, out="c.csv", concurrency=2, calibration_file=saved, **run)
    assert other.code == 0
    assert other.meta["client_overhead"]["source"] == "quick"
    assert other.meta["client_overhead"]["concurrency"] == 2
    assert json.loads(saved.read_text())["settings"]["concurrency"] == 2


def test_a_calibration_file_needs_a_quick_calibration(server, bench, tmp_path, capsys):
    saved = tmp_path / "calibration.json"
    result = bench(server, calibration="off", calibration_file=saved, iterations=2)
    assert result.code == 2
    assert "--calibration-file goes with --calibration quick, not off" in capsys.readouterr().err
    assert not saved.exists()
