"""The field's standard test types (TechEmpower's Framework Benchmarks) and an I/O wait,
served by every app beside the contract: what their handlers share.

    GET /json              {"message": "Hello, World!"}, the framework's own JSON
    GET /plaintext         Hello, World! as text/plain
    GET /db                one random World row: {"id": ..., "randomNumber": ...}
    GET /queries?queries=N N random rows, N clamped to 1-500 (missing or bad: 1)
    GET /fortunes          every Fortune and one added at request time, sorted by message,
                           rendered by the framework's template engine (escaped)
    GET /updates?queries=N N random rows, each given a new random number and written back
    GET /io?ms=N           {"ms": N} after a wait of N ms (clamped to 0-1000, bad: 0) that
                           yields in the stack's own concurrency model

A bad parameter never makes an error: it is clamped, and the answer is a 200.

The database is reached through libpq's own environment variables only (PGHOST, PGPORT,
PGDATABASE, PGUSER, PGPASSWORD: the role's EnvironmentFile), each process keeping a pool
of HTTPLAB_DB_POOL_SIZE connections (default 4), made on its first use, so after any fork.
With none of those variables set there is no database: the app still serves the contract,
/json, /plaintext and /io, and the database types answer 503 saying so. A database that
fails (stopped, unreachable, no free connection within POOL_TIMEOUT_S) is a 503 too, never
a 500: the request counts as failed and the stack recovers when the database comes back.

psycopg is imported on first use, not with the app: which wait function it uses is chosen
when it is imported, and under gevent it must see gevent's patched `select` (docs/traps.md).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import random
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from apps import contract

# What the apps serve is what bench_client measures and checks: declared once, there.
from bench_client.request import ADDITIONAL_FORTUNE, HELLO

# The paths of the test types, by the type's name (the name the orchestrator and the report use).
PATHS = {
    "json": "/json",
    "plaintext": "/plaintext",
    "db": "/db",
    "queries": "/queries",
    "fortunes": "/fortunes",
    "updates": "/updates",
    "io": "/io",
}

WORLD_ROWS = 10_000  # World's ids are 1..WORLD_ROWS (apps/database.sql)
MIN_QUERIES, MAX_QUERIES = 1, 500
MIN_IO_MS, MAX_IO_MS = 0, 1000
# apps/templates/fortunes.html: one file that Jinja2 and Django's engine both read.
TEMPLATES = Path(__file__).with_name("templates")
FORTUNES_TEMPLATE = "fortunes.html"

LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")
POOL_SIZE = contract.positive_int_from_env("HTTPLAB_DB_POOL_SIZE", 4)
# How long a request waits for a free connection before it is answered 503: under the
# 5 s bench_client waits without progress (httplab_bench_timeout's default), so that a
# stopped database, or a pool too small for the load, shows in the report as this 503 and
# its reason rather than as a client's time-out.
POOL_TIMEOUT_S = 4.0
# A connection that cannot be made is retried with a growing delay (1, 2, 4... s) for this
# long, then given up; the next request that finds no connection starts a fresh attempt.
# So a database back after an outage is reached again within about this long.
RECONNECT_TIMEOUT_S = 10.0
NOT_CONFIGURED = (
    "no database configured: set libpq's PGHOST, PGPORT, PGDATABASE, PGUSER and PGPASSWORD"
)

# Unquoted names: PostgreSQL folds World.randomNumber to world.randomnumber.
SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = %s"
# /updates reads its rows one by one in id order and locks each as it reads it, so that two
# requests never wait for each other's rows in opposite orders (no deadlock at any
# concurrency); its one batched UPDATE then touches only rows it holds.
SELECT_WORLD_FOR_UPDATE = SELECT_WORLD + " FOR UPDATE"
UPDATE_WORLDS = (
    "UPDATE world SET randomnumber = new.randomnumber"
    " FROM unnest(%s::integer[], %s::integer[]) AS new(id, randomnumber)"
    " WHERE world.id = new.id"
)
SELECT_FORTUNES = "SELECT id, message FROM fortune"


class DatabaseUnavailable(contract.ContractError):
    """No database, or it failed: answered 503 with the reason (never a 500)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


def unavailable(error: BaseException) -> DatabaseUnavailable:
    """The 503 for a driver's or ORM's error: its class and first line."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return DatabaseUnavailable(f"database unavailable: {type(error).__name__}: {first_line}")


def _clamped(raw: str | None, low: int, high: int, default: int) -> int:
    try:
        value = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def queries(raw: str | None) -> int:
    """N of /queries and /updates: clamped to 1-500; missing or not a number: 1."""
    return _clamped(raw, MIN_QUERIES, MAX_QUERIES, MIN_QUERIES)


def io_ms(raw: str | None) -> int:
    """N of /io: clamped to 0-1000 ms; missing or not a number: 0."""
    return _clamped(raw, MIN_IO_MS, MAX_IO_MS, MIN_IO_MS)


def json_payload() -> dict[str, str]:
    return {"message": HELLO}


def io_payload(ms: int) -> dict[str, int]:
    return {"ms": ms}


def random_id() -> int:
    return random.randint(1, WORLD_ROWS)  # noqa: S311 - test data, not a secret


def update_ids(count: int) -> list[int]:
    """The rows /updates changes: distinct, in id order."""
    return sorted(random.sample(range(1, WORLD_ROWS + 1), count))


def random_number() -> int:
    return random.randint(1, WORLD_ROWS)  # noqa: S311


def world(row: tuple[int, int]) -> dict[str, int]:
    """A World row as the test types answer it."""
    return {"id": row[0], "randomNumber": row[1]}


class Fortune(NamedTuple):
    id: int
    message: str


def with_added_fortune(rows: Iterable[tuple[int, str]]) -> list[Fortune]:
    """The fortunes to render: the table's and the one added at request time (id 0),
    sorted by message."""
    fortunes = [Fortune(*row) for row in rows]
    fortunes.append(Fortune(0, ADDITIONAL_FORTUNE))
    fortunes.sort(key=lambda fortune: fortune.message)
    return fortunes


def database_configured() -> bool:
    """Whether libpq's environment names a database (any of its variables set)."""
    return any(os.environ.get(name) for name in LIBPQ_VARIABLES)


