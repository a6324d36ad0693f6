"""The server's half of the noise guard (bench_client/noise.py): /proc read over SSH.

The orchestrator reads the server after each measurement (while its files are
fetched), over one SSH connection to the server for the whole run (the
inventory's settings, host key checked), and once before each group's first;
one reader process there answers every reading (SERVER_READING --serve). A
measurement's window runs from the reading before it (the last one's, within a
group) to the one after it: it spans the whole client invocation (its start,
probe and warm-up) and the orchestrator's work since the last measurement, a
second or so more than the timed requests; the stack under test's own CPU time
is left out of "others" wherever it falls. A server that
cannot be read does not stop the measurement: the meta file then says why its
half is missing.

Through the group the same connection runs the resource sampler
(orchestrator/server_sampler.py), whose samples around each measurement's timed
window go beside its CSV.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import paramiko

from bench_client import noise
from bench_client.results_format import write_atomic
from orchestrator.remote import RemoteError
from orchestrator.remote.inventory import (
    CLIENT_GROUP,
    SERVER_GROUP,
    ClientHost,
    InventoryError,
    client_from_hostvars,
    group_hosts,
    list_inventory,
)
from orchestrator.remote.session import connect
from orchestrator.server_sampler import MISSING, ServerSampler, sampler_command

READING_TIMEOUT_S = 30.0  # a reading takes milliseconds; a server this slow to answer is lost


def lab_hosts(inventory: str) -> tuple[list[ClientHost], ClientHost | None]:
    """The clients (at least one) and the server of the inventory, from one
    `ansible-inventory` call."""
    listing = list_inventory(inventory)
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    clients = group_hosts(listing, CLIENT_GROUP)
    if not clients:
        raise InventoryError(f"{inventory} has no host in group {CLIENT_GROUP}")
    servers = group_hosts(listing, SERVER_GROUP)
    server = client_from_hostvars(servers[0], hostvars.get(servers[0], {})) if servers else None
    return [client_from_hostvars(name, hostvars.get(name, {})) for name in clients], server


def unit_of(stack: str) -> str:
    """The systemd unit of a stack (roles/httplab/templates/httplab-stack.service.j2)."""
    return f"httplab-{stack}.service"


class ServerWatch:
    """Readings of the server around each measurement, over one connection; never raises.

    Used as a context manager: the connection opens on entry and closes on exit;
    `start` and `stop` read the server before and after each measurement.
    """

    def __init__(self, host: ClientHost | None) -> None:
        self.host = host
        self.units: list[str] = []  # the units under test: their CPU time is "own"
        self.connection: Any = None
        self.before: noise.Reading | None = None
        self.last: noise.Reading | None = None  # the reading after the last measurement
        self.problem = "" if host else "the inventory has no host in group servers"
        self.sampler: ServerSampler | None = None
        self.reader: _Reader | None = None  # opened at the first reading
        # The database's unit (PostgreSQL on the server, for the database workloads): sampled
        # beside the stack's, and its CPU counted as the measurement's own, not as noise.
        self.database_unit: str | None = None

    def __enter__(self) -> ServerWatch:
        if self.host is not None:
            try:
                self.connection = connect(self.host)
            except RemoteError as error:
                self.problem = f"cannot reach the server: {error}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end_group()
        if self.reader is not None:
            self.reader.close()
        if self.connection is not None:
            self.connection.close()

    def start(self, stacks: list[str]) -> None:
        """Begin a measurement of ``stacks``: within a group of measurements of the same
        stacks the last reading begins it; else the server is read and its sampler started."""
        units = [unit_of(stack) for stack in stacks]
        if self.database_unit:
            units.append(self.database_unit)
        sampling = self.sampler is not None and self.sampler.running
        if units == self.units and sampling and self.last is not None:
            self.before = self.last
            return
        self.end_group()
        self.units = units
        if self.connection is None:
            return
        self.problem = ""  # an earlier measurement's failed reading is not this one's
        command = sampler_command(self.python(), self.units, self.become)
        self.sampler = ServerSampler(self.connection.transport, command)
        self.sampler.launch()  # its Python starts on the server while the server is read
        self.before = self._read()
        self.sampler.wait_started()

    def stop(self) -> dict[str, Any] | None:
        """The server's window since `start`, or None (and self.problem says why)."""
        if self.sampler is not None:
            self.sampler.snapshot()
        after = self._read() if self.before is not None else None
        self.last = after
        if self.before is None or after is None:
            return None
        return noise.window(self.before, after)

    def end_group(self) -> None:
        """Stop the sampler: the stacks it samples are about to stop, or the run is over."""
        if self.sampler is not None:
            self.sampler.stop()
        self.sampler = None
        self.before = self.last = None

    def save_samples(self, stack: str, path: Path, meta_path: Path) -> tuple[str | None, str]:
        """Write ``stack``'s resource samples around the timed window of ``meta_path``'s
        measurement to ``path`` (after stop): (sha256, "") or (None, "server samples missing:
        <cause>")."""
        if self.sampler is None:
            saved = None, MISSING + (self.problem or "the sampler was not started")
        else:
            saved = self.sampler.save(unit_of(stack), path, timed_window(meta_path))
        if saved[0] is None:
            path.unlink(missing_ok=True)  # an earlier attempt's samples do not belong to this CSV
        return saved

    def save_database_samples(self, path: Path, meta_path: Path) -> str | None:
        """Write the database's samples around the measurement to ``path``: its sha256, or
        None (no database sampled, or its samples missing: the cell goes without them)."""
        if self.database_unit is None or self.sampler is None:
            return None
        saved, _ = self.sampler.save(self.database_unit, path, timed_window(meta_path))
        if saved is None:
            path.unlink(missing_ok=True)
        return saved

    @property
    def become(self) -> bool:
        """Whether the inventory says to become root on the server (sudo)."""
        assert self.host is not None
        return bool(self.host.hostvars.get("ansible_become"))

    def python(self) -> str:
        """The server's python3 (the inventory's interpreter when it names a path)."""
        assert self.host is not None
        # ansible_python_interpreter may be "auto" and the like: a path is used as is.
        interpreter = str(self.host.hostvars.get("ansible_python_interpreter", ""))
        return interpreter if interpreter.startswith("/") else "python3"

    def _read(self) -> noise.Reading | None:
        """A reading from the run's reader on the server (started at the first)."""
        assert self.host is not None and self.connection is not None
        if self.reader is None:
            command = shlex.join([self.python(), "-c", noise.SERVER_READING, "--serve"])
            try:
                self.reader = _Reader(self.connection.transport, command)
            except (OSError, paramiko.SSHException) as error:
                self.problem = f"reading the server failed: {error or type(error).__name__}"
                return None
        reading, problem = self.reader.read(self.units)
        if reading is None:  # the reading is optional; the next one starts a new reader
            self.problem = f"reading the server failed: {problem}"
            self.reader.close()
            self.reader = None
        return reading


