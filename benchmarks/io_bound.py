"""A check the lab can be held to (issue 25, item 5): every stack at 64 connections on
/io?ms=10 against the bound its concurrency model sets.

    .venv/bin/python benchmarks/io_bound.py [--inventory inventory/lab.yml] [--matrix modern]
        [--iterations 3000] [--connections 64]
    .venv/bin/python benchmarks/io_bound.py --run-dir results/ID   # judge a run already made

A request to /io?ms=10 waits 10 ms without holding a CPU. A server of W synchronous
single-threaded workers serves one request per worker at a time, so it cannot exceed W × 100
requests/s; each request also holds its worker for the CPU it costs (c: the stack's measured
CPU per request in the same cell), so at 64 connections (W ≤ 64) it should come within 10% of
W / (10 ms + c), and never above W × 100. A threaded, greenlet or event-loop server waits many
requests at once and must go beyond 2 × W × 100 (its limit is then its CPU). docs/method.md,
"The I/O bound", states the rule.

Without --run-dir it measures: `make run` (the embedded lab unless --inventory) with the io
workload alone, in the concurrent mode, --connections workers without a pause, one repetition
of --iterations requests per stack. Then, per stack: its workers (W) and threads as the stack
recorded them, its requests/s (correct replies per second of the timed window, the meta
file's throughput), the bound, the share of W × 100 and of W / (10 ms + c), and pass or
fail. It exits 1 when a stack fails, 2 when the
run could not be made or read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from analysis.load import load_run
from analysis.resources import cell_resources

ROOT = Path(__file__).resolve().parents[1]
REQUEST = "io"  # bench_client/request.py: GET /io?ms=10
WAIT_S = 0.010
PER_WORKER_RPS = 1 / WAIT_S  # a synchronous single-threaded worker's most: 100 requests/s
SYNC_WITHIN = 0.10  # a synchronous stack within 10% below its bound, never above
CONCURRENT_FACTOR = 2.0  # the others beyond 2 × W × 100


@dataclass(frozen=True)
class Judged:
    stack: str
    workers: int
    threads: str
    synchronous: bool
    rps: float | None
    bound: float
    passed: bool
    why: str
    # A synchronous stack's most with its CPU per request counted: W / (10 ms + c).
    expected: float | None = None


def synchronous(threads: str) -> bool:
    """A synchronous single-threaded worker, as a stack's record says its threads (the
    server kinds' text in roles/httplab/vars/main.yml: "one request at a time (sync
    worker)"); every other model (threads, greenlets, an event loop) waits many at once."""
    return threads.strip().lower().startswith("one request at a time")


def judge(
    stack: str, workers: int, threads: str, rps: float | None, cpu_s: float | None = None
) -> Judged:
    """The stack's requests/s against its bound. A synchronous single-threaded server: never
    above W × 100, and within 10% below W / (10 ms + ``cpu_s``), its CPU seconds per request
    (W × 100 itself when they were not measured). The others: above 2 × W × 100."""
    sync = synchronous(threads)
    bound = workers * PER_WORKER_RPS * (1 if sync else CONCURRENT_FACTOR)
    expected = workers / (WAIT_S + cpu_s) if sync and cpu_s is not None else None
    if rps is None:
        return Judged(stack, workers, threads, sync, None, bound, False, "not measured", expected)
    if sync:
        target = bound if expected is None else expected
        passed = target * (1 - SYNC_WITHIN) <= rps <= bound
        shares = f"{rps / bound:.0%} of W × 100" + (
            "" if cpu_s is None else f", {rps / target:.0%} of W / (10 ms + {cpu_s * 1e3:.2f} ms)"
        )
        why = (
            f"within 10% of its most ({shares})"
            if passed
            else "above W × 100: it cannot be single-threaded"
            if rps > bound
            else f"more than 10% below its most ({shares})"
        )
    else:
        passed = rps > bound
        why = "above 2 × W × 100" if passed else "not above 2 × W × 100"
    return Judged(stack, workers, threads, sync, rps, bound, passed, why, expected)


