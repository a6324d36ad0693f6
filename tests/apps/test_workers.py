"""A worker process that dies must not leave a stack short or down for good: its server
replaces it, or exits non-zero so that systemd restarts the unit (Restart=on-failure). A
server that exits 0 instead (Hypercorn did) is taken by systemd for a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.apps.conftest import role_vars, stacks_to_test, start_stack

WAIT_S = 15.0


def _one_stack_per_multiprocess_kind() -> list[dict[str, Any]]:
    kinds = role_vars()["httplab_stack_servers"]
    stacks: dict[str, dict[str, Any]] = {}
    for stack in stacks_to_test():
        if kinds[stack["server"]].get("multiprocess", True):
            stacks.setdefault(stack["server"], stack)
    return list(stacks.values())


def _workers(pid: int) -> set[int]:
    """The children of `pid`, but for multiprocessing's resource tracker."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid and b"resource_tracker" not in cmdline:
            children.add(int(stat.parent.name))
    return children


@pytest.mark.parametrize(
    "stack", _one_stack_per_multiprocess_kind(), ids=lambda stack: stack["server"]
)
def test_a_dead_worker_is_replaced_or_the_service_fails(
    stack: dict[str, Any], server_venv: Path, tmp_path: Path
) -> None:
    running = start_stack(stack, server_venv, tmp_path / "server.log")
    try:
        workers = _workers(running.process.pid)
        assert len(workers) >= 2, f"{stack['name']}: want 2 workers, found {workers}"
        victim = max(workers)
        os.kill(victim, signal.SIGKILL)
        outcome = f"still {len(workers) - 1} workers after {WAIT_S:.0f} s"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            exitcode = running.process.poll()
            if exitcode is not None:
                outcome = f"exited {exitcode}"
                break
            now = _workers(running.process.pid)
            if victim not in now and len(now) >= len(workers):
                outcome = "replaced"
                break
            time.sleep(0.2)
    finally:
        # What is left is killed, not stopped: a graceful stop waits for a replacement that is
        # still starting (up to Gunicorn's graceful timeout), which this test does not need.
        with contextlib.suppress(ProcessLookupError):  # all gone already
            os.killpg(running.process.pid, signal.SIGKILL)  # its own session (start_stack)
        running.process.wait()
    assert outcome == "replaced" or (outcome.startswith("exited") and outcome != "exited 0"), (
        f"{stack['name']}: a worker was killed, then the service {outcome}: systemd would "
        f"not restart it\n{running.output()[-2000:]}"
    )
