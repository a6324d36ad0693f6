"""How much does bench_client itself cost, and how fast can it go?

    .venv/bin/python benchmarks/client_overhead.py [--requests 2000] [--wrk-seconds 5]

Prints, against one loopback server (bench_client's reference server, in its
own process):

1. per-request time of each mode beside a minimal raw-socket client doing the
   same thing (new connection per request for constant; one kept-alive
   connection otherwise; for the rate mode, requests due on the same schedule
   and timed from when they were due, as the rate mode times them);
   goal: keepalive and rate within 1.2x of the raw socket;
2. capacity (requests/s) of the concurrent and rate modes beside wrk
   (Debian package `wrk`); goal: at least half of wrk's.

A figure script, not a test: it prints what it measures and asserts nothing.
The machine is shared: each figure is the best of a few rounds.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_client import config, modes, refserver
from bench_client.timing import (
    Recorder,
    clock,
    measure_sleep_granularity,
    sleep_until,
)

ROUNDS = 2
RATE_FOR_LATENCY = 1000.0


# -- the raw-socket baseline: the least a Python client can do per request ------------


def _raw_request(host: str, port: int) -> bytes:
    return f"GET /get HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _read_response(sock: socket.socket) -> None:
    data = sock.recv(65536)
    head_end = data.find(b"\r\n\r\n")
    while head_end < 0:
        data += sock.recv(65536)
        head_end = data.find(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", data[:head_end], re.I).group(1))
    while len(data) < head_end + 4 + length:
        data += sock.recv(65536)


def raw_new_connection(url: str, count: int) -> list[float]:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    request = _raw_request(host, port)
    times = []
    for _ in range(count):
        start = clock()
        with socket.create_connection((host, port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            _read_response(sock)
        times.append(clock() - start)
    return times


def raw_kept_alive(url: str, count: int, rate: float | None = None) -> list[float]:
    """One connection, requests back to back; or, with `rate`, due every 1/rate seconds and
    timed from when each was due, exactly as the rate mode times them."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    request = _raw_request(host, port)
    times = []
    granularity = measure_sleep_granularity()
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = clock()
        for i in range(count):
            if rate:
                start = first + i / rate
                sleep_until(start, granularity)
            else:
                start = clock()
            sock.sendall(request)
            _read_response(sock)
            times.append(clock() - start)
    return times


# -- bench_client's modes, run exactly as the CLI runs them ----------------------------


def run_mode(
    url: str, mode: str, count: int, *, workers: int = 1, rate: float | None = None
) -> tuple[list[float], float, dict]:
    """Times of `count` requests, the wall time they took, and the runner's stats."""
    settings = config.build(
        base_url=url,
        method="GET",
        mode=mode,
        iterations=count,
        interval=None if mode == "rate" else 0.0,
        timeout=5.0,
        concurrency=workers if mode in ("concurrent", "rate") else None,
        rate=rate,
        warmup=min(200, count),
        path=None,
        payload=None,
        out="unused.csv",
        quiet=True,
        calibration="off",
    )
    runner = modes.make_runner(settings, measure_sleep_granularity())
    recorder = Recorder()
    try:
        modes.execute(runner, settings, recorder)
        wall = clock() - recorder.origin
        stats = runner.stats()
    finally:
        runner.close()
    return [s.elapsed for s in recorder.samples if s.elapsed is not None], wall, stats


# Like the embedded lab: the server on one CPU, the client (bench_client or wrk) on another,
# so that neither measures the other's CPU use.
SERVER_CPU, CLIENT_CPU = 0, 1
WRK_PREFIX: list[str] = []


def pin_client_and_server() -> str:
    """Pin this process and wrk to CLIENT_CPU, the reference server (our child) to SERVER_CPU."""
    me = psutil.Process()
    if psutil.cpu_count() < 2 or not hasattr(me, "cpu_affinity"):
        return "not pinned (needs 2 CPUs and CPU affinity)"
    me.cpu_affinity([CLIENT_CPU])
    for child in me.children():
        child.cpu_affinity([SERVER_CPU])
    if shutil.which("taskset"):
        WRK_PREFIX[:] = ["taskset", "-c", str(CLIENT_CPU)]
    return f"reference server on CPU {SERVER_CPU}, clients (bench_client, wrk) on CPU {CLIENT_CPU}"


def wrk_argv(url: str, threads: int, connections: int, seconds: int) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"{url}/get"]


def wrk_throughput(output: str) -> float | None:
    """The requests/s wrk printed, or None."""
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(found.group(1)) if found else None