def cpu_per_request(run_dir: Path) -> dict[str, float]:
    """Each stack's server CPU seconds per request in the run's io cells (concurrent mode,
    mean of the repetitions), from the server samples analysis reads; stacks without any are
    left out."""
    cells, _ = cell_resources(load_run(run_dir))
    io = cells[(cells["request"] == REQUEST) & (cells["mode"] == "concurrent")]
    per_1k = io.groupby("stack")["cpu_per_1k_s"].mean().dropna()
    return {str(stack): float(value) / 1000 for stack, value in per_1k.items()}


def judge_run(run_dir: Path) -> list[Judged]:
    """Each stack of a run's io cells (concurrent mode, repetition 1... all repetitions'
    mean), judged; its workers and threads from the manifest's stack records, its CPU per
    request from the server samples."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    records = {str(s.get("name")): s for s in manifest.get("stacks") or []}
    rates: dict[str, list[float]] = {}
    for entry in manifest.get("measurements") or []:
        if entry.get("request") != REQUEST or entry.get("mode") != "concurrent":
            continue
        if entry.get("status") != "complete":
            rates.setdefault(entry["stack"], [])
            continue
        meta = json.loads((run_dir / entry["meta"]).read_text(encoding="utf-8"))
        rates.setdefault(entry["stack"], []).append(float(meta["throughput_rps"]))
    cpu = cpu_per_request(run_dir)
    judged = []
    for stack in sorted(rates):
        record = records.get(stack) or {}
        found = rates[stack]
        rps = sum(found) / len(found) if found else None
        workers, threads = int(record.get("workers") or 1), str(record.get("threads") or "?")
        judged.append(judge(stack, workers, threads, rps, cpu.get(stack)))
    return judged


def table(judged: list[Judged]) -> str:
    lines = [
        f"{'stack':<32} {'W':>3} {'model':<12} {'req/s':>9} {'bound':>9}  verdict",
    ]
    for j in judged:
        model = "synchronous" if j.synchronous else "concurrent"
        rps = "-" if j.rps is None else f"{j.rps:,.0f}"
        rule = "≤" if j.synchronous else ">"
        lines.append(
            f"{j.stack:<32} {j.workers:>3} {model:<12} {rps:>9} {rule}{j.bound:>8,.0f}  "
            f"{'pass' if j.passed else 'FAIL'}: {j.why}"
        )
    passed = sum(j.passed for j in judged)
    lines.append(f"{passed} of {len(judged)} stacks within the I/O bound")
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> Path:
    """One run of the io workload alone through `make run`; its folder."""
    run_id = "io-bound-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    extra: dict[str, Any] = {
        "httplab_run_id": run_id,
        "httplab_bench_requests": [REQUEST],
        "httplab_bench_modes": ["concurrent"],
        "httplab_bench_concurrency": args.connections,
        "httplab_bench_interval": 0,
        "httplab_bench_repetitions": 1,
        "httplab_bench_iterations": args.iterations,
    }
    command = ["make", "run", f"EXTRA_VARS={json.dumps(extra)}"]
    if args.inventory:
        command.append(f"INVENTORY={args.inventory}")
    if args.matrix:
        command.append(f"MATRIX={args.matrix}")
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return ROOT / "results" / run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", help="a real lab's inventory (default: the embedded lab)")
    parser.add_argument("--matrix", help="a stack matrix preset (make run MATRIX=...)")
    parser.add_argument("--iterations", type=int, default=3000, help="timed requests per stack")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--run-dir", type=Path, help="judge this run instead of measuring")
    args = parser.parse_args(argv)
    try:
        run_dir = args.run_dir or measure(args)
        judged = judge_run(run_dir)
    except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as error:
        print(f"io_bound: {error}", file=sys.stderr)
        return 2
    print(f"{run_dir}: /io?ms=10 at the run's connections, concurrent mode")
    print(table(judged))
    return 0 if judged and all(j.passed for j in judged) else 1


if __name__ == "__main__":
    sys.exit(main())
