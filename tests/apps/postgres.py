"""A private PostgreSQL cluster for the app tests, from the host's Debian package
(postgresql-15: the Makefile's HOST_PACKAGES): initdb into a temporary directory, listening
on loopback at a free port with a generated password, seeded with apps/database.sql.

As root the cluster runs as the unprivileged `postgres` user (PostgreSQL refuses root), as
anyone else as that user. Nothing here touches the host's own clusters.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "apps" / "database.sql"
DATABASE = "httplab"
USER = "httplab"
START_TIMEOUT_S = 30


def find_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """One initdb'd cluster: start(), stop(), sql(); env is what an app gets (libpq's)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="httplab-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        self.env = {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGDATABASE": DATABASE,
            "PGUSER": USER,
            "PGPASSWORD": self.password,
        }

    def _psql_argv(self, database: str) -> list[str]:
        return [
            str(self.bin / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
            database,
        ]

    def _run(self, *argv: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(part) for part in argv],
            check=True,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **kwargs.pop("env", {})},
            **self._as,
            **kwargs,
        )

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(
            self.bin / "initdb",
            "--pgdata",
            self.data,
            "--username",
            USER,
            "--pwfile",
            pwfile,
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
        )
        pwfile.unlink()
        self.start()
        self.sql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.psql("--file", "-", input=SEED.read_text())  # stdin: the checkout may be private

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c max_connections=300 -c fsync=off"
        )
        self._run(
            self.bin / "pg_ctl",
            "start",
            "--pgdata",
            self.data,
            "--wait",
            "--timeout",
            str(START_TIMEOUT_S),
            "--log",
            self.root / "server.log",
            "-o",
            options,
        )

    def stop(self) -> None:
        self._run(self.bin / "pg_ctl", "stop", "--pgdata", self.data, "--mode", "fast", "--wait")

    def running(self) -> bool:
        status = subprocess.run(
            [str(self.bin / "pg_ctl"), "status", "--pgdata", str(self.data)],
            capture_output=True,
            check=False,
            **self._as,
        )
        return status.returncode == 0

    def psql(self, *argv: str | Path, database: str = DATABASE, input: str | None = None) -> str:
        return self._run(
            *self._psql_argv(database),
            *argv,
            env=self.env,
            input=input,
        ).stdout

    def sql(self, query: str, database: str = DATABASE) -> list[list[str]]:
        """The rows of `query`, each a list of its columns as text."""
        output = self.psql("--field-separator", "\t", "--command", query, database=database)
        return [line.split("\t") for line in output.splitlines() if line]

    @contextmanager
    def locked(self, table: str, seconds: float) -> Iterator[None]:
        """`table` locked against every read for `seconds` by a session of its own; the
        block starts once the lock is held, and ends when it has been let go."""
        holder = subprocess.Popen(
            [
                *self._psql_argv(DATABASE),
                "--command",
                f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;"
                f" SELECT pg_sleep({seconds}); COMMIT;",
            ],
            cwd=self.root,
            env={"PATH": "/usr/bin:/bin", **self.env},
            stdout=subprocess.DEVNULL,
            **self._as,
        )
        held = (
            "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = pg_locks.relation"
            f" WHERE relname = '{table}' AND mode = 'AccessExclusiveLock' AND granted"
        )
        try:
            deadline = time.monotonic() + 10
            while self.sql(held) != [["1"]]:
                if holder.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"could not lock {table}: psql exited {holder.poll()}")
                time.sleep(0.05)
            yield
        finally:
            holder.wait(timeout=seconds + 10)

    def lock_waiters(self) -> int:
        """Sessions of the database waiting for a lock now."""
        waiting = (
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{DATABASE}'"
            " AND wait_event_type = 'Lock'"
        )
        return int(self.sql(waiting)[0][0])

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""
