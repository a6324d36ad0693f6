"""bench_client.guard's requests and answers, as the orchestrator's RemoteGuard sends them.

A real guard process on this host, real bench_client processes, a real loopback server
with the stacks' endpoints; the SSH side is in test_fabric.py. Each test runs twice: with
the guard forking bench_client (Linux), and with the spares Windows uses instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench_client.guard import MAX_LINE_BYTES
from bench_client.results_format import ExitCode
from orchestrator.remote.guard import _CLOSED, RemoteGuard
from orchestrator.remote.session import LinePrefixer
from tests.remote.helpers import descendants, measuring_pids

REPO = Path(__file__).resolve().parents[2]
# Quotes, a per cent sign, a dollar: what a shell would have mangled on its way.
PAYLOAD = '{"name": "Jane Doe", "pct": "100%", "cost": "$5"}'


class Guard:
    """A guard process with its channel (stdin and stdout) in the test's hands."""

    def __init__(self, lock: Path, forks: bool) -> None:
        guard = ["-m", "bench_client.guard"]
        if not forks:  # as on Windows, where os.fork does not exist
            guard = [
                "-c",
                "import sys, bench_client.guard as g; g.FORKS = False; sys.exit(g.main())",
            ]
        self.process = subprocess.Popen(
            [sys.executable, *guard, str(lock)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        self.said: list[str] = []

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def ask(self, request: dict[str, Any]) -> None:
        self.send(json.dumps(request).encode() + b"\n")

    def answer(self) -> dict[str, Any]:
        """The next answer; bench_client's lines on the way are kept in ``said``."""
        assert self.process.stdout is not None
        while line := self.process.stdout.readline():
            message = json.loads(line)
            if "say" not in message:
                return message
            self.said.append(message["say"])
        raise AssertionError(f"the guard ended: {self.process.stderr.read()!r}")  # type: ignore[union-attr]

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=60)


@pytest.fixture(params=[True, False], ids=["forked", "spares"])
def guard(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guard]:
    running = Guard(tmp_path / "bench_client.lock", forks=request.param)
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def run_request(url: str, out: Path, *extra: str, method: str = "GET") -> dict[str, Any]:
    meta = out.with_suffix(".meta.json")
    args = ["--base-url", url, "--method", method, "--iterations", "20", "--warmup", "2", *extra]
    args += ["--out", str(out)]
    return {"run": [*args, "--quiet"], "hash": [str(out), str(meta)]}


def test_one_guard_runs_measurements_one_after_another(
    guard: Guard, contract_url: str, tmp_path: Path
) -> None:
    """Each answer names the exit and the sha256 of the files written; arguments arrive whole."""
    outs = [tmp_path / "GET.csv", tmp_path / "POST.csv"]
    guard.ask(run_request(contract_url, outs[0]))
    first = guard.answer()
    guard.ask(run_request(contract_url, outs[1], "--payload", PAYLOAD, method="POST"))
    second = guard.answer()
    for answer, out in zip((first, second), outs, strict=True):
        assert answer["exit"] == ExitCode.DONE, guard.said
        meta = out.with_suffix(".meta.json")
        assert answer["sha256"] == {
            str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in (out, meta)
        }
    meta = json.loads(outs[1].with_suffix(".meta.json").read_text())
    assert json.loads(meta["config"]["request"]["body"]) == json.loads(PAYLOAD)
    assert guard.close() == 129  # its channel closed: it ends


def test_a_request_too_long_to_be_one_is_dropped_and_the_guard_goes_on(guard: Guard) -> None:
    guard.send(b"x" * (MAX_LINE_BYTES + 4096))  # no end of line: it would grow without end
    assert "over 1048576 bytes" in guard.answer()["error"]
    guard.send(b"\n")
    guard.ask({"ports": True})
    assert "ports" in guard.answer()


def test_the_port_budget_is_read_in_the_guard(guard: Guard) -> None:
    guard.ask({"ports": True})
    budget = guard.answer()["ports"]
    low, high = budget["port_range"]
    assert 0 < low < high < 65536 and budget["ports"] == high - low + 1


def test_a_ctrl_c_byte_interrupts_the_measurement_which_keeps_what_it_measured(
    guard: Guard, contract_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "GET.csv"
    guard.ask(run_request(contract_url, out, "--mode", "keepalive", "--iterations", "100000",
                          "--interval", "0.01"))  # fmt: skip
    deadline = time.monotonic() + 60
    while not measuring_pids(descendants(guard.process.pid), contract_url):
        assert time.monotonic() < deadline, "bench_client never started measuring"
        time.sleep(0.05)
    time.sleep(0.5)
    guard.send(b"\x03")
    answer = guard.answer()
    assert answer["exit"] == ExitCode.INTERRUPTED
    assert str(out) in answer["sha256"]
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["interrupted"] is True and 0 < meta["successes"] < 100000


def test_a_ctrl_c_before_the_request_measures_nothing(
    guard: Guard, contract_url: str, tmp_path: Path
) -> None:
    guard.send(b"\x03")
    time.sleep(0.2)  # the byte is read before the request
    guard.ask(run_request(contract_url, tmp_path / "GET.csv"))
    assert guard.answer() == {"exit": ExitCode.INTERRUPTED, "sha256": {}}
    assert not (tmp_path / "GET.csv").exists()


def test_bench_client_refusing_its_arguments_is_an_answer(guard: Guard, tmp_path: Path) -> None:
    guard.ask({"run": ["--method", "GET", "--iterations", "zero", "--out", "x.csv"]})
    assert guard.answer()["exit"] == ExitCode.USAGE
    assert any("--iterations" in line for line in guard.said), guard.said


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (b"not json\n", "not a JSON request"),
        (b'"run"\n', "not a JSON request"),
        (b'{"launch": 1}\n', "unknown request"),
        (b'{"run": "--help"}\n', "unknown request"),
        (b'{"run": ["--help"], "hash": [1]}\n', "unknown request"),
    ],
)
def test_a_malformed_request_gets_an_error_and_the_guard_goes_on(
    guard: Guard, sent: bytes, said: str
) -> None:
    guard.send(sent)
    assert said in guard.answer()["error"]
    guard.ask({"ports": True})
    assert "ports" in guard.answer()


class _Channel:
    """What RemoteGuard's reader needs of an SSH channel: its output, a line at a time."""

    def __init__(self, output: bytes) -> None:
        self.output = output

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.output)


def test_a_logon_scripts_words_are_shown_not_taken_for_an_answer() -> None:
    """A client's logon script may print before the guard starts (a banner, a non-JSON line,
    JSON that is no object): shown on the measurement's stream, never taken for an answer."""
    shown = io.StringIO()
    remote = RemoteGuard.__new__(RemoteGuard)  # no SSH: only the reader's parsing is tested
    remote.stream = LinePrefixer("[client] ", shown)
    remote.answers = queue.Queue()
    remote.channel = _Channel(
        b"Welcome to the lab\r\n[1, 2]\n"
        + json.dumps({"say": "bench_client: 20 requests"}).encode() + b"\n"
        + json.dumps({"exit": 0, "sha256": {}}).encode() + b"\n"
    )  # fmt: skip
    remote._read()
    assert remote.answers.get_nowait() == {"exit": 0, "sha256": {}}
    assert remote.answers.get_nowait() is _CLOSED  # the channel's end, after the answer
    assert shown.getvalue().splitlines() == [
        "[client] Welcome to the lab",
        "[client] [1, 2]",
        "[client] bench_client: 20 requests",
    ]
