"""apps/prefork.py: N processes on one socket, all or nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.apps.conftest import REPO, free_port

# A stand-in server: adopts the socket, answers each connection with its pid.
CHILD = (
    "import os, socket, sys\n"
    "sock = socket.socket(fileno=int(sys.argv[1]))\n"
    "while True:\n"
    "    conn, _ = sock.accept()\n"
    "    conn.sendall(str(os.getpid()).encode()); conn.close()\n"
)


def _start(tmp_path: Path, processes: int) -> tuple[subprocess.Popen[bytes], int]:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apps.prefork",
            "--bind",
            f"127.0.0.1:{port}",
            "--processes",
            str(processes),
            "--",
            sys.executable,
            str(child),
            "{fd}",
        ],
        cwd=REPO,
    )
    return process, port


def _pids_answering(port: int, want: int) -> set[int]:
    """Connect until `want` different processes have answered (or 30 s passed)."""
    pids: set[int] = set()
    deadline = time.monotonic() + 30
    while len(pids) < want and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                pids.add(int(conn.recv(32)))
        except (ConnectionError, ValueError):
            time.sleep(0.05)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_children_share_the_socket_and_stop_on_sigterm(tmp_path: Path) -> None:
    process, port = _start(tmp_path, processes=3)
    try:
        pids = _pids_answering(port, want=3)
        assert len(pids) == 3, "connections should reach every process"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def test_a_dead_child_stops_everything_with_a_failure(tmp_path: Path) -> None:
    process, port = _start(tmp_path, processes=2)
    try:
        pids = _pids_answering(port, want=2)
        assert len(pids) == 2
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        assert process.wait(timeout=30) == 1
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids - {victim}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids - {victim})


@pytest.mark.parametrize(
    "argv",
    [
        ["--bind", "127.0.0.1:1", "--processes", "0", "--", "x", "{fd}"],
        ["--bind", "127.0.0.1:1", "--processes", "1", "--", "x"],
        ["--bind", "nohost", "--processes", "1", "--", "x", "{fd}"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apps.prefork", *argv], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
