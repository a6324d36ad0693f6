"""Aggregate capacity of bench_client with 1 and with 2 engine processes, beside wrk -t2.

    .venv/bin/python benchmarks/client_capacity.py [--requests 40000] [--wrk-seconds 5]
    .venv/bin/python benchmarks/client_capacity.py --inventory inventory/NAME.yml \
        [--stack flask-gunicorn-gevent] [--requests 20000] [--wrk-seconds 5]

Without --inventory, against the reference server (bench_client.refserver, its
own process, on loopback): the concurrent mode with --concurrency 16 --interval 0
sends a fixed number of requests with --processes 1 and --processes 2, run as a
user runs it (`python -m bench_client`); the figure is the meta file's
throughput_rps (correct responses per second over the common window). wrk -t2
-c16 runs for --wrk-seconds beside it (Debian package `wrk`).

With --inventory, in a running lab whose server has --stack deployed (`make run`
or `playbooks/provision.yml` did it), started alone first (playbooks/stacks_state.yml,
as a run does): bench_client on the inventory's (first)
client host, deployed there as a run deploys it and driven over SSH as a run
drives it, in the same concurrent mode with --processes 1 and 2 against the
stack's URL as the client sees it; and wrk -t2 -c16 from the client: over SSH
when the client host has wrk, else, for the embedded lab (inventory/<lab>.yml),
this machine's wrk inside the client container's network namespace, on the
client's CPUs (nsenter + taskset; needs root, as the lab does).

A figure script, not a test: it prints what it measures and asserts nothing.
On loopback nothing is pinned: the client processes and the server share the
host's CPUs, so on a host with few cores the server's share shrinks as the
client's grows. The machine may be shared: each figure is the best of a few
rounds, and the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_client import refserver
from bench_client.results_format import Measurement
from benchmarks.client_overhead import wrk, wrk_argv, wrk_throughput
from lab import api
from orchestrator.remote.inventory import read_client, read_server
from orchestrator.remote.measure import MeasurementSpec, measure
from orchestrator.remote.session import RemoteSession, open_session

REPO = Path(__file__).resolve().parents[1]

ROUNDS = 2
CONCURRENCY = 16
PROCESSES = (1, 2)
WARMUP = 500


def client_flags(processes: int, requests: int, calibration: str = "off") -> list[str]:
    """bench_client's concurrent mode as this benchmark runs it, here and in the lab."""
    return [
        "--concurrency", str(CONCURRENCY), "--interval", "0", "--iterations", str(requests),
        "--warmup", str(WARMUP), "--processes", str(processes), "--calibration", calibration,
    ]  # fmt: skip


def figures_of(meta_path: Path) -> tuple[float, bool]:
    """Throughput (requests/s) and whether the client called itself the bottleneck."""
    meta = json.loads(meta_path.read_text())
    if meta["failures"]:
        raise RuntimeError(f"{meta['failures']} requests failed: {meta['errors']}")
    return meta["throughput_rps"], meta["client_limits"]["client_bottleneck"]


