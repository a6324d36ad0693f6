"""Ctrl-C and the terminal: real subprocesses, real signals, a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and pty are POSIX here")


def _command(server, out: Path, mode: str, iterations: int) -> list[str]:
    extra = ["--rate", "200"] if mode == "rate" else ["--interval", "0"]
    return [
        sys.executable,
        "-m",
        "bench_client",
        "--base-url",
        server.url,
        "--method",
        "GET",
        "--mode",
        mode,
        "--iterations",
        str(iterations),
        *extra,
        "--out",
        str(out),
        "--calibration",
        "off",
        "--warmup",
        "0",
    ]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupt_when(
    server, requests: int, command: list[str], *, group: bool = False, background: bool = False
) -> tuple[int, str]:
    """Run `command`, SIGINT it once `server` has seen `requests`: (exit code, stderr).

    ``group``: every process `command` started gets the signal (its own process group), as
    from a terminal's Ctrl-C or the guard; else the first process alone. ``background``:
    started with SIGINT ignored, as a shell starts a background job.
    """
    process = subprocess.Popen(
        command, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=group, preexec_fn=_ignore_sigint if background else None,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while server.count < requests and time.monotonic() < deadline:
            time.sleep(0.05)
        if group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, err


@posix_only
def test_ctrl_c_stops_a_client_started_as_a_background_job(server, tmp_path):
    """A background job starts with SIGINT ignored; bench_client still stops and writes."""
    server.delay = 0.01
    out = tmp_path / "GET.csv"
    command = _command(server, out, "constant", 20_000)
    returncode, err = interrupt_when(server, 30, command, background=True)
    assert returncode == 130, err
    assert json.loads(out.with_suffix(".meta.json").read_text())["interrupted"] is True


@posix_only
@pytest.mark.parametrize("mode", ["constant", "keepalive", "concurrent", "rate"])
def test_ctrl_c_writes_what_was_measured_marked_interrupted(server, tmp_path, mode):
    server.delay = 0.01
    out = tmp_path / "GET.csv"
    returncode, err = interrupt_when(server, 30, _command(server, out, mode, 20_000))
    assert returncode == 130, err
    assert "interrupted" in err
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["interrupted"] is True
    rows = out.read_text().splitlines()[1:]
    assert 10 <= len(rows) < 20_000
    assert meta["requests"] == len(rows)
    # What was cut off mid-flight is not in the file, and nothing is recorded as 0.
    assert all(row.split(",")[1] != "0" for row in rows)


@posix_only
def test_progress_bar_only_on_a_terminal(server, tmp_path):
    import fcntl  # POSIX only, like the two below
    import pty
    import termios

    controller, terminal = pty.openpty()
    # A fresh pty is 0 columns wide, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    command = _command(server, tmp_path / "GET.csv", "keepalive", 50)
    try:
        done = subprocess.run(
            command, env=ENV, stdout=subprocess.PIPE, stderr=terminal, timeout=60, check=False
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    assert b"50/50" in shown
    assert b"keepalive GET" in shown
    quiet = subprocess.run(
        [*command, "--quiet"], env=ENV, capture_output=True, timeout=60, check=False
    )
    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == (b"", b"")
