"""httplab_access_log: true turns the per-request log on for every server, which
shows that the flags behind the default (off) are the ones that matter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps import probe
from tests.apps.conftest import stacks_to_test, start_stack, stop


@pytest.mark.parametrize("stack", stacks_to_test(), ids=lambda stack: stack["name"])
def test_access_log_can_be_turned_on(
    stack: dict[str, Any], server_venv: Path, tmp_path: Path
) -> None:
    running = start_stack(stack, server_venv, tmp_path / "server.log", access_log=True)
    try:
        target = probe.Target(running.base_url, 1048576)
        # The marker is in the path: Granian's and Hypercorn's logs leave the query out.
        assert target.request("GET", "/access-log-marker").status == 404
    finally:
        stop(running.process)
    assert "/access-log-marker" in running.output()