def database_name() -> str:
    """The database libpq connects to: PGDATABASE, else (as libpq does) the user's name."""
    return os.environ.get("PGDATABASE") or os.environ.get("PGUSER") or getpass.getuser()


def _pool_settings() -> dict[str, Any]:
    """psycopg_pool's settings, the same for the sync and the async pool (and Django's)."""
    return {
        "min_size": POOL_SIZE,
        "max_size": POOL_SIZE,
        "timeout": POOL_TIMEOUT_S,
        "reconnect_timeout": RECONNECT_TIMEOUT_S,
    }


def pool_options() -> dict[str, Any]:
    """Django's OPTIONS["pool"]: the same pool as the other apps'."""
    return _pool_settings()


def _new_pool(kind: Any) -> Any:
    # An empty conninfo: libpq takes everything from its environment variables. Autocommit:
    # a read is one round trip, /updates opens its transaction itself.
    return kind("", kwargs={"autocommit": True}, open=False, name="httplab", **_pool_settings())


class Database:
    """This process's pool of psycopg connections (psycopg_pool.ConnectionPool), made on the
    first request that needs it: after the server forked its workers, never before."""

    def __init__(self) -> None:
        self._pool: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def pool(self) -> Any:
        if not database_configured():
            raise DatabaseUnavailable(NOT_CONFIGURED)
        if self._pool is None or self._pid != os.getpid():
            with self._lock:
                if self._pool is None or self._pid != os.getpid():
                    from psycopg_pool import ConnectionPool

                    pool = _new_pool(ConnectionPool)
                    pool.open(wait=False)  # a database down now is retried meanwhile
                    self._pool, self._pid = pool, os.getpid()
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection of the pool; a database error out of the block is a 503."""
        import psycopg

        try:
            with self.pool().connection() as conn:
                yield conn
        except psycopg.Error as error:
            raise unavailable(error) from error


class AsyncDatabase:
    """This process's psycopg_pool.AsyncConnectionPool, opened in its event loop: by the
    app's startup (lifespan) where the server runs one, else by the first request."""

    def __init__(self) -> None:
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Open the pool now, if there is a database (an app's startup)."""
        if database_configured():
            await self.pool()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def pool(self) -> Any:
        if not database_configured():
            raise DatabaseUnavailable(NOT_CONFIGURED)
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    from psycopg_pool import AsyncConnectionPool

                    pool = _new_pool(AsyncConnectionPool)
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the pool; a database error out of the block is a 503."""
        import psycopg

        try:
            async with (await self.pool()).connection() as conn:
                yield conn
        except psycopg.Error as error:
            raise unavailable(error) from error


# The test types' queries, on a psycopg connection of the pool (autocommit) ...


def select_world(conn: Any) -> dict[str, int]:
    return world(conn.execute(SELECT_WORLD, (random_id(),)).fetchone())


def select_worlds(conn: Any, count: int) -> list[dict[str, int]]:
    """`count` rows, a query each (the test type's rule: no batched reads)."""
    return [select_world(conn) for _ in range(count)]


def select_fortunes(conn: Any) -> list[Fortune]:
    return with_added_fortune(conn.execute(SELECT_FORTUNES).fetchall())


def update_worlds(conn: Any, count: int) -> list[dict[str, int]]:
    with conn.transaction():
        rows = [
            (conn.execute(SELECT_WORLD_FOR_UPDATE, (id_,)).fetchone()[0], random_number())
            for id_ in update_ids(count)
        ]
        conn.execute(UPDATE_WORLDS, _columns(rows))
    return [world(row) for row in rows]


# ... and on a psycopg AsyncConnection.


async def aselect_world(conn: Any) -> dict[str, int]:
    return world(await (await conn.execute(SELECT_WORLD, (random_id(),))).fetchone())


async def aselect_worlds(conn: Any, count: int) -> list[dict[str, int]]:
    return [await aselect_world(conn) for _ in range(count)]


async def aselect_fortunes(conn: Any) -> list[Fortune]:
    return with_added_fortune(await (await conn.execute(SELECT_FORTUNES)).fetchall())


async def aupdate_worlds(conn: Any, count: int) -> list[dict[str, int]]:
    async with conn.transaction():
        rows = []
        for id_ in update_ids(count):
            found = await (await conn.execute(SELECT_WORLD_FOR_UPDATE, (id_,))).fetchone()
            rows.append((found[0], random_number()))
        await conn.execute(UPDATE_WORLDS, _columns(rows))
    return [world(row) for row in rows]


def _columns(rows: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """(ids, numbers) for UPDATE_WORLDS' two arrays."""
    return [id_ for id_, _ in rows], [number for _, number in rows]
