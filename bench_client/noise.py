"""The noise guard: what else a host was doing while a measurement ran.

A reading is a snapshot of a host's CPU counters; two readings, taken just
before and just after the timed requests, give the host's noise over the
measurement. Only the CPUs the measurement may run on count (its affinity):
a busy neighbour on another core does not slow it down.

- own_cpu_cores: CPU time of the measurement itself (the client: this process;
  the server: the processes of the stack under test), per second of the window;
- apparatus_cpu_cores (the server): the measuring apparatus there, i.e. the SSH session
  that carries these readings and the resource sampler (its sshd process and everything
  under it), shown but not judged: on a 1-second window its Python starts alone cost
  about a tenth of a core, which would flag every short measurement;
- others_cpu_cores: user+nice+system time of every other process on those CPUs;
- irq_cpu_cores: interrupt and softirq time, mostly the measurement's own
  network traffic, so shown but not judged;
- steal_percent: time the hypervisor gave to other guests, in % of those CPUs;
- loadavg: the 1/5/15-minute load averages before and after (context only: they
  are smoothed over a minute, longer than most measurements).

A measurement is flagged busy when, on either host, other processes used more
than OTHERS_BUSY_CORES of a core on average, or steal exceeded STEAL_PERCENT.
Anything a host cannot tell is None, with the reason under "unavailable".

The server's reading is Linux-only and runs on the server with a plain
python3 (SERVER_READING); the client's uses psutil and so works on Windows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import psutil

OTHERS_BUSY_CORES = 0.10  # other processes used more than 10% of one core on average
STEAL_PERCENT = 1.0  # the hypervisor took more than 1% of the measurement's CPUs

Reading = dict[str, Any]  # wall_s, cpus, busy_s, irq_s, steal_s, own_s, loadavg, unavailable

_BUSY_FIELDS = ("user", "nice", "system")
_IRQ_FIELDS = ("irq", "softirq", "interrupt", "dpc")  # Linux, then Windows names


def _sum(times: Sequence[Any], fields: Sequence[str]) -> float:
    return sum(getattr(t, name, 0.0) for t in times for name in fields)


def read_client() -> Reading:
    """This host, seen from bench_client's own process (any OS psutil supports)."""
    unavailable: dict[str, str] = {}
    process = psutil.Process()
    every_cpu = psutil.cpu_times(percpu=True)
    try:
        cpus = sorted(process.cpu_affinity())  # type: ignore[attr-defined]
    except (AttributeError, psutil.Error, OSError):
        cpus = list(range(len(every_cpu)))
        unavailable["cpus"] = "no CPU affinity on this OS: every CPU counts"
    times = [every_cpu[cpu] for cpu in cpus if cpu < len(every_cpu)]
    own = process.cpu_times()
    steal: float | None = None
    if hasattr(times[0], "steal"):
        steal = _sum(times, ("steal",))
    else:
        unavailable["steal_s"] = "the OS does not report steal time"
    loadavg: list[float] | None = None
    if hasattr(os, "getloadavg"):
        loadavg = [round(value, 2) for value in os.getloadavg()]
    else:
        unavailable["loadavg"] = "no load average on this OS"
    return {
        "wall_s": time.monotonic(),
        "cpus": cpus,
        "busy_s": _sum(times, _BUSY_FIELDS),
        "irq_s": _sum(times, _IRQ_FIELDS),
        "steal_s": steal,
        "own_s": own.user + own.system,
        "loadavg": loadavg,
        "unavailable": unavailable,
    }


class ClientWatch:
    """Readings of this host at the start and the end of the timed requests."""

    def __init__(self) -> None:
        self.before: Reading | None = None

    def start(self) -> None:
        self.before = read_client()

    def stop(self, also_own_s: float = 0.0) -> dict[str, Any] | None:
        """The client's window, or None if timing never began (interrupted before).

        `also_own_s`: CPU seconds of the run's other processes (--processes), which
        are the measurement's own work, not noise.
        """
        if self.before is None:
            return None
        after = read_client()
        after["own_s"] += also_own_s
        return window(self.before, after)


def _per_second(before: Reading, after: Reading, key: str, wall: float) -> float | None:
    if before.get(key) is None or after.get(key) is None:
        return None
    return round(max(0.0, after[key] - before[key]) / wall, 4)