def wrk(
    url: str, threads: int, connections: int, seconds: int, prefix: Sequence[str] = ()
) -> float | None:
    """wrk of this machine, run under ``prefix`` (or WRK_PREFIX); None without wrk."""
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(
        [*(prefix or WRK_PREFIX), *wrk_argv(url, threads, connections, seconds)],
        capture_output=True,
        text=True,
        check=False,
    )
    return wrk_throughput(done.stdout)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f}"


def per_request(url: str, count: int) -> None:
    rounds = ROUNDS + 1
    print(
        f"\n1. per-request time: median of {count} GET requests, lowest of {rounds} rounds "
        "(µs), mode and baseline alternating"
    )
    print(f"{'mode':<11} {'median':>8} | {'raw socket baseline':<30} {'median':>8} | ratio")
    rows = [
        (
            "constant",
            lambda: run_mode(url, "constant", count)[0],
            "new connection per request",
            lambda: raw_new_connection(url, count),
        ),
        (
            "keepalive",
            lambda: run_mode(url, "keepalive", count)[0],
            "one kept-alive connection",
            lambda: raw_kept_alive(url, count),
        ),
        (
            "concurrent",
            lambda: run_mode(url, "concurrent", count)[0],
            "one kept-alive (1 worker)",
            lambda: raw_kept_alive(url, count),
        ),
        (
            "rate",
            lambda: run_mode(url, "rate", count, workers=16, rate=RATE_FOR_LATENCY)[0],
            f"kept alive, {RATE_FOR_LATENCY:g}/s schedule",
            lambda: raw_kept_alive(url, count, rate=RATE_FOR_LATENCY),
        ),
    ]
    for mode, measure, baseline_name, baseline in rows:
        medians: dict[str, list[float]] = {"mode": [], "raw": []}
        for _ in range(rounds):
            medians["mode"].append(statistics.median(measure()))
            medians["raw"].append(statistics.median(baseline()))
        ours, raw = min(medians["mode"]), min(medians["raw"])
        print(
            f"{mode:<11} {_us(ours)} | {baseline_name:<30} {_us(raw)} | {ours / raw:.2f}x "
            f"({(ours - raw) * 1e6:+.1f} µs)"
        )


def capacity(url: str, count: int, wrk_seconds: int, targets: tuple[float, ...]) -> None:
    print(f"\n2. capacity (requests/s) against {url}, best of {ROUNDS} rounds")
    wrk_figures = {
        f"wrk -t{t} -c{c}": wrk(url, t, c, wrk_seconds) for t, c in ((1, 16), (2, 16), (2, 64))
    }
    if all(v is None for v in wrk_figures.values()):
        print("   wrk is not installed (apt-get install wrk): no reference figure")
    for name, value in wrk_figures.items():
        if value is not None:
            print(f"   {name:<36} {value:9.0f}")
    reference = max((v for v in wrk_figures.values() if v), default=None)

    def share(value: float) -> str:
        return f"  ({value / reference:.0%} of wrk's best)" if reference else ""

    for workers in (16, 64):
        best = max(
            len(t) / wall
            for t, wall, _ in (
                run_mode(url, "concurrent", count, workers=workers) for _ in range(ROUNDS)
            )
        )
        print(f"   concurrent, {workers} workers, --interval 0  {best:9.0f}{share(best)}")
    for target in targets:
        results = [run_mode(url, "rate", count, workers=64, rate=target) for _ in range(ROUNDS)]
        times, wall, stats = max(results, key=lambda r: len(r[0]) / r[1])
        achieved = len(times) / wall
        slip = sorted(stats["schedule_slip_s"])[int(len(times) * 0.99)]
        print(
            f"   rate, target {target:>7.0f}/s, 64 connections {achieved:9.0f}{share(achieved)}"
            f"  slip p99 {slip * 1e3:.2f} ms, median latency "
            f"{statistics.median(times) * 1e3:.2f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--capacity-requests", type=int, default=20000)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--stack-url", help="also measure capacity against this running stack")
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
    args = parser.parse_args()
    with refserver.running() as url:
        print(f"loopback server: bench_client.refserver at {url} (one asyncio process)")
        print("placement: " + ("not pinned" if args.no_pin else pin_client_and_server()))
        load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
        print(f"machine: {psutil.cpu_count()} CPUs, load average {load} (shared with other work)")
        per_request(url, args.requests)
        capacity(url, args.capacity_requests, args.wrk_seconds, (5e3, 1e4, 2e4, 4e4))
    if args.stack_url:
        capacity(args.stack_url, args.capacity_requests, args.wrk_seconds, (2e3, 4e3, 8e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
