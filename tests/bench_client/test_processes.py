"""--processes N: real engine processes against the real test servers, one merged run."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time

import psutil
import pytest

from bench_client import config, interrupts, limits, pool
from bench_client.results_format import ExitCode
from tests.bench_client.test_interrupt import ENV, _command, interrupt_when, posix_only
from tests.bench_client.test_method import settings

WORKER = re.compile(r"p([12])w(\d+)")


def _starts(result) -> list[float]:
    return [float(row["Start (s)"]) for row in result.rows]


def test_concurrent_counts_add_up_over_processes(server, bench):
    result = bench(server, mode="concurrent", processes=2, concurrency=5, iterations=41, interval=0)
    assert result.code == ExitCode.DONE
    assert [int(row["Iteration"]) for row in result.rows] == list(range(1, 42))
    # Numbered in order of start over both processes.
    assert _starts(result) == sorted(_starts(result))
    assert (result.meta["requests"], result.meta["successes"], result.meta["failures"]) == (
        41,
        41,
        0,
    )
    each = result.meta["processes"]
    assert [p["process"] for p in each] == [1, 2]
    assert [p["requests"] for p in each] == [21, 20]  # the iterations, split
    assert sum(p["successes"] for p in each) == 41
    assert server.count == 41 + 2  # plus each process's own first request
    workers = {WORKER.fullmatch(row["Worker"]).groups() for row in result.rows}
    # 5 workers split 3 + 2; every worker of both processes had some of 41 requests.
    assert workers == {("1", "0"), ("1", "1"), ("1", "2"), ("2", "0"), ("2", "1")}
    per_process = {n: sum(1 for r in result.rows if r["Worker"].startswith(f"p{n}")) for n in "12"}
    assert per_process == {"1": 21, "2": 20}


def test_rate_schedule_is_split_and_adds_up_to_the_one_asked(server, bench):
    result = bench(server, mode="rate", processes=2, rate=200, iterations=20, concurrency=4)
    assert result.code == ExitCode.DONE
    # Rate-mode times count from the schedule, so Start (s) is the schedule itself.
    assert _starts(result) == pytest.approx([i / 200 for i in range(20)], abs=1e-6)
    processes = [WORKER.fullmatch(row["Worker"]).group(1) for row in result.rows]
    assert processes == ["1", "2"] * 10  # every other request of the schedule
    each = result.meta["processes"]
    assert [p["client_limits"]["target_rate"] for p in each] == [100.0, 100.0]
    assert result.meta["config"]["rate"] == 200
    assert result.meta["requests"] == sum(p["requests"] for p in each) == 20


def test_plan_splits_the_rate_schedule_without_gaps_or_overlaps(server):
    run = settings(server, "rate", rate=300.0, iterations=10, processes=3, concurrency=None)
    parts = pool.plan(run)
    assert [p.config.iterations for p in parts] == [4, 3, 3]
    assert [p.config.concurrency for p in parts] == [6, 5, 5]  # the default 16, split
    due = sorted(
        part.phase + k / part.config.rate for part in parts for k in range(part.config.iterations)
    )
    assert due == pytest.approx([i / 300 for i in range(10)])


def test_default_is_the_cpu_count_but_no_more_than_workers_or_requests(server, monkeypatch):
    monkeypatch.setattr(config, "cpu_count", lambda: 8)
    assert settings(server, "concurrent", concurrency=3, iterations=100).processes == 3
    assert settings(server, "concurrent", concurrency=None, iterations=2).processes == 2
    assert settings(server, "rate", concurrency=None, iterations=100).processes == 8
    assert settings(server, "constant").processes == 1


@pytest.mark.parametrize("mode", ["constant", "keepalive"])
def test_sequential_modes_refuse_processes(server, bench, mode, capsys):
    result = bench(server, mode=mode, processes=2, iterations=3)
    assert result.code == ExitCode.USAGE
    assert f"--processes has no meaning in {mode} mode" in capsys.readouterr().err
    assert server.count == 0
    assert not result.out.exists()


def test_more_processes_than_workers_is_refused(server, bench, capsys):
    result = bench(server, mode="concurrent", processes=3, concurrency=2)
    assert result.code == ExitCode.USAGE
    assert "--processes 3 needs --concurrency of at least 3" in capsys.readouterr().err


def test_a_process_whose_first_request_fails_stops_the_run(server, bench, capsys):
    server.misbehave = "500"
    server.misbehave_on = lambda n: n == 1
    result = bench(server, mode="concurrent", processes=2, iterations=10)
    assert result.code == ExitCode.FIRST_REQUEST_FAILED
    assert "HTTP 500" in capsys.readouterr().err
    assert not result.out.exists()


def test_any_saturated_process_or_host_makes_the_client_suspect():
    calm = {"process_cpu_cores": 0.3, "reasons": []}
    busy = {"process_cpu_cores": 0.95, "reasons": ["client process used 95% of a core"]}
    verdict = limits.assess_processes({1: calm, 2: busy}, host_cpu_percent=50.0)
    assert verdict["client_bottleneck"] is True
    assert verdict["reasons"] == ["process 2: client process used 95% of a core"]
    assert verdict["process_cpu_cores"] == 1.25
    host = limits.assess_processes({1: calm, 3: calm}, host_cpu_percent=99.0)
    assert host["client_bottleneck"] is True
    assert host["reasons"] == ["client host CPUs were 99% busy"]
    assert (
        limits.assess_processes({1: calm, 2: calm}, host_cpu_percent=50.0)["client_bottleneck"]
        is False
    )


@posix_only
@pytest.mark.parametrize(
    ("mode", "group"), [("concurrent", False), ("rate", False), ("concurrent", True)]
)
def test_ctrl_c_with_two_processes_writes_both_parts(server, tmp_path, mode, group):
    """Whether the interrupt reaches the parent alone or every process of the group (a
    terminal, the guard; on Windows CTRL_BREAK_EVENT), the engines return their samples."""
    server.delay = 0.01
    out = tmp_path / "GET.csv"
    returncode, err = interrupt_when(
        server, 40, [*_command(server, out, mode, 20_000), "--processes", "2"], group=group
    )
    assert returncode == ExitCode.INTERRUPTED, err
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["interrupted"] is True
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert 10 <= len(rows) < 20_000
    assert meta["requests"] == len(rows) == sum(p["requests"] for p in meta["processes"])
    assert [int(row["Iteration"]) for row in rows] == list(range(1, len(rows) + 1))
    assert {row["Worker"][:2] for row in rows} == {"p1", "p2"}
    # What was cut off mid-flight is not in the file, and nothing is recorded as 0.
    assert all(row["Execution Time (seconds)"] != "0" for row in rows)


def test_engine_processes_ignore_every_interrupt_signal(monkeypatch):
    """The engines' handler covers SIGBREAK too: here a stand-in signal plays CTRL_BREAK_EVENT,
    which would otherwise end the process (Windows' default), as SIGUSR1's default does."""
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGUSR1)}
    try:
        interrupts.ignore_interrupts()
        assert interrupts.interrupt_signals() == [signal.SIGINT, signal.SIGUSR1]
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt either
        time.sleep(0.01)
        interrupts.raise_on_interrupt()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.01)
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@posix_only
def test_a_process_lost_mid_run_leaves_the_others_results(server, tmp_path):
    server.delay = 0.01
    out = tmp_path / "GET.csv"
    command = [*_command(server, out, "concurrent", 20_000), "--processes", "2"]
    process = subprocess.Popen(command, env=ENV, text=True, stderr=subprocess.PIPE)
    try:
        while server.count < 40 and process.poll() is None:
            time.sleep(0.05)
        engines = [
            child
            for child in psutil.Process(process.pid).children()
            if "spawn_main" in " ".join(child.cmdline())  # not multiprocessing's tracker
        ]
        engines[0].kill()
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.FAILED, err
    assert "was lost mid-run" in err
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["interrupted"] is True
    lost, kept = sorted(meta["processes"], key=lambda p: "lost" not in p)
    rows = out.read_text().splitlines()[1:]
    assert meta["requests"] == kept["requests"] == len(rows) > 0
    assert {row.rsplit(",", 1)[1][:2] for row in rows} == {f"p{kept['process']}"}
    assert lost["process"] != kept["process"]
