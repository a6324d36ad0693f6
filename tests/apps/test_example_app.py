"""The example app of yours (examples/bookshelf) under each server kind its matrix names,
started as its unit starts it (its own venv from its own lock, its state directory and its
migration), and checked as the verify phase checks an app of yours: its health path, each
request it declares, and bad input answered by a 4xx or a closed connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps import probe
from tests.apps.conftest import REPO, RunningStack, load_stacks, lock_venv, start_stack, stop

EXAMPLE = yaml.safe_load((REPO / "examples" / "bookshelf" / "httplab.yml").read_text())


def example_stacks() -> list[dict[str, Any]]:
    from tests.apps.conftest import MATRIX, REQUIREMENTS, role_vars

    return MATRIX.deployment(
        EXAMPLE["httplab_stacks"], EXAMPLE["httplab_apps"],
        role_vars()["httplab_stack_servers"], "/opt/httplab", str(REPO), str(REQUIREMENTS),
    )  # fmt: skip


@pytest.fixture(scope="module", params=example_stacks(), ids=lambda stack: stack["name"])
def bookshelf(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    stack = request.param
    log = tmp_path_factory.mktemp(stack["name"]) / "server.log"
    running = start_stack(stack, lock_venv(Path(stack["lock"])), log)
    yield running
    stop(running.process)


def test_the_example_matrix_names_four_server_kinds() -> None:
    assert len({stack["server"] for stack in example_stacks()}) >= 4


def test_every_check_of_an_app_of_yours_passes(bookshelf: RunningStack) -> None:
    app = EXAMPLE["httplab_apps"]["bookshelf"]
    results = probe.run(bookshelf.base_url, 1048576, 2, 20, ("/health", app["requests"], []))
    failed = [f"{r.check}: {r.detail}" for r in results if not r.ok]
    assert not failed, f"{bookshelf.name}: {failed}\n{bookshelf.output()[-2000:]}"
    declared = [r.check for r in results if r.check.endswith("as declared")]
    assert declared == [
        "list: GET /books?limit=20 as declared",
        "book: GET /books/1 as declared",
        "add: POST /books as declared",
    ]


def test_a_request_that_answers_otherwise_than_declared_fails_naming_why(
    bookshelf: RunningStack,
) -> None:
    wrong = [{"name": "missing", "path": "/books/999999", "expect": {"status": 200}}]
    results = probe.run(bookshelf.base_url, 1048576, 2, 20, ("/health", wrong, []))
    (check,) = [r for r in results if r.check.startswith("missing:")]
    assert not check.ok and check.detail == "HTTP 404"


def test_the_lab_matrix_is_not_changed_by_the_example() -> None:
    assert all(not stack["own"] for stack in load_stacks())
