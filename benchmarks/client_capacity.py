"""Aggregate capacity of bench_client with 1 and with 2 engine processes, beside wrk -t2.

    .venv/bin/python benchmarks/client_capacity.py [--requests 40000] [--wrk-seconds 5]

Against the reference server (bench_client.refserver, its own process, on
loopback), the concurrent mode with --concurrency 16 --interval 0 sends a fixed
number of requests with --processes 1 and --processes 2, run as a user runs it
(`python -m bench_client`); the figure is the meta file's throughput_rps
(correct responses per second over the common window). wrk -t2 -c16 runs for
--wrk-seconds beside it (Debian package `wrk`).

A figure script, not a test: it prints what it measures and asserts nothing.
Nothing is pinned: the client processes and the server share the host's CPUs,
so on a host with few cores the server's share shrinks as the client's grows.
The machine may be shared: each figure is the best of a few rounds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_client import refserver
from benchmarks.client_overhead import wrk

REPO = Path(__file__).resolve().parents[1]

ROUNDS = 2
CONCURRENCY = 16


def bench_client(url: str, processes: int, requests: int, out: Path) -> tuple[float, bool]:
    """Throughput (requests/s) and whether the client called itself the bottleneck."""
    command = [
        sys.executable,
        "-m",
        "bench_client",
        "--base-url",
        url,
        "--method",
        "GET",
        "--mode",
        "concurrent",
        "--concurrency",
        str(CONCURRENCY),
        "--interval",
        "0",
        "--iterations",
        str(requests),
        "--warmup",
        "500",
        "--processes",
        str(processes),
        "--calibration",
        "off",
        "--quiet",
        "--out",
        str(out),
    ]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    if meta["failures"]:
        raise RuntimeError(f"{meta['failures']} requests failed: {meta['errors']}")
    return meta["throughput_rps"], meta["client_limits"]["client_bottleneck"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"host: {psutil.cpu_count()} CPUs, shared by the server and the client; "
        f"concurrent mode, {CONCURRENCY} connections, {args.requests} requests, "
        f"best of {ROUNDS}"
    )
    with refserver.running() as url, tempfile.TemporaryDirectory() as scratch:
        figures: dict[str, float | None] = {}
        for processes in (1, 2):
            rounds = [
                bench_client(url, processes, args.requests, Path(scratch) / f"p{processes}.csv")
                for _ in range(ROUNDS)
            ]
            best, suspect = max(rounds)
            note = "  (the client called itself a possible limit)" if suspect else ""
            figures[f"bench_client --processes {processes}"] = best
            print(f"  bench_client --processes {processes}: {best:9.0f} requests/s{note}")
        found = [wrk(url, 2, CONCURRENCY, args.wrk_seconds) for _ in range(ROUNDS)]
        reference = max((value for value in found if value), default=None)
        if reference is None:
            print("  wrk is not installed (apt-get install wrk): no reference figure")
            return 0
        print(f"  wrk -t2 -c{CONCURRENCY} ({args.wrk_seconds} s):   {reference:9.0f} requests/s")
        for name, value in figures.items():
            print(f"  {name}: {value / reference:.0%} of wrk's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
