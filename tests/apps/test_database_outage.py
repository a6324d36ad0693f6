"""The database stopped while a stack runs: its requests of a database type fail, each
answered 503 with the reason (never a 500, never a hang past the client's patience), the
rest of the stack goes on, and once the database is back the stack serves again by itself.

One stack of each way of reaching the database: psycopg's pool, its async pool (opened by
the lifespan), Django's pool under WSGI and its async ORM under Daphne (no lifespan)."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import pytest

from apps import workloads
from tests.apps import postgres as pg
from tests.apps.conftest import POOL_SIZE, load_stacks, start_stack, stop

OUTAGE_STACKS = ("flask-gunicorn", "fastapi-uvicorn", "django-gunicorn", "django-daphne")
# Each request during the outage is answered within the pool's wait and a margin.
ANSWER_WITHIN_S = workloads.POOL_TIMEOUT_S + 2
RECOVERY_S = 40.0
# Recovered: this many /db answered 200 in a row (each worker's stale connections, broken
# by the restart, fail one request each first).
IN_A_ROW = 20


def _get(base_url: str, path: str) -> tuple[int, bytes, float]:
    port = int(base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN_S + 5)
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        connection.close()


@pytest.mark.parametrize("name", OUTAGE_STACKS)
def test_a_stopped_database_fails_requests_with_503_and_the_stack_recovers(
    name: str, server_venv: Path, postgres: pg.Cluster, tmp_path: Path
) -> None:
    stack = next(entry for entry in load_stacks() if entry["name"] == name)
    environment = {**postgres.env, "HTTPLAB_DB_POOL_SIZE": str(POOL_SIZE)}
    running = start_stack(stack, server_venv, tmp_path / "server.log", environment=environment)
    try:
        assert _get(running.base_url, "/db")[0] == 200
        postgres.stop()
        try:
            for path in ("/db", "/db", "/fortunes", "/updates?queries=5"):
                status, body, took = _get(running.base_url, path)
                assert status == 503, f"{name}: {path}: {status} {body[:200]!r}"
                assert json.loads(body)["error"].startswith("database unavailable: "), body
                assert took < ANSWER_WITHIN_S, f"{name}: {path} took {took:.1f} s"
            assert _get(running.base_url, "/json")[0] == 200
        finally:
            postgres.start()
        back = time.monotonic()
        in_a_row, answers = 0, []
        while in_a_row < IN_A_ROW and time.monotonic() - back < RECOVERY_S:
            status, body, _ = _get(running.base_url, "/db")
            in_a_row = in_a_row + 1 if status == 200 else 0
            answers.append(status)
            if status != 200:
                time.sleep(0.25)
        assert in_a_row == IN_A_ROW, f"{name}: not recovered in {RECOVERY_S} s: {answers[-10:]}"
        print(f"{name}: recovered {time.monotonic() - back:.1f} s after the restart: {answers}")
    finally:
        if not postgres.running():
            postgres.start()
        stop(running.process)
