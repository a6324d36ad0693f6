"""Fixtures shared by every test area (the embedded two-host lab), and the tiers of tests.

Tests that need the lab take the session-scoped `embedded_lab` fixture. The lab (name
`pytest` or $HTTPLAB_TEST_LAB, its own subnet, so it never touches a developer's `embedded`
lab) comes up once per session, on first use, and goes down at the end of the session.

A test is marked by what it needs, from the fixtures it takes: `lab` (root and the
embedded lab; unless it carries `roles` or `e2e`), `sshd` (a throw-away sshd), `wine`
(Wine), `stacks` (the stacks' real servers in a venv of their own), `postgres` (a private
PostgreSQL cluster from the host's package: tests/apps/postgres.py); `slow` by hand. The
fast tier, `make test-fast` (`pytest --fast`), runs the tests marked none of these
(FAST_TIER).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import api
from lab.errors import LabError

# Two developers testing on one machine at once set HTTPLAB_TEST_LAB to tell their labs apart.
PYTEST_LAB = os.environ.get("HTTPLAB_TEST_LAB", "pytest")
LAB_MARKERS = ("lab", "roles", "e2e")
# What a fixture needs of the machine, as the marker its tests get.
NEEDS = {
    "embedded_lab": "lab",
    "sshd": "sshd",
    "wine": "wine",
    "server_venv": "stacks",
    "postgres": "postgres",
}
FAST_TIER = "not (lab or roles or e2e or sshd or wine or stacks or postgres or slow)"
VENV_BIN = Path(sys.executable).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast", action="store_true", help=f"the fast tier only: the tests marked {FAST_TIER}"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fast"):
        config.option.markexpr = FAST_TIER


# First: xdist's own hook reads the xdist_group markers set here (its hook has no order).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        for fixture, marker in NEEDS.items():
            if fixture not in fixtures:
                continue
            if marker == "lab" and any(item.get_closest_marker(m) for m in LAB_MARKERS):
                continue
            item.add_marker(marker)
        # With `pytest -n 2 --dist loadgroup` (make test) the tests of one shared thing run in
        # one worker, in order: the session's lab, sshd, Wine prefix, stack servers, PostgreSQL
        # cluster (the stacks' tests that take it run in the stacks' worker).
        needs = [
            m
            for m in (*LAB_MARKERS, "sshd", "wine", "stacks", "postgres")
            if item.get_closest_marker(m)
        ]
        if needs:
            item.add_marker(pytest.mark.xdist_group("lab" if needs[0] in LAB_MARKERS else needs[0]))
    # The role tests converge on a fresh server, so the end-to-end runs, which
    # provision the same session lab, go last.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


def require_root() -> None:
    """Skip the calling test unless it runs as root (the lab needs it)."""
    if os.geteuid() != 0:
        pytest.skip("the embedded lab needs root (systemd-nspawn, bridges, cgroups)")


@pytest.fixture(scope="session")
def embedded_lab() -> Iterator[api.Lab]:
    """The `pytest` lab, up for the whole session: .server/.client, .inventory_path."""
    require_root()
    started = time.monotonic()
    try:
        lab = api.up(PYTEST_LAB, progress=lambda message: print(f"lab: {message}"))
    except LabError as exc:
        pytest.fail(f"the embedded lab did not come up: {exc}", pytrace=False)
    print(f"lab: {PYTEST_LAB!r} up in {time.monotonic() - started:.1f} s")
    try:
        yield lab
    finally:
        api.down(PYTEST_LAB)


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """Directory of the control node's tools (ansible, ansible-playbook, fab)."""
    return VENV_BIN
