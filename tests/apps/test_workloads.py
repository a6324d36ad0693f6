"""The test types (apps/workloads.py) on every stack of the paper's matrix and of the modern
preset, each under its real server with a real PostgreSQL (tests/apps/postgres.py): each
type passes the probe's verification (apps/probe.py: what the verify phase runs before any
type is timed), the updates reach the database, and waits overlap as far as the stack's
concurrency model allows: for the I/O wait and for the database alike, which is where a
driver that does not yield to gevent would show."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apps import probe
from tests.apps import postgres as pg
from tests.apps.conftest import (
    POOL_SIZE,
    WORKERS,
    RunningStack,
    load_stacks,
    start_stack,
    stop,
)

# Kinds that serve one request at a time per worker process: at most WORKERS waits at once.
SERIAL_KINDS = {"gunicorn"}
IO_REQUESTS = 16
IO_MS = 300


def _get(base_url: str, path: str, timeout: float = 30) -> tuple[int, bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _at_once(
    base_url: str, path: str, count: int, concurrency: int | None = None
) -> list[tuple[int, bytes]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency or count) as pool:
        return list(pool.map(lambda _: _get(base_url, path), range(count)))


def _serial(stack: RunningStack) -> bool:
    return stack.server in SERIAL_KINDS


@pytest.mark.parametrize("test_type", probe.TEST_TYPES)
def test_the_test_type_passes_its_verification(db_stack: RunningStack, test_type: str) -> None:
    verdict = probe.verify_test_types(db_stack.base_url, [test_type])[test_type]
    failures = [f"{r.check}: {r.detail}" for r in verdict.results if not r.ok]
    assert verdict.ok, f"{db_stack.name}: {test_type} fails at {verdict.failed!r}: {failures}"


def test_updates_are_written_to_the_database(db_stack: RunningStack, postgres: pg.Cluster) -> None:
    status, body = _get(db_stack.base_url, "/updates?queries=20")
    assert status == 200, body[:200]
    answered = {row["id"]: row["randomNumber"] for row in json.loads(body)}
    assert len(answered) == 20
    ids = ",".join(str(id_) for id_ in answered)
    stored = postgres.sql(f"SELECT id, randomnumber FROM world WHERE id IN ({ids})")
    assert {int(id_): int(number) for id_, number in stored} == answered


def test_io_waits_overlap_as_the_server_allows(db_stack: RunningStack) -> None:
    """16 waits of 300 ms at once: a serial kind's 2 workers take them 2 at a time (the
    W x 1000 / ms requests/s bound, never beaten); every other kind overlaps them."""
    started = time.monotonic()
    replies = _at_once(db_stack.base_url, f"/io?ms={IO_MS}", IO_REQUESTS)
    took = time.monotonic() - started
    assert all(status == 200 for status, _ in replies), replies[:3]
    serial_bound = IO_REQUESTS / WORKERS * IO_MS / 1000
    if _serial(db_stack):
        assert took >= serial_bound * 0.95, f"{db_stack.name}: {took:.2f} s"
    else:
        assert took < serial_bound / 2, f"{db_stack.name}: {took:.2f} s, as if serial"


def _waiting_queries(stack: RunningStack, postgres: pg.Cluster, count: int) -> int:
    """How many /db queries wait for a lock on world at once, with `count` requests sent."""
    with postgres.locked("world", 2.0), concurrent.futures.ThreadPoolExecutor(count) as pool:
        replies = [pool.submit(_get, stack.base_url, "/db") for _ in range(count)]
        time.sleep(1.2)
        waiting = postgres.lock_waiters()
    assert all(reply.result()[0] == 200 for reply in replies)
    return waiting


def test_database_waits_overlap_as_the_server_allows(
    db_stack: RunningStack, postgres: pg.Cluster
) -> None:
    """With world locked, 12 requests of /db: a serial kind has at most one query waiting per
    worker; a threaded, greenlet or event-loop kind has more (up to its pools' connections),
    the other requests of a worker going on while one waits for the database."""
    waiting = _waiting_queries(db_stack, postgres, 12)
    if _serial(db_stack):
        assert waiting <= WORKERS, f"{db_stack.name}: {waiting} queries waited at once"
    else:
        assert WORKERS < waiting <= WORKERS * POOL_SIZE, (
            f"{db_stack.name}: {waiting} queries waited at once: a worker waited for the "
            "database alone"
        )


def test_psycopg_waiting_in_c_would_block_gevent(
    server_venv: Path, postgres: pg.Cluster, tmp_path: Path
) -> None:
    """The control for the gevent stack: psycopg's C wait function (what it uses unless it
    sees gevent's patched select when it is imported) holds the whole worker while a query
    waits, so no more than one query per worker waits at once."""
    stack = next(entry for entry in load_stacks() if entry["server"] == "gunicorn-gevent")
    environment = {
        **postgres.env,
        "HTTPLAB_DB_POOL_SIZE": str(POOL_SIZE),
        "PSYCOPG_WAIT_FUNC": "wait_c",
    }
    running = start_stack(stack, server_venv, tmp_path / "server.log", environment=environment)
    try:
        assert _waiting_queries(running, postgres, 12) <= WORKERS
    finally:
        stop(running.process)


# One stack of each way of reaching the database: psycopg's pool (sync, under gevent),
# its async pool, Django's ORM synchronous and async.
UPDATERS = ("flask-gunicorn-gevent", "fastapi-uvicorn", "django-gunicorn", "django-daphne")


UPDATED_ROWS = 200


@pytest.mark.parametrize("name", UPDATERS)
def test_concurrent_updates_of_overlapping_rows_never_deadlock(
    name: str, server_venv: Path, postgres: pg.Cluster, tmp_path: Path
) -> None:
    """24 requests, as many at once as the stack's pools have connections, each changing 200
    of the 10,000 rows (any two share 4 on average): all answered 200, and PostgreSQL
    counted no deadlock. (With the rows taken in random order instead of id order, this
    found deadlocks: docs/traps.md.)"""
    stack = next(entry for entry in load_stacks() if entry["name"] == name)
    environment = {**postgres.env, "HTTPLAB_DB_POOL_SIZE": str(POOL_SIZE)}
    running = start_stack(stack, server_venv, tmp_path / "server.log", environment=environment)
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = 'httplab'"
    try:
        before = postgres.sql(deadlocks)
        path = f"/updates?queries={UPDATED_ROWS}"
        replies = _at_once(running.base_url, path, 24, concurrency=WORKERS * POOL_SIZE)
        failed = [(status, body[:200]) for status, body in replies if status != 200]
        assert not failed, f"{name}: {len(failed)} failed: {failed[:2]}"
        assert all(len(json.loads(body)) == UPDATED_ROWS for _, body in replies)
        time.sleep(1.5)  # a backend flushes its statistics at most once a second
        assert postgres.sql(deadlocks) == before
    finally:
        stop(running.process)


# ASGI apps of their own pool under Daphne, which runs no lifespan: their pools open with
# the first request instead (FastAPI's is Starlette's).
NO_LIFESPAN = [
    {"name": f"{app}-daphne", "app": app, "server": "daphne", "port": 5900 + number}
    for number, app in enumerate(("starlette", "litestar", "falcon-asgi"))
]


@pytest.mark.parametrize("entry", NO_LIFESPAN, ids=lambda entry: entry["name"])
def test_async_pools_open_without_a_lifespan(
    entry: dict[str, object], server_venv: Path, postgres: pg.Cluster, tmp_path: Path
) -> None:
    (stack,) = load_stacks([entry])
    environment = {**postgres.env, "HTTPLAB_DB_POOL_SIZE": str(POOL_SIZE)}
    running = start_stack(stack, server_venv, tmp_path / "server.log", environment=environment)
    try:
        types = ("db", "queries", "fortunes", "updates")
        verified = probe.verify_test_types(running.base_url, types)
        failed = {name: verdict.failed for name, verdict in verified.items() if not verdict.ok}
        assert not failed, f"{entry['name']}: {failed}\n{running.output()[-2000:]}"
    finally:
        stop(running.process)
