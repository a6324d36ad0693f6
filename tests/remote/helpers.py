"""What the tests of tests/remote share: a measurement through the real sshd, the client's
processes as /proc shows them, an inventory with a server, a measurement cut off midway."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import yaml

from bench_client.request import BUILTIN
from bench_client.results_format import Measurement
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementSpec, measure
from orchestrator.remote.session import ConnectionLostError, open_session
from tests.remote.conftest import measure_one

ITERATIONS = 40

PREVIOUS_CSV = "Iteration,Execution Time (seconds)\n1,0.002\n"

WIN_ENV = {
    "PATH": r"C:\Windows\system32",
    "OS": "Windows_NT",
    "USERPROFILE": r"C:\Users\Jane Doe",
    "=C:": "C:\\",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure_cli(inventory: Path, out_dir: Path, url: str, *extra: str, request: str = "GET"):
    return measure_one(
        "-i", str(inventory), "--stack", "flask-gunicorn", "--url", url,
        "--mode", "constant", "--request", request, "--out-dir", str(out_dir),
        "--set", f"iterations={ITERATIONS}", "--set", "interval=0.001", *extra,
    )  # fmt: skip


def descendants(pid: int) -> list[int]:
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found += [child, *descendants(child)]
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def measuring_pids(pids: Iterable[int], url: str) -> list[int]:
    """Those of ``pids`` that are bench_client with a connection to ``url``'s port: measuring.
    (Its arguments reach it from its guard, which forks it: its command line is the guard's.)"""
    port = urlsplit(url).port
    found = []
    for pid in pids:
        if "-m bench_client" not in cmdline(pid):
            continue
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == port for c in psutil.Process(pid).net_connections()):
                found.append(pid)
    return found


def client_processes(workdir: Path) -> list[int]:
    """Live processes running bench_client from this work directory (any parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        line = cmdline(int(entry.name))
        if state != "Z" and "bench_client" in line and str(workdir) in line:
            found.append(int(entry.name))
    return found


def sending_to(workdir: Path, url: str) -> bool:
    """bench_client, run from this work directory, holds a connection to ``url``: it measures."""
    return bool(measuring_pids(client_processes(workdir), url))


def wait_until_sending(pids: Callable[[], list[int]], url: str, patience: float = 120) -> bool:
    deadline = time.monotonic() + patience
    while not measuring_pids(pids(), url) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(measuring_pids(pids(), url))


def wait_until_gone(workdir: Path, patience: float = 120) -> list[int]:
    """The client processes still alive after ``patience`` seconds (none, if all is well)."""
    deadline = time.monotonic() + patience
    while (left := client_processes(workdir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def with_server(inventory: Path, tmp_path: Path) -> Path:
    """The test inventory plus a `servers` group whose host is the same sshd."""
    data = yaml.safe_load(inventory.read_text())
    client = data["all"]["children"]["clients"]["hosts"]["testclient"]
    server = {key: client[key] for key in ("ansible_host", "ansible_port")}
    data["all"]["children"]["servers"] = {"hosts": {"testserver": server}}
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(data))
    return path


class MidRun:
    """A long measurement in a thread, and the client-side processes serving it."""

    def __init__(self, inventory: Path, url: str, out_dir: Path, sshd, answer_timeout: float):
        self.sshd = sshd
        self.out_dir = out_dir
        self.collected = previous_result(out_dir)
        self.raised: list[BaseException] = []
        spec = MeasurementSpec(
            Measurement("constant", "django-daphne", "GET"), url=url, out_dir=out_dir,
            request=BUILTIN["GET"], settings={"iterations": 4000, "interval": 0.005},
        )  # fmt: skip

        def run() -> None:
            session = open_session(read_client(inventory), answer_timeout=answer_timeout)
            with session:
                try:
                    measure(session, spec)
                except BaseException as exc:
                    self.raised.append(exc)

        self.worker = threading.Thread(target=run)
        self.worker.start()
        self.client_pids = self._wait_for_client(url)

    def _wait_for_client(self, url: str) -> list[int]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.worker.is_alive():
            if found := measuring_pids(descendants(self.sshd.process.pid), url):
                return found
            time.sleep(0.05)
        raise AssertionError(f"bench_client never started on the client: {self.raised}")

    def sshd_processes(self) -> list[int]:
        """The per-connection sshd processes (not the listener, not the client)."""
        return [
            pid for pid in descendants(self.sshd.process.pid) if cmdline(pid).startswith("sshd")
        ]

    def connection_lost(self) -> str:
        """The measurement's error, checked: connection lost, named, nothing touched."""
        self.worker.join(timeout=120)
        assert not self.worker.is_alive()
        assert len(self.raised) == 1, self.raised
        error = self.raised[0]
        assert isinstance(error, ConnectionLostError), error
        message = str(error)
        assert "testclient" in message and "django-daphne" in message
        assert "connection lost" in message
        assert self.collected.read_text() == PREVIOUS_CSV
        assert not (self.out_dir / "constant" / "django-daphne").exists()
        return message

    def clean_up(self, pids: list[int]) -> None:
        """End the processes this test stopped or orphaned (all of our own sshd)."""
        for pid in [*pids, *self.client_pids]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                os.kill(pid, signal.SIGCONT)


def previous_result(out_dir: Path) -> Path:
    collected = out_dir / "constant" / "flask-dev" / "GET.csv"
    collected.parent.mkdir(parents=True)
    collected.write_text(PREVIOUS_CSV)
    return collected
