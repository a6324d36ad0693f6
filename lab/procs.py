"""This machine's processes, read from /proc (root runs the lab on the system Python: no psutil)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def cmdline(pid: int) -> list[str]:
    """The process's arguments; empty once it has ended."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]


def uid(pid: int) -> int | None:
    """The process's effective UID (its /proc directory's owner); None once it has ended."""
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:
        return None


def running(pid: int) -> bool:
    """True while the process has not ended. A child of ours that has ended is reaped."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # the name may hold spaces and parentheses


def signal_and_wait(pids: list[int], signal: int, timeout: float) -> list[int]:
    """Send the signal to each process, wait up to timeout for all to end; return those left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal)
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