def window(before: Reading, after: Reading) -> dict[str, Any]:
    """A host's noise between two readings, in cores (CPU seconds per second) and %."""
    wall = after["wall_s"] - before["wall_s"]
    if wall <= 0:
        raise ValueError(f"readings out of order ({wall:.6f} s apart)")
    busy = _per_second(before, after, "busy_s", wall)
    own = _per_second(before, after, "own_s", wall)
    apparatus = _per_second(before, after, "apparatus_s", wall)
    steal = _per_second(before, after, "steal_s", wall)
    cpus = after["cpus"]
    others = None if busy is None or own is None else busy - own - (apparatus or 0.0)
    return {
        "window_s": round(wall, 3),
        "cpus": cpus,
        "own_cpu_cores": own,
        "apparatus_cpu_cores": apparatus,
        "others_cpu_cores": None if others is None else round(max(0.0, others), 4),
        "irq_cpu_cores": _per_second(before, after, "irq_s", wall),
        "steal_percent": None if steal is None else round(100 * steal / len(cpus), 2),
        "loadavg_before": before.get("loadavg"),
        "loadavg_after": after.get("loadavg"),
        "unavailable": {**before.get("unavailable", {}), **after.get("unavailable", {})},
        # The server's reading also says how its CPUs are set up (for the manifest).
        **{key: after[key] for key in ("cpu_count", "stack_cpus", "governor") if key in after},
    }


def reasons(host: str, block: dict[str, Any] | None) -> list[str]:
    """Why the measurement was not alone on `host`, by the thresholds above."""
    if block is None:
        return []
    found = []
    others = block.get("others_cpu_cores")
    if others is not None and others > OTHERS_BUSY_CORES:
        found.append(f"{host}: other processes used {others:.0%} of a core")
    steal = block.get("steal_percent")
    if steal is not None and steal > STEAL_PERCENT:
        found.append(f"{host}: {steal:.1f}% of the CPU time was stolen by the hypervisor")
    return found


def host_noise(
    client: dict[str, Any] | None, server: dict[str, Any] | None, server_missing: str = ""
) -> dict[str, Any]:
    """The meta file's host_noise block: both hosts' windows and the verdict."""
    found = reasons("client", client) + reasons("server", server)
    document: dict[str, Any] = {
        "client": client,
        "server": server,
        "busy": bool(found),
        "reasons": found,
        "thresholds": {"others_cpu_cores": OTHERS_BUSY_CORES, "steal_percent": STEAL_PERCENT},
    }
    if server is None:
        document["server_unavailable"] = server_missing
    return document


# The server's reading: stdlib only (the server has no bench_client), Linux /proc.
# argv[1:] are the units of the stacks under test, whose processes are the "own" time; or
# --serve: a reading for each JSON list of units read on stdin (orchestrator/server_noise.py).
SERVER_READING = r"""
import json, os, sys, time
def reading(units):
    units = ["/" + unit for unit in units]
    tick = os.sysconf("SC_CLK_TCK")
    cpus = sorted(os.sched_getaffinity(0))
    fields = {}
    with open("/proc/stat") as stat:
        for line in stat:
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                for index, value in enumerate(values[:8]):
                    fields[index] = fields.get(index, 0) + int(value)
    own = 0
    stack_cpus = None
    processes = {}  # pid: (command name, parent pid, CPU ticks with its reaped children's)
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                head, tail = handle.read().rsplit(")", 1)
            values = tail.split()
            processes[pid] = (head.split("(", 1)[1], int(values[1]), sum(map(int, values[11:15])))
            with open(f"/proc/{pid}/cgroup") as handle:
                cgroup = handle.read()
            if not any(unit in cgroup for unit in units):
                continue
            own += int(values[11]) + int(values[12])
            stack_cpus = sorted(os.sched_getaffinity(pid))
        except OSError:
            continue
    # The apparatus: the SSH session this reading came over (its sshd process and everything
    # under it: these readings, the resource sampler, their shells and sudo). Found by walking
    # up from this process to the first sshd; without one (run locally), this process alone.
    session = os.getpid()
    while session in processes and not processes[session][0].startswith("sshd"):
        session = processes[session][1]
    if session not in processes:
        session = os.getpid()
    children = {}
    for pid, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    apparatus, pending = 0, [session]
    while pending:
        pid = pending.pop()
        apparatus += processes[pid][2]
        pending += children.get(pid, [])
    governors = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor") as handle:
                governors.add(handle.read().strip())
        except OSError:
            pass
    with open("/proc/loadavg") as handle:
        loadavg = [float(value) for value in handle.read().split()[:3]]
    return {
        "wall_s": time.monotonic(),
        "cpus": cpus,
        "cpu_count": os.cpu_count(),
        "busy_s": (fields[0] + fields[1] + fields[2]) / tick,
        "irq_s": (fields[5] + fields[6]) / tick,
        "steal_s": fields[7] / tick,
        "own_s": own / tick,
        "apparatus_s": apparatus / tick,
        "stack_cpus": stack_cpus,
        "governor": ",".join(sorted(governors)) or None,
        "loadavg": loadavg,
        "unavailable": {} if governors else {"governor": "no cpufreq in /sys (a VM or container)"},
    }
if sys.argv[1:] == ["--serve"]:
    # A reading for each line read, the units it lists (a JSON list): one process and one SSH
    # channel for a whole run's readings, not a Python start each.
    for line in sys.stdin:
        print(json.dumps(reading(json.loads(line))), flush=True)
else:
    print(json.dumps(reading(sys.argv[1:])))
"""