class _Reader:
    """SERVER_READING --serve on the server: a reading for each request, one Python start and
    one SSH channel for all of them (a reading each took a Python start: 25 ms)."""

    def __init__(self, transport: paramiko.Transport, command: str) -> None:
        self.channel = transport.open_session()
        self.channel.settimeout(READING_TIMEOUT_S)
        self.channel.exec_command(command)
        self.answers = self.channel.makefile("r")

    def read(self, units: list[str]) -> tuple[noise.Reading | None, str]:
        """(the reading, "") or (None, why there is none)."""
        try:
            self.channel.sendall(json.dumps(units).encode() + b"\n")
            line = self.answers.readline()
        except (OSError, paramiko.SSHException) as error:
            return None, str(error) or type(error).__name__
        if not line:  # it ended: its error, if it said one
            said = self.channel.makefile_stderr("r").read().decode(errors="replace").strip()
            return None, said[-200:] or "the reader ended"
        return json.loads(line), ""

    def close(self) -> None:
        self.channel.close()


def timed_window(meta_path: Path) -> tuple[float, float] | None:
    """A measurement's timed window (Unix seconds) from its meta file, if it has one."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not (meta.get("started") and meta.get("finished")):
        return None
    started, finished = (datetime.fromisoformat(meta[key]) for key in ("started", "finished"))
    return started.timestamp(), finished.timestamp()


def add_to_meta(meta_path: Path, server: dict[str, Any] | None, problem: str) -> str:
    """Put the server's window into the meta file's host_noise; return the new sha256."""
    document = json.loads(meta_path.read_text(encoding="utf-8"))
    client = document.get("host_noise", {}).get("client")
    document["host_noise"] = noise.host_noise(client, server, problem)
    return write_atomic(meta_path, json.dumps(document, indent=2) + "\n")
