"""The server resource sampler's parsing, against this machine's real /proc and cgroup files.

A child process (a few threads burning CPU, some files open) stands in for a
stack; the embedded lab's test (tests/lab/test_running_lab.py) samples real
stacks through their systemd units.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench_client.results_format import SAMPLES_SCHEMA
from orchestrator import resource_sampler as rs

# Three threads spin, five files stay open, until stdin closes.
CHILD = """
import sys, threading
files = [open(sys.executable, "rb") for _ in range(5)]
def spin():
    while True:
        sum(range(1000))
for _ in range(3):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield process
    process.kill()
    process.wait()


def eventually(read: Callable[[], int], above: int, deadline_s: float = 60.0) -> int:
    """Read until the value passes ``above`` (a shared machine may give the child little CPU)."""
    end = time.monotonic() + deadline_s
    while (value := read()) <= above and time.monotonic() < end:
        time.sleep(0.05)
    return value


def test_a_process_is_read_from_proc(child: subprocess.Popen[str]) -> None:
    usage = rs.process_usage(child.pid)
    assert usage is not None
    assert usage["threads"] == 4  # the main thread and three spinners
    assert usage["fds"] >= 3 + 5  # stdin, stdout, stderr and the five files
    assert usage["rss_bytes"] > 0
    assert usage["ctx_voluntary"] + usage["ctx_involuntary"] > 0
    ticks = usage["user_ticks"] + usage["system_ticks"]

    def cpu() -> int:
        later = rs.process_usage(child.pid)
        assert later is not None
        return later["user_ticks"] + later["system_ticks"]

    assert eventually(cpu, ticks) > ticks


def test_a_process_that_has_ended_reads_as_none(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait()
    assert rs.process_usage(child.pid) is None


def test_descendants_of_a_process_include_its_children(child: subprocess.Popen[str]) -> None:
    found = rs.descendants(os.getpid())
    assert found[0] == os.getpid() and child.pid in found
    assert rs.descendants(child.pid) == [child.pid]


def test_cpu_times_of_the_cpus_the_stack_may_use() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    busy, total = rs.cpu_times(cpus)
    assert 0 < busy < total
    assert eventually(lambda: int(rs.cpu_times(cpus)[1] * 100), int(total * 100)) > total * 100
    everything = rs.cpu_times(list(range(os.cpu_count() or 1)))
    assert everything[1] >= total


def own_cpu_cgroup() -> Path | None:
    """The directory of this process's cgroup that accounts its CPU time."""
    unified = (rs.CGROUP_ROOT / "cgroup.controllers").is_file()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if unified and not controllers:
            return rs.CGROUP_ROOT / path.lstrip("/")
        if "cpuacct" in controllers.split(","):
            return rs.CGROUP_ROOT / controllers / path.lstrip("/")
    return None


def test_a_real_cgroup_reports_its_cpu_time() -> None:
    directory = own_cpu_cgroup()
    if directory is None:
        pytest.skip("this process's cgroup has no CPU accounting")
    user, system = rs.cgroup_cpu(directory) or (0.0, 0.0)
    assert user > 0 and system > 0


def test_the_cgroup_layout_of_this_host_is_recognised() -> None:
    """v2 has cgroup.controllers at the root; v1 a name=systemd hierarchy beside the others."""
    version, procs, cpu = rs.cgroup_dirs("/")
    assert (version, procs, cpu) == ("none", None, None)  # the root is never a unit
    unified = (rs.CGROUP_ROOT / "cgroup.controllers").is_file()
    # Any cgroup that exists on this host (in v1: in the name=systemd hierarchy) will do.
    base = rs.CGROUP_ROOT if unified else rs.CGROUP_ROOT / "systemd"
    children = sorted(p for p in base.iterdir() if (p / "cgroup.procs").is_file())
    if not children:
        pytest.skip(f"no child cgroup under {base}")
    version, procs, _ = rs.cgroup_dirs("/" + children[0].name)
    assert version == ("2" if unified else "1")
    assert procs == children[0]
    assert all(line.isdigit() for line in (procs / "cgroup.procs").read_text().split())


def test_a_unit_without_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="not running"):
        rs.UnitSampler("httplab-gone.service", 0, "")


def test_the_sampler_samples_until_its_input_closes(
    child: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """MainPID and its descendants (no cgroup): the documents, their sha256, the grid; a line
    on its input meanwhile (a measurement over) gets the samples so far."""
    sampler = rs.UnitSampler("httplab-child.service", child.pid, "")
    assert sampler.cpu_source == "processes" and sampler.cpus
    read_end, write_end = os.pipe()
    asker = threading.Timer(0.5, os.write, [write_end, b"\n"])
    # Closing the pipe is the orchestrator closing the sampler's standard input.
    closer = threading.Timer(1.0, os.close, [write_end])
    asker.start()
    closer.start()
    try:
        result = rs.run([sampler], 0.05, SAMPLES_SCHEMA, read_end)
    finally:
        closer.join()
        os.close(read_end)
    started, so_far = map(json.loads, capsys.readouterr().out.splitlines())
    assert started == {"pid": os.getpid(), "units": ["httplab-child.service"]}
    early = so_far["files"]["httplab-child.service"]
    assert hashlib.sha256(early["text"].encode()).hexdigest() == early["sha256"]
    answer = result["files"]["httplab-child.service"]  # type: ignore[index]
    early_rows, rows = (json.loads(one["text"])["samples"] for one in (early, answer))
    assert 3 <= len(early_rows) < len(rows) and rows[: len(early_rows)] == early_rows
    assert hashlib.sha256(answer["text"].encode()).hexdigest() == answer["sha256"]
    document = json.loads(answer["text"])
    assert document["schema"] == SAMPLES_SCHEMA and document["columns"] == list(rs.COLUMNS)
    assert document["cpu_source"] == "processes" and "cpu_of_exited" in document["unavailable"]
    assert document["sampler_cpu_s"] >= 0
    rows = [dict(zip(rs.COLUMNS, row, strict=True)) for row in document["samples"]]
    assert len(rows) >= 3  # one at the start, at least one in the second, one at the end
    for earlier, later in itertools.pairwise(rows):
        assert later["time_unix_s"] >= earlier["time_unix_s"]
        for counter in ("cpu_user_s", "cpu_system_s", "cpus_busy_s", "cpus_total_s"):
            assert later[counter] >= earlier[counter], counter
    assert {row["processes"] for row in rows} == {1}
    assert all(row["threads"] == 4 and row["rss_bytes"] > 0 for row in rows)
    assert all(row["fds"] is not None and row["fds"] >= 8 for row in rows)
    assert rows[-1]["cpu_user_s"] + rows[-1]["cpu_system_s"] > 0
