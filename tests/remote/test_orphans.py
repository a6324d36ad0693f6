"""No bench_client outlives its SSH channel: lost connection, --run-timeout, a busy work dir.

Real sshd, real Fabric, the real deployed client (tests/remote/conftest.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench_client.request import BUILTIN
from bench_client.results_format import Measurement
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementSpec, measure
from orchestrator.remote.session import open_session
from tests.remote.conftest import last_json
from tests.remote.helpers import (
    MidRun,
    client_processes,
    cmdline,
    descendants,
    measure_cli,
    wait_until_gone,
    wait_until_sending,
)

REPO = Path(__file__).resolve().parents[2]


def test_lost_connection_leaves_no_client_running(
    deployed: dict, inventory: Path, contract_url: str, sshd, workdir: Path, tmp_path: Path
) -> None:
    run = MidRun(inventory, contract_url, tmp_path / "run-drop", sshd, answer_timeout=60)
    assert run.client_pids
    sessions = sshd.session_processes()
    for pid in sessions:
        os.kill(pid, signal.SIGKILL)  # the channel drops; nobody signals the client
    run.connection_lost()
    left = wait_until_gone(workdir)
    for pid in left:  # do not leave them behind for the next test either
        os.kill(pid, signal.SIGKILL)
    assert left == [], [cmdline(pid) for pid in left]
    again = measure_cli(inventory, tmp_path / "run-drop", contract_url)
    assert again.returncode == 0, again.stderr
    assert last_json(again.stdout)["status"] == "complete"


def test_run_timeout_stops_the_client(
    deployed: dict, inventory: Path, contract_url: str, workdir: Path, tmp_path: Path
) -> None:
    spec = MeasurementSpec(
        Measurement("constant", "flask-dev", "GET"), url=contract_url,
        out_dir=tmp_path / "run-timeout", request=BUILTIN["GET"],
        settings={"iterations": 5000, "interval": 0.05},
    )  # fmt: skip
    with (
        open_session(read_client(inventory)) as session,
        pytest.raises(RemoteError, match=r"testclient.*did not finish within 3 s"),
    ):
        measure(session, spec, run_timeout=3)
    assert wait_until_gone(workdir) == []
    assert not (tmp_path / "run-timeout" / "constant" / "flask-dev").exists()


def test_a_held_work_directory_is_refused(tmp_path: Path) -> None:
    """A second guard in the same work directory stops at once (exit 75)."""
    lock = tmp_path / "bench_client.lock"
    with lock.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = subprocess.run(
            [sys.executable, "-m", "bench_client.guard", str(lock)],
            capture_output=True, text=True, cwd=REPO, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert busy.returncode == 75
    assert "another bench_client is running" in busy.stderr
    # Once the lock is free, the guard serves until its channel closes.
    with subprocess.Popen(
        [sys.executable, "-m", "bench_client.guard", str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    ) as free:  # fmt: skip
        free.stdin.write('{"run": ["--help"]}\n')
        free.stdin.flush()
        answers = [json.loads(free.stdout.readline())]
        while "exit" not in answers[-1]:  # bench_client's lines come first, as "say"
            answers.append(json.loads(free.stdout.readline()))
        free.stdin.close()
        assert free.wait(timeout=60) == 129  # its channel closed: it ends
    assert answers[-1] == {"exit": 0, "sha256": {}}
    assert any("usage" in answer.get("say", "").lower() for answer in answers)


def test_the_guard_stops_bench_client_at_end_of_input(contract_url: str, tmp_path: Path) -> None:
    """stdin reaching end of file (the channel closed) stops a running bench_client: exit 129."""
    request = {"run": ["--base-url", contract_url, "--method", "GET", "--mode", "keepalive",
                       "--iterations", "100000", "--interval",
                       "0.01", "--out", str(tmp_path / "GET.csv")]}  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "bench_client.guard", str(tmp_path / "lock")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
    ) as guard:  # fmt: skip
        guard.stdin.write(json.dumps(request).encode() + b"\n")
        guard.stdin.flush()
        started = wait_until_sending(lambda: descendants(guard.pid), contract_url)
        children = descendants(guard.pid)
        assert started, "bench_client never started"
        guard.stdin.close()  # what sshd does when the connection goes
        assert guard.wait(timeout=120) == 129
    assert [pid for pid in children if psutil.pid_exists(pid) and
            psutil.Process(pid).status() != psutil.STATUS_ZOMBIE] == []  # fmt: skip


def test_ctrl_c_on_the_control_node_leaves_no_client_running(
    deployed: dict, inventory: Path, contract_url: str, workdir: Path, tmp_path: Path
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "tests.remote.driver", "one", "-i", str(inventory),
         "--stack", "flask-dev", "--url", contract_url, "--mode", "keepalive", "--request", "GET",
         "--out-dir", str(tmp_path / "run-ctrl-c"), "--set", "iterations=5000",
         "--set", "interval=0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    ) as driver:  # fmt: skip
        if not wait_until_sending(lambda: client_processes(workdir), contract_url):
            driver.kill()
            pytest.fail("bench_client never started measuring")
        driver.send_signal(signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    assert wait_until_gone(workdir) == []
    # bench_client was interrupted, not killed: what it had measured was written and fetched.
    assert json.loads(stdout.strip().splitlines()[-1])["status"] == "interrupted"
    assert (tmp_path / "run-ctrl-c" / "keepalive" / "flask-dev" / "GET.csv").exists()