def bench_client(url: str, processes: int, requests: int, out: Path) -> tuple[float, bool]:
    """bench_client on this machine, as a user runs it."""
    command = [
        sys.executable, "-m", "bench_client", "--base-url", url, "--method", "GET",
        "--mode", "concurrent", *client_flags(processes, requests), "--quiet", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return figures_of(out.with_suffix(".meta.json"))


def lab_bench_client(
    session: RemoteSession, url: str, stack: str, processes: int, requests: int, out_dir: Path
) -> tuple[float, bool]:
    """bench_client on the lab's client host, driven and fetched as a run does it."""
    spec = MeasurementSpec(
        Measurement("concurrent", stack, "GET"),
        url=url,
        out_dir=out_dir,
        # A run's measurement calibrates once per run and reuses it (--calibration-file);
        # either way the calibration is outside the timed requests.
        client_args=tuple(client_flags(processes, requests, calibration="quick")),
    )
    fetched = measure(session, spec)
    return figures_of(out_dir / fetched.measurement.meta)


def stack_url(inventory: str, stack: str) -> str:
    """The stack's base URL as the client sees it (as playbooks/vars/run.yml builds it)."""
    server = read_server(inventory)
    ports = {entry["name"]: entry["port"] for entry in server.hostvars["httplab_stacks"]}
    if stack not in ports:
        raise SystemExit(f"unknown stack {stack!r}: one of {', '.join(ports)}")
    return f"http://{server.hostvars.get('httplab_server_address', server.address)}:{ports[stack]}"


def lab_wrk(
    session: RemoteSession, inventory: str, url: str, seconds: int
) -> tuple[float | None, str]:
    """wrk -t2 from the client: (requests/s or None, where it ran or why it did not)."""
    argv = wrk_argv(url, 2, CONCURRENCY, seconds)
    done = session.run(argv, what="wrk", timeout=seconds + 30)
    if done.exited == 0:
        return wrk_throughput(done.stdout), f"wrk on {session.host.name}"
    lab = api.get(Path(inventory).stem)
    embedded = lab is not None and lab.inventory_path.resolve() == Path(inventory).resolve()
    if not embedded or lab.client.pid is None or shutil.which("wrk") is None:
        return None, (
            f"no wrk on {session.host.name} (exit {done.exited}; apt-get install wrk there)"
        )
    # The container's init (the nspawn process's child) is in the client's network namespace.
    init = psutil.Process(lab.client.pid).children()[0].pid
    cpus = ",".join(map(str, lab.client.cpus))
    prefix = ["nsenter", f"--target={init}", "--net", "--", "taskset", "-c", cpus]
    where = f"this machine's wrk in {lab.client.hostname}'s network namespace, on CPU {cpus}"
    return wrk(url, 2, CONCURRENCY, seconds, prefix=prefix), where


def load_average() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def compare(figures: dict[str, float], reference: float | None, reference_name: str) -> None:
    if reference is None:
        return
    print(f"  {reference_name}: {reference:9.0f} requests/s")
    for name, value in figures.items():
        print(f"  {name}: {value / reference:.0%} of wrk's")


def best_of(rounds: list[tuple[float, bool]], name: str, figures: dict[str, float]) -> None:
    best, suspect = max(rounds)
    note = "  (the client called itself a possible limit)" if suspect else ""
    figures[name] = best
    print(f"  {name}: {best:9.0f} requests/s{note}")


def loopback(requests: int, wrk_seconds: int) -> None:
    print(
        f"loopback: {psutil.cpu_count()} CPUs, shared by the reference server and the client; "
        f"concurrent mode, {CONCURRENCY} connections, {requests} requests, best of {ROUNDS}"
    )
    with refserver.running() as url, tempfile.TemporaryDirectory() as scratch:
        figures: dict[str, float] = {}
        for processes in PROCESSES:
            out = Path(scratch) / f"p{processes}.csv"
            rounds = [bench_client(url, processes, requests, out) for _ in range(ROUNDS)]
            best_of(rounds, f"bench_client --processes {processes}", figures)
        found = [wrk(url, 2, CONCURRENCY, wrk_seconds) for _ in range(ROUNDS)]
        reference = max((value for value in found if value), default=None)
        if reference is None:
            print("  wrk is not installed (apt-get install wrk): no reference figure")
        compare(figures, reference, f"wrk -t2 -c{CONCURRENCY} ({wrk_seconds} s)")


def run_alone(inventory: str, stack: str) -> None:
    """Start ``stack`` and stop every other one, as a run does before measuring it."""
    playbook = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory,
                "playbooks/stacks_state.yml", "-e", f"httplab_only_stack={stack}"]  # fmt: skip
    done = subprocess.run(playbook, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"starting {stack} alone failed:\n{done.stdout[-2000:]}{done.stderr}")


def in_lab(inventory: str, stack: str, requests: int, wrk_seconds: int) -> None:
    url = stack_url(inventory, stack)
    run_alone(inventory, stack)
    client = read_client(inventory)
    with open_session(client) as session, tempfile.TemporaryDirectory() as scratch:
        cpus = session.run_python("import os; print(len(os.sched_getaffinity(0)))").strip()
        print(
            f"lab: {stack} at {url} from {client.name} ({cpus} CPUs of its own); concurrent "
            f"mode, {CONCURRENCY} connections, {requests} requests, best of {ROUNDS}"
        )
        figures: dict[str, float] = {}
        for processes in PROCESSES:
            out_dir = Path(scratch) / f"capacity-p{processes}"
            rounds = [
                lab_bench_client(session, url, stack, processes, requests, out_dir)
                for _ in range(ROUNDS)
            ]
            best_of(rounds, f"bench_client --processes {processes}", figures)
        found = [lab_wrk(session, inventory, url, wrk_seconds) for _ in range(ROUNDS)]
        reference = max((value for value, _ in found if value), default=None)
        where = found[0][1]
        if reference is None:
            print(f"  no reference figure: {where}")
        compare(figures, reference, f"wrk -t2 -c{CONCURRENCY} ({wrk_seconds} s; {where})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="per measurement (40000; in a lab 20000)")
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--inventory", help="measure in this running lab instead of on loopback")
    parser.add_argument("--stack", default="flask-gunicorn-gevent", help="the lab's stack")
    args = parser.parse_args()
    print(load_average())
    if args.inventory is None:
        loopback(args.requests or 40_000, args.wrk_seconds)
    else:
        in_lab(args.inventory, args.stack, args.requests or 20_000, args.wrk_seconds)
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
