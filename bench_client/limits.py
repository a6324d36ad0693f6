"""Was the client, not the server, the limit? Evidence and a verdict for the meta file.

A report must never rank stacks by the client's ceiling, nor stop a sweep at a
step the client kept up with. The client is the limit only when it could not
keep its schedule in a way that changed the result:

- its CPU near saturation (the asyncio engine runs on one thread, so a process
  using ~one whole core is saturated; or the whole host busy);
- in the rate mode, an achieved send rate short of the target;
- late timers or dispatches that are large beside the gap between sends and
  not one outlier: late by more than LATE_S (and, in the rate mode, by more
  than the gap between two sends: the client fell a whole request behind), in
  at least LATE_SHARE of them and not in one short stretch: in MIN_STRETCHES
  separate stretches, or in one that lasts SUSTAINED_SHARE of the measurement.

A single late timer on an idle machine (a scheduler hiccup) is recorded as a
note beside the verdict, never as a limit.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from bench_client import local_ports
from bench_client.failures import OUT_OF_PORTS

CPU_SATURATED_CORES = 0.9  # of the one core the engine's thread can use
HOST_SATURATED_PERCENT = 95.0  # the whole client host: the client waited for a CPU
RATE_SHORTFALL = 0.95  # achieved send rate below this share of the target
LATE_S = 0.002  # a timer or dispatch this late distorts a sub-millisecond server's times
LATE_SHARE = 0.01  # late in this share of them: enough to move a p99
MIN_STRETCHES = 2  # late in this many separate stretches: not one hiccup
SUSTAINED_SHARE = 0.1  # or behind for this share of them at a stretch: no hiccup either


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


@dataclass(frozen=True)
class Lateness:
    """How many of a series of delays passed ``threshold_s``, and in how many separate
    stretches (consecutive late ones are one stretch: one stall of the client)."""

    threshold_s: float
    late: int
    count: int
    stretches: int

    @property
    def limits(self) -> bool:
        """Late often enough to move a p99, and more than once or for long."""
        return (
            self.late > 0
            and self.late >= LATE_SHARE * self.count
            and (self.stretches >= MIN_STRETCHES or self.late >= SUSTAINED_SHARE * self.count)
        )

    def words(self, what: str, p99: float) -> str:
        times = "once" if self.late == 1 else f"{self.late} of {self.count} times"
        stretches = "" if self.late == 1 else f" in {self.stretches} stretch(es)"
        return (
            f"{what} more than {self.threshold_s * 1e3:.1f} ms late {times}{stretches} "
            f"(p99 {p99 * 1e3:.1f} ms)"
        )


def lateness(delays: list[float], threshold_s: float) -> Lateness:
    late = [delay > threshold_s for delay in delays]
    stretches = sum(1 for i, now in enumerate(late) if now and (i == 0 or not late[i - 1]))
    return Lateness(threshold_s, sum(late), len(delays), stretches)


def _judge_late(
    what: str, delays: list[float], threshold_s: float, reasons: list[str], notes: list[str]
) -> dict[str, Any] | None:
    """Add a reason (late, often, more than once) or a note (late, but an outlier)."""
    summary = spread(delays)
    if summary is None:
        return None
    found = lateness(delays, threshold_s)
    if found.limits:
        reasons.append(found.words(what, summary["p99"]))
    elif found.late:
        why = "one stretch" if found.stretches == 1 else f"under {LATE_SHARE:.0%} of them"
        notes.append(f"{found.words(what, summary['p99'])}: {why}, not a limit")
    elif summary["p99"] > LATE_S:
        notes.append(
            f"{what} {summary['p99'] * 1e3:.1f} ms late (p99), under the "
            f"{threshold_s * 1e3:.1f} ms between sends: not a limit"
        )
    return {**asdict(found), "limits": found.limits}


def assess(
    mode: str,
    rate: float | None,
    cpu: dict[str, float | None],
    stats: dict[str, Any],
    errors: Iterable[str] = (),
) -> dict[str, Any]:
    """The client_limits block of the meta file: measurements plus a verdict with reasons,
    and notes of what was seen but judged not to limit the result.

    ``errors``: the failed requests' reasons (failures.describe).
    """
    reasons: list[str] = []
    notes: list[str] = []
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

    lags = stats.get("loop_lag_s", [])
    limits["loop_lag_s"] = spread(lags)
    limits["loop_late"] = _judge_late("event loop ran its timers", lags, LATE_S, reasons, notes)

    if mode == "rate":
        assert rate is not None
        slips = stats.get("schedule_slip_s", [])
        achieved = _rate(stats.get("dispatch_times", []))
        limits.update(
            target_rate=rate,
            achieved_send_rate=achieved,
            schedule_slip_s=spread(slips),
            waited_for_connection=stats.get("waited_for_connection", 0),
            timer_lead_s=stats.get("timer_lead_s"),
        )
        if achieved is not None and achieved < RATE_SHORTFALL * rate:
            reasons.append(f"dispatched {achieved:.0f} requests/s of the {rate:g}/s asked")
        # Late by more than the gap between sends: the client fell a whole request behind.
        gap = max(LATE_S, 1 / rate)
        limits["schedule_late"] = _judge_late("schedule slipped", slips, gap, reasons, notes)

    limits["client_bottleneck"] = bool(reasons)
    limits["reasons"] = reasons
    limits["notes"] = notes
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
    reasons, notes = (
        [
            f"process {number}: {line}"
            for number, limits in sorted(each.items())
            for line in limits.get(key, [])
        ]
        for key in ("reasons", "notes")
    )
    if host_cpu_percent is not None and host_cpu_percent >= HOST_SATURATED_PERCENT:
        reasons.append(f"client host CPUs were {host_cpu_percent:.0f}% busy")
    cores = [limits.get("process_cpu_cores") for limits in each.values()]
    return {
        "process_cpu_cores": None if None in cores else round(sum(cores), 3),
        "host_cpu_percent": host_cpu_percent,
        "out_of_ports": sum(limits.get("out_of_ports", 0) for limits in each.values()),
        "client_bottleneck": bool(reasons),
        "reasons": reasons,
        "notes": notes,
    }
