"""The server resource sampler: what the stacks under test use while they are measured.

Standard library only, Linux only: the orchestrator sends this file's text to
the server over SSH (``python3 -c``, as the noise guard's reading), so the
server needs nothing installed. It runs there for one measurement:

    python3 resource_sampler.py [--interval S] UNIT [UNIT ...]

prints one JSON line when it has resolved the units ({"pid", "units"}), then
samples every ``--interval`` seconds until its standard input closes (the
orchestrator closes it when a group of measurements is over, and SSH closes it
if the orchestrator goes away), then prints one JSON line: per unit the samples
document (SAMPLES_SCHEMA of bench_client/results_format.py, given on the
command line) and the sha256 of its exact text, and the sampler's own CPU time.
Each line the orchestrator sends meanwhile (one per measurement) gets the same
JSON line with the samples so far, and the sampling goes on.

Per unit and sample: the CPU time (user, system) of its control group, which
counts processes that have exited too, or, where the cgroup's CPU accounting
cannot be read, of its live processes with their reaped children; the summed
RSS, threads, open file descriptors and context switches of its live
processes (the unit's cgroup.procs; without a readable cgroup, MainPID and
its descendants); and the busy and total CPU time of the CPUs the stack may
run on (/proc/stat), which says when the server's CPU was saturated. Counters
are cumulative: the analysis takes differences over the measured window.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
COLUMNS = (
    "time_unix_s",  # the server's wall clock (to place the sample in the measured window)
    "cpu_user_s",
    "cpu_system_s",
    "rss_bytes",
    "processes",
    "threads",
    "fds",
    "ctx_voluntary",
    "ctx_involuntary",
    "cpus_busy_s",  # the stack's CPUs: user+nice+system+irq+softirq+steal
    "cpus_total_s",  # the stack's CPUs: all of the above plus idle and iowait
)
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # of /proc/stat's cpuN line: user nice system irq softirq steal
_TOTAL_FIELDS = range(8)
_SWITCHES = {
    "voluntary_ctxt_switches": "ctx_voluntary",
    "nonvoluntary_ctxt_switches": "ctx_involuntary",
}


def read_text(path: Path | str) -> str:
    with open(path) as handle:  # noqa: PTH123  (one open per read: the sampler's hot path)
        return handle.read()


def unit_properties(unit: str) -> dict[str, str]:
    """MainPID and ControlGroup of a systemd unit, from `systemctl show`."""
    output = subprocess.run(
        ["systemctl", "show", "--property=MainPID", "--property=ControlGroup", unit],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def cgroup_dirs(
    control_group: str, root: Path = CGROUP_ROOT
) -> tuple[str, Path | None, Path | None]:
    """(cgroup version, directory listing its processes, directory with its CPU time).

    v2 (unified): one directory, cpu.stat. v1: the processes in the name=systemd
    hierarchy, the CPU time in cpuacct's (present only with CPU accounting on);
    a hybrid host's unified/ directory also has a cpu.stat.
    """
    relative = control_group.lstrip("/")
    if not relative:
        return "none", None, None
    if (root / "cgroup.controllers").is_file():
        unified = root / relative
        return "2", unified if unified.is_dir() else None, unified if unified.is_dir() else None
    procs = root / "systemd" / relative
    cpu = None
    for candidate in ("cpuacct", "cpu,cpuacct", "unified"):
        directory = root / candidate / relative
        if (directory / "cpuacct.stat").is_file() or (directory / "cpu.stat").is_file():
            cpu = directory
            break
    return "1", procs if procs.is_dir() else None, cpu


def cgroup_cpu(directory: Path) -> tuple[float, float] | None:
    """User and system CPU seconds of a cgroup (v2 cpu.stat, or v1 cpuacct.stat)."""
    stat_v2 = directory / "cpu.stat"
    if stat_v2.is_file():
        fields = dict(line.split() for line in read_text(stat_v2).splitlines())
        if "user_usec" in fields:
            return int(fields["user_usec"]) / 1e6, int(fields["system_usec"]) / 1e6
    stat_v1 = directory / "cpuacct.stat"
    if stat_v1.is_file():
        fields = dict(line.split() for line in read_text(stat_v1).splitlines())
        return int(fields["user"]) / TICK, int(fields["system"]) / TICK
    return None


def descendants(root_pid: int) -> list[int]:
    """root_pid and every process below it (the fallback without a readable cgroup)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parent = int(read_text(entry / "stat").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def process_usage(pid: int) -> dict[str, int] | None:
    """One process's counters, or None if it has exited meanwhile.

    Plain strings and os.listdir here, not pathlib: at 10 Hz a Path per file
    was a third of the sampler's CPU time (benchmarks/sampler_cost.py).
    """
    base = f"/proc/{pid}"
    try:
        stat = read_text(f"{base}/stat").rsplit(")", 1)[1].split()
        usage = {
            "user_ticks": int(stat[11]) + int(stat[13]),  # utime + cutime (reaped children)
            "system_ticks": int(stat[12]) + int(stat[14]),  # stime + cstime
            "threads": int(stat[17]),
            "rss_bytes": int(stat[21]) * PAGE,
            "ctx_voluntary": 0,
            "ctx_involuntary": 0,
        }
        tasks = os.listdir(f"{base}/task")  # noqa: PTH208  (see above)
    except (FileNotFoundError, ProcessLookupError):
        return None
    # status counts the switches of one thread: sum them over the live threads.
    for task in tasks:
        try:
            status = read_text(f"{base}/task/{task}/status")
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in _SWITCHES:
                usage[_SWITCHES[name]] += int(value)
    try:
        usage["fds"] = len(os.listdir(f"{base}/fd"))  # noqa: PTH208  (see above)
    except PermissionError:
        usage["fds"] = -1  # only root or the stack's own user may list them
    except (FileNotFoundError, ProcessLookupError):
        return None
    return usage


def cpu_times(cpus: list[int]) -> tuple[float, float]:
    """Busy and total seconds of ``cpus``, summed, from /proc/stat."""
    busy = total = 0
    for line in read_text("/proc/stat").splitlines():
        if not line.startswith("cpu"):
            break  # the per-CPU lines come first; the rest (intr: thousands of numbers) is skipped
        name, *values = line.split()
        if name[3:].isdigit() and int(name[3:]) in cpus:
            busy += sum(int(values[i]) for i in _BUSY_FIELDS if i < len(values))
            total += sum(int(values[i]) for i in _TOTAL_FIELDS if i < len(values))
    return busy / TICK, total / TICK


class UnitSampler:
    """Samples of one systemd unit."""

    def __init__(
        self, unit: str, main_pid: int, control_group: str, root: Path = CGROUP_ROOT
    ) -> None:
        self.unit = unit
        self.main_pid = main_pid
        self.control_group = control_group
        self.cgroup_version, self.procs_dir, self.cpu_dir = cgroup_dirs(control_group, root)
        if self.procs_dir is None and self.main_pid == 0:
            raise ValueError(f"{unit}: not running (no MainPID, no control group)")
        self.cpu_source = "cgroup" if self.cpu_dir and cgroup_cpu(self.cpu_dir) else "processes"
        pids = self.pids()
        if not pids:
            raise ValueError(f"{unit}: no processes in {self.control_group or 'the unit'}")
        self.cpus = sorted(os.sched_getaffinity(pids[0]))
        self.rows: list[list[float | int | None]] = []
        self.fds_denied = False
        self.skipped = 0  # samples not taken: the unit's cgroup was gone (a restart)

    @classmethod
    def of_unit(cls, unit: str) -> UnitSampler:
        properties = unit_properties(unit)
        return cls(unit, int(properties.get("MainPID") or 0), properties.get("ControlGroup", ""))

    def pids(self) -> list[int]:
        if self.procs_dir is not None:
            return [int(line) for line in read_text(self.procs_dir / "cgroup.procs").split()]
        return descendants(self.main_pid)

    def sample(self) -> None:
        """Append one row; none while the unit restarts (systemd recreates its cgroup)."""
        now = time.time()
        try:
            usages = [u for u in map(process_usage, self.pids()) if u is not None]
            total = {key: sum(u[key] for u in usages) for key in usages[0]} if usages else {}
            if self.cpu_source == "cgroup" and self.cpu_dir is not None:
                cpu = cgroup_cpu(self.cpu_dir)
            else:
                cpu = (total.get("user_ticks", 0) / TICK, total.get("system_ticks", 0) / TICK)
        except FileNotFoundError:
            cpu = None
        if cpu is None:
            self.skipped += 1
            return
        self.fds_denied = self.fds_denied or any(u["fds"] < 0 for u in usages)
        busy, all_time = cpu_times(self.cpus)
        self.rows.append([
            round(now, 3), round(cpu[0], 6), round(cpu[1], 6), total.get("rss_bytes", 0),
            len(usages), total.get("threads", 0), None if self.fds_denied else total.get("fds", 0),
            total.get("ctx_voluntary", 0), total.get("ctx_involuntary", 0),
            round(busy, 2), round(all_time, 2),
        ])  # fmt: skip

    def document(self, schema: int, interval: float) -> dict[str, object]:
        unavailable = {}
        if self.fds_denied:
            unavailable["fds"] = "the sampler may not list the stack's /proc/PID/fd (not root)"
        if self.cpu_source == "processes":
            unavailable["cpu_of_exited"] = (
                "no readable cgroup CPU accounting: CPU of processes that exited unreaped is lost"
            )
        return {
            "schema": schema,
            "unit": self.unit,
            "interval_s": interval,
            "cgroup": {"version": self.cgroup_version, "path": self.control_group},
            "cpu_source": self.cpu_source,
            "cpus": self.cpus,
            "columns": list(COLUMNS),
            "samples": self.rows,
            "skipped": self.skipped,
            "unavailable": unavailable,
        }


def run(
    samplers: list[UnitSampler], interval: float, schema: int, stop_fd: int
) -> dict[str, object]:
    """Sample every ``interval`` s until ``stop_fd`` reaches its end; the documents and sha256.
    A line on ``stop_fd`` meanwhile prints them as they are so far."""
    print(json.dumps({"pid": os.getpid(), "units": [s.unit for s in samplers]}), flush=True)
    deadline = time.monotonic()
    while True:
        for sampler in samplers:
            sampler.sample()
        deadline += interval
        # Sleep until the next sample (a fixed grid: a slow sample does not shift the
        # rest), waking at once when the orchestrator writes or closes our standard input.
        pause = max(0.0, deadline - time.monotonic())
        if not select.select([stop_fd], [], [], pause)[0]:
            continue
        asked = os.read(stop_fd, 4096)
        if not asked:
            break
        for _ in range(asked.count(b"\n")):
            print(json.dumps(documents(samplers, schema, interval)), flush=True)
    return documents(samplers, schema, interval)


def documents(samplers: list[UnitSampler], schema: int, interval: float) -> dict[str, object]:
    """Each unit's samples document with its sha256, after one more sample (the end of the
    measurement just over)."""
    for sampler in samplers:
        sampler.sample()
    own = os.times()
    files = {}
    for sampler in samplers:
        document = sampler.document(schema, interval)
        document["sampler_cpu_s"] = round(own.user + own.system, 3)  # its own cost, all units
        text = json.dumps(document, separators=(",", ":")) + "\n"
        files[sampler.unit] = {"text": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return {"files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sample systemd units' resource use.")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between samples")
    parser.add_argument("--schema", type=int, required=True, help="SAMPLES_SCHEMA to write")
    parser.add_argument("units", nargs="+", help="systemd units: httplab-<stack>.service")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be above 0")
    try:
        samplers = [UnitSampler.of_unit(unit) for unit in args.units]
        result = run(samplers, args.interval, args.schema, sys.stdin.fileno())
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
