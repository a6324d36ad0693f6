"""Every stack of the matrix, run under its real server, against every probe of
the contract (apps/probe.py is also what the verify playbook runs on the server)."""

from __future__ import annotations

import http.client

import pytest

from apps import probe
from tests.apps.conftest import RunningStack


@pytest.mark.parametrize("check", list(probe.CHECKS))
def test_contract(running_stack: RunningStack, check: str) -> None:
    problem = probe.CHECKS[check](probe.Target(running_stack.base_url, 1048576))
    assert problem is None, f"{running_stack.name}: {check}: {problem}"


def test_no_request_is_logged(running_stack: RunningStack) -> None:
    """Access logs are off on every stack, so none pays for writing them."""
    target = probe.Target(running_stack.base_url, 1048576)
    for _ in range(3):
        assert target.request("GET", "/get?access-log-marker").status == 200
    assert "access-log-marker" not in running_stack.output()


def test_trailing_slash_is_not_redirected(running_stack: RunningStack) -> None:
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(running_stack.base_url.rsplit(":", 1)[1])
    )
    try:
        connection.request("GET", "/get/")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    assert response.getheader("Location") is None
