"""Was the client, not the server, the limit? Evidence and a verdict for the meta file.

A report must never rank stacks by the client's ceiling. The asyncio engine
runs on one thread, so a process using ~one whole core is saturated; in the
rate mode the schedule itself shows it (late dispatches, a send rate below the
target); and a loop that runs its timers late delays reading responses too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench_client import local_ports
from bench_client.failures import OUT_OF_PORTS

CPU_SATURATED_CORES = 0.9  # of the one core the engine's thread can use
HOST_SATURATED_PERCENT = 95.0  # the whole client host: the client waited for a CPU
RATE_SHORTFALL = 0.95  # achieved send rate below this share of the target
LATE_P99_S = 0.002  # timers or dispatches this late (99th percentile) distort times


@dataclass
class CpuWatch:
    """Process and host CPU use between start() and stop(); None where psutil cannot tell."""

    process: psutil.Process | None = field(default=None, init=False)
    started: float = 0.0  # perf_counter() at start()
    _cpu: float = 0.0

    def start(self) -> None:
        try:
            self.process = psutil.Process()
            times = self.process.cpu_times()
            self._cpu = times.user + times.system
            psutil.cpu_percent(interval=None)  # starts the host-wide measuring window
        except (psutil.Error, OSError):
            self.process = None
        self.started = time.perf_counter()

    def stop(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.started
        if self.process is None or wall <= 0:
            return {"process_cpu_cores": None, "host_cpu_percent": None}
        try:
            times = self.process.cpu_times()
            host = psutil.cpu_percent(interval=None)
        except (psutil.Error, OSError):
            return {"process_cpu_cores": None, "host_cpu_percent": None}
        cores = (times.user + times.system - self._cpu) / wall
        return {"process_cpu_cores": round(cores, 3), "host_cpu_percent": host}


def spread(values: list[float]) -> dict[str, float] | None:
    """p50/p99/max of a list of delays, or None when there is nothing to summarise."""
    if not values:
        return None
    ordered = sorted(values)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def assess(
    mode: str,
    rate: float | None,
    cpu: dict[str, float | None],
    stats: dict[str, Any],
    errors: Iterable[str] = (),
) -> dict[str, Any]:
    """The client_limits block of the meta file: measurements plus a verdict with reasons.

    ``errors``: the failed requests' reasons (failures.describe).
    """
    reasons: list[str] = []
    out_of_ports = sum(1 for error in errors if error.startswith(OUT_OF_PORTS))
    if out_of_ports:
        reasons.append(
            f"{out_of_ports} requests found no free local port (TIME_WAIT sockets fill the "
            "client's port range; see docs/traps.md)"
        )
    limits: dict[str, Any] = {**cpu, "out_of_ports": out_of_ports}
    cores = cpu.get("process_cpu_cores")
    host = cpu.get("host_cpu_percent")
    if mode in ("concurrent", "rate"):
        if cores is not None and cores >= CPU_SATURATED_CORES:
            reasons.append(f"client process used {cores:.0%} of a core (its engine is one thread)")
        if host is not None and host >= HOST_SATURATED_PERCENT:
            reasons.append(f"client host CPUs were {host:.0f}% busy")

    lag = spread(stats.get("loop_lag_s", []))
    limits["loop_lag_s"] = lag
    if lag is not None and lag["p99"] > LATE_P99_S:
        reasons.append(f"event loop ran its timers {lag['p99'] * 1e3:.1f} ms late (p99)")

    if mode == "rate":
        assert rate is not None
        slip = spread(stats.get("schedule_slip_s", []))
        achieved = _rate(stats.get("dispatch_times", []))
        limits.update(
            target_rate=rate,
            achieved_send_rate=achieved,
            schedule_slip_s=slip,
            waited_for_connection=stats.get("waited_for_connection", 0),
            timer_lead_s=stats.get("timer_lead_s"),
        )
        if achieved is not None and achieved < RATE_SHORTFALL * rate:
            reasons.append(f"dispatched {achieved:.0f} requests/s of the {rate:g}/s asked")
        if slip is not None and slip["p99"] > LATE_P99_S:
            reasons.append(f"schedule slipped {slip['p99'] * 1e3:.1f} ms (p99)")

    limits["client_bottleneck"] = bool(reasons)
    limits["reasons"] = reasons
    return limits


def _rate(times: list[float]) -> float | None:
    """Events per second over a list of event times; None when it cannot be told."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


def port_budget() -> dict[str, Any]:
    """The client's ephemeral ports now: their range, how many sit in TIME_WAIT, for how long.

    A new connection needs a free port; in the constant mode each request
    leaves one in TIME_WAIT, so a long run can exhaust them. On Windows a range
    netsh does not give is taken to be Windows' default (``port_range_read``).
    """
    read = local_ports.port_range()
    low, high = read or local_ports.WINDOWS_DEFAULT_RANGE
    try:
        waiting: int | None = local_ports.time_wait_count()
    except OSError:
        waiting = None
    size = high - low + 1
    return {
        "port_range": [low, high],
        "port_range_read": read is not None,
        "ports": size,
        "time_wait": waiting,
        "free": None if waiting is None else max(0, size - waiting),
        "time_wait_s": local_ports.time_wait_seconds(),
    }


def assess_processes(
    each: dict[int, dict[str, Any]], host_cpu_percent: float | None
) -> dict[str, Any]:
    """--processes N: the client may be the limit if any process was, or the whole host.

    `each` is every process's own assess() by its number (as in the meta file's processes);
    `host_cpu_percent` is the host's CPU use over the common window.
    """
    reasons = [
        f"process {number}: {reason}"
        for number, limits in sorted(each.items())
        for reason in limits["reasons"]
    ]
    if host_cpu_percent is not None and host_cpu_percent >= HOST_SATURATED_PERCENT:
        reasons.append(f"client host CPUs were {host_cpu_percent:.0f}% busy")
    cores = [limits.get("process_cpu_cores") for limits in each.values()]
    return {
        "process_cpu_cores": None if None in cores else round(sum(cores), 3),
        "host_cpu_percent": host_cpu_percent,
        "out_of_ports": sum(limits.get("out_of_ports", 0) for limits in each.values()),
        "client_bottleneck": bool(reasons),
        "reasons": reasons,
    }
