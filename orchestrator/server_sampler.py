"""Run orchestrator/resource_sampler.py on the server for a group of measurements; keep samples.

The sampler travels as text over the noise guard's SSH connection to the
server (orchestrator/server_noise.py starts it with the group's first reading
and stops it after the group), so the server needs nothing installed beyond
python3. After each measurement it is asked for its samples so far, and each
measurement keeps those around its own timed window. It runs under `sudo -n`
where the inventory says to become root (only root may count another user's
open files), else as the SSH user, which reads everything else.

It prints its samples when its standard input closes; each unit's document
comes with the sha256 the server computed, checked again when the file is
written beside the cell's CSV. Nothing here raises: a sampler that cannot
start, dies or answers wrongly leaves ``problem`` set, and the measurement is
recorded without samples ("server samples missing: <cause>").
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import paramiko

from bench_client.results_format import SAMPLES_SCHEMA, sha256_bytes, write_atomic
from orchestrator import resource_sampler
from orchestrator.remote.session import python_snippet

INTERVAL_S = 0.1  # docs/method.md, "Server resource use": why 10 Hz
ANSWER_TIMEOUT_S = 30.0  # to start (systemctl) and, at the end, to print the samples
_SOURCE = Path(resource_sampler.__file__).read_text(encoding="utf-8")
MISSING = "server samples missing: "
# The samples kept either side of a measurement's timed window: its times are the client's
# clock, the samples' the server's, and their offset is not measured (docs/method.md).
MARGIN_S = 2.0


def sampler_command(python: str, units: list[str], become: bool) -> str:
    """The shell command that runs the sampler; with ``become``, as root if sudo allows."""
    argv = [python, *python_snippet(_SOURCE), "--interval", str(INTERVAL_S)]
    argv += ["--schema", str(SAMPLES_SCHEMA), *units]
    command = shlex.join(argv)
    if not become:
        return command
    # Without a password-less sudo it still runs, and the samples say the fds were unreadable.
    return f"if sudo -n true 2>/dev/null; then exec sudo -n {command}; else exec {command}; fi"


class ServerSampler:
    """The sampler of one measurement, on an open SSH transport to the server."""

    def __init__(self, transport: paramiko.Transport, command: str) -> None:
        self.transport = transport
        self.command = command
        self.channel: paramiko.Channel | None = None
        self.stdout: Any = None
        self.pid: int | None = None
        self.files: dict[str, dict[str, str]] = {}
        self.problem = ""

    def launch(self) -> None:
        """Start the sampler without waiting for it: the caller may read the server meanwhile."""
        try:
            self.channel = self.transport.open_session()
            self.channel.settimeout(ANSWER_TIMEOUT_S)
            self.channel.exec_command(self.command)
            self.stdout = self.channel.makefile("r")
        except (OSError, paramiko.SSHException) as error:
            self._give_up(f"the sampler did not start: {error or type(error).__name__}")

    def wait_started(self) -> None:
        """Wait until the launched sampler says it samples (its first line, its pid)."""
        if self.channel is None:
            return
        try:
            first = self._answer(self.stdout.readline(), "pid")
        except (OSError, paramiko.SSHException) as error:
            self._give_up(f"the sampler did not start: {error or type(error).__name__}")
            return
        if first is not None:
            self.pid = first["pid"]

    def snapshot(self) -> None:
        """Read the samples so far into ``files``; the sampler goes on."""
        if self.channel is None:
            return
        try:
            self.channel.sendall(b"\n")
            line = self.stdout.readline()
        except (OSError, paramiko.SSHException):
            line = ""  # its channel has closed: the sampler has ended, and _answer says how
        answer = self._answer(line, "files")
        if answer is not None:
            self.files = answer["files"]

    @property
    def running(self) -> bool:
        return self.channel is not None

    def stop(self) -> None:
        """Close the sampler's standard input and read its samples."""
        if self.channel is None:
            return
        try:
            self.channel.shutdown_write()
            lines = self.stdout.read().splitlines()
        except (OSError, paramiko.SSHException) as error:
            self._give_up(f"the sampler's answer was lost: {error or type(error).__name__}")
            return
        answer = self._answer(lines[-1] if lines else "", "files")
        self._give_up("")
        if answer is not None:
            self.files = answer["files"]

    def save(
        self, unit: str, path: Path, window: tuple[float, float] | None = None
    ) -> tuple[str | None, str]:
        """Write ``unit``'s samples to ``path``: (sha256, "") or (None, MISSING + the cause).

        ``window`` (Unix seconds): write only the samples within MARGIN_S of it (a
        measurement's or a sweep step's share of the group's samples), once the whole
        document's sha256 is checked.
        """
        if unit not in self.files:
            return None, MISSING + (self.problem or f"the sampler returned nothing for {unit}")
        document = self.files[unit]
        received = sha256_bytes(document["text"].encode("utf-8"))
        if received != document["sha256"]:
            return None, MISSING + (
                f"sha256 of {path.name} differs from the server's "
                f"({document['sha256'][:16]}…, here {received[:16]}…)"
            )
        if window is None:
            text = document["text"]
        else:
            text = covering(document["text"], window[0] - MARGIN_S, window[1] + MARGIN_S)
        return write_atomic(path, text), ""

    def _answer(self, line: str | bytes, expected: str) -> dict[str, Any] | None:
        """The sampler's JSON line if it holds ``expected``; else set ``problem``."""
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            answer = {}
        if expected in answer:
            return answer
        if "error" in answer:
            self._give_up(f"the sampler failed: {answer['error']}")
        else:
            what = "starting" if expected == "pid" else "its samples"
            self._give_up(f"the sampler ended without {what}{self._how_it_ended()}")
        return None

    def _how_it_ended(self) -> str:
        """' (exit 1: <stderr>)' or ' (killed)', once the sampler has ended."""
        assert self.channel is not None
        if not self.channel.status_event.wait(ANSWER_TIMEOUT_S):
            return " (still running: stopped)"
        code = self.channel.recv_exit_status()
        if code == -1:  # SSH sent a signal, not an exit status
            return " (killed)"
        said = self.channel.makefile_stderr("r").read().decode(errors="replace").strip()
        return f" (exit {code}{': ' + said[-200:] if said else ''})"

    def _give_up(self, problem: str) -> None:
        self.problem = self.problem or problem
        if self.channel is not None:
            self.channel.close()
        self.channel = None


def covering(text: str, started: float, finished: float) -> str:
    """The samples document ``text`` cut to [started, finished]: the samples inside it and
    the one on each side, so that the counters can be interpolated at both ends."""
    document = json.loads(text)
    column = document["columns"].index("time_unix_s")
    times = [sample[column] for sample in document["samples"]]
    first = max([i for i, time in enumerate(times) if time <= started], default=0)
    last = min([i for i, time in enumerate(times) if time >= finished], default=len(times) - 1)
    document["samples"] = document["samples"][first : last + 1]
    return json.dumps(document, separators=(",", ":")) + "\n"
