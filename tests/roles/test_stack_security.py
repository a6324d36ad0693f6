"""What the stacks accept and who reaches them, on the embedded lab's server (real systemd).

Injection: a value that would add a line (a directive) or a specifier to a unit is refused
before anything is written. Reach: the client reaches every stack; an address outside the
allow list (a network namespace of this test on the lab's bridge, and the control node)
is refused on every stack port by the role's nftables table, also where systemd does not
enforce IPAddressAllow= (the lab's containers), while SSH stays open. After the study the
stacks stop, and none starts at boot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.apps.conftest import group_vars
from tests.roles.test_server_roles import STACKS, _active, _fails_cleanly, finish, run_playbook

pytestmark = pytest.mark.roles

INJECTED = "\nExecStartPre=+/bin/sh -c 'touch /root/injected'"
FLASK = group_vars("apps")["flask"]


@pytest.mark.parametrize(
    ("extravars", "expected"),
    [
        ({"httplab_apps": {"flask": {**FLASK, "module": FLASK["module"] + INJECTED}}}, "module"),
        (
            {"httplab_apps": {"flask": {**FLASK, "environment": {"MODE": "fast" + INJECTED}}}},
            "MODE has a control character",
        ),
        ({"httplab_bind_address": "0.0.0.0" + INJECTED}, "httplab_bind_address"),
        ({"httplab_app_root": "/opt/httplab" + INJECTED}, "httplab_app_root"),
        ({"httplab_app_root": "/opt/../etc"}, "httplab_app_root"),
        ({"httplab_service_user": "httplab-svc" + INJECTED}, "httplab_service_user"),
        ({"httplab_allowed_hosts": ["localhost" + INJECTED]}, "httplab_allowed_hosts"),
        ({"httplab_allowed_hosts": ["%h"]}, "httplab_allowed_hosts"),
        ({"httplab_stack_client_addresses": ["any"]}, "httplab_stack_client_addresses"),
        ({"httplab_stack_memory_max": "1G" + INJECTED}, "httplab_stack_memory_max"),
    ],
    ids=[
        "module newline",
        "environment newline",
        "bind newline",
        "app root newline",
        "app root dotdot",
        "user newline",
        "allowed host newline",
        "allowed host specifier",
        "client address word",
        "memory newline",
    ],
)
def test_injection_is_refused_before_anything_is_written(
    embedded_lab, venv_bin, tmp_path, extravars, expected
):
    _fails_cleanly(embedded_lab, venv_bin, tmp_path / "runner", extravars, [expected])
    probe = embedded_lab.server.run("sudo", "-n", "test", "-e", "/root/injected", check=False)
    assert probe.returncode == 1, "the injected ExecStartPre ran"


@pytest.fixture(scope="module")
def provisioned(embedded_lab, venv_bin, tmp_path_factory) -> None:
    run = run_playbook(embedded_lab, venv_bin, tmp_path_factory.mktemp("prov"), "provision.yml")
    assert run.status == "successful", run.failure_messages


def _facts(lab: Any, stack: dict[str, Any]) -> dict[str, Any]:
    return json.loads(lab.server.run("cat", f"/opt/httplab/{stack['name']}/stack.json").stdout)


def _get(address: str, port: int) -> list[str]:
    """Python that exits 0 if GET /get answers 200, 3 if the connection is refused, else 1."""
    code = (
        "import sys, urllib.error, urllib.request as u\n"
        "try:\n"
        f"    answer = u.urlopen('http://{address}:{port}/get', timeout=10)\n"
        "    sys.exit(0 if answer.status == 200 else 1)\n"
        "except urllib.error.URLError as error:\n"
        "    sys.exit(3 if isinstance(error.reason, ConnectionRefusedError) else 1)"
    )
    return ["python3", "-c", code]


def _connects(address: str, port: int) -> list[str]:
    """Python that exits 0 if a TCP connection to address:port opens."""
    return ["python3", "-c", f"import socket; socket.create_connection(('{address}', {port}), 10)"]


@pytest.mark.parametrize("stack", STACKS, ids=lambda stack: stack["name"])
def test_only_the_clients_reach_the_stacks(embedded_lab, provisioned, outsider, stack):
    """The client gets 200; a third namespace on the bridge and the control node (the
    bridge's .1, not a client) are refused, whether or not systemd enforces IPAddressAllow=."""
    get = _get(embedded_lab.server.address, stack["port"])
    assert embedded_lab.client.run(*get, check=False).returncode == 0, "the client must reach it"
    facts = _facts(embedded_lab, stack)
    assert facts["reachable_from"] == ["localhost", embedded_lab.client.address]
    assert "nftables table inet httplab" in facts["reach_enforced_by"]
    for where, prefix in (("a third namespace", outsider), ("the control node", [])):
        run = subprocess.run([*prefix, *get], capture_output=True, text=True)
        assert run.returncode == 3, f"{where} was not refused: exit {run.returncode} {run.stderr}"


def test_the_port_filter_leaves_ssh_open(embedded_lab, provisioned, outsider):
    """Only the stacks' ports are filtered: the outsider still reaches the server's sshd."""
    run = subprocess.run(
        [*outsider, *_connects(embedded_lab.server.address, 22)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert embedded_lab.server.run("true", check=False).returncode == 0


def test_the_port_filter_outlives_a_restart_of_nftables(embedded_lab, provisioned, outsider):
    """nftables.service flushes the whole ruleset when it starts; the filter comes back."""
    sudo = ("sudo", "-n")
    try:
        embedded_lab.server.run(*sudo, "systemctl", "restart", "nftables.service")
        listed = embedded_lab.server.run(*sudo, "nft", "list", "table", "inet", "httplab")
        assert "reject with tcp reset" in listed.stdout
        get = _get(embedded_lab.server.address, STACKS[0]["port"])
        assert subprocess.run([*outsider, *get], capture_output=True).returncode == 3
    finally:
        # Leave nftables.service as the image has it (inactive): stopping it flushes
        # every table, so the filter is loaded again.
        embedded_lab.server.run(*sudo, "systemctl", "stop", "nftables.service")
        embedded_lab.server.run(*sudo, "systemctl", "start", "httplab-port-filter.service")


def test_without_the_port_filter_the_outsider_reaches_every_stack(
    embedded_lab, venv_bin, provisioned, outsider, tmp_path
):
    """httplab_stack_port_filter: false removes the table: the state before it existed.
    Where systemd does not enforce IPAddressAllow= (the lab), the outsider then reaches
    every stack, and stack.json no longer claims anything keeps it out."""
    without = {"httplab_stack_port_filter": False}
    off = run_playbook(embedded_lab, venv_bin, tmp_path / "off", "provision.yml", without)
    try:
        assert off.status == "successful", off.failure_messages
        listed = embedded_lab.server.run("sudo", "-n", "nft", "list", "tables", check=False)
        assert "httplab" not in listed.stdout
        for stack in STACKS:
            facts = _facts(embedded_lab, stack)
            assert facts["reach_enforced_by"] == (
                ["systemd IPAddressAllow="] if facts["enforced"]["ip_address_allow"] else []
            )
            if not facts["enforced"]["ip_address_allow"]:
                get = _get(embedded_lab.server.address, stack["port"])
                reached = subprocess.run([*outsider, *get], capture_output=True).returncode
                assert reached == 0, f"{stack['name']}: outsider not reached without the filter"
    finally:
        on = run_playbook(embedded_lab, venv_bin, tmp_path / "on", "provision.yml")
    assert on.status == "successful", on.failure_messages
    get = _get(embedded_lab.server.address, STACKS[0]["port"])
    assert subprocess.run([*outsider, *get], capture_output=True).returncode == 3


def test_limits_caps_and_firewall_are_recorded(embedded_lab, provisioned):
    for stack in STACKS:
        facts = _facts(embedded_lab, stack)
        assert facts["limits"]["body_bytes"] == 1048576
        assert facts["limits"]["header_bytes"] == 16384
        assert facts["unit_caps"] == {"memory_max": "50%", "tasks_max": 512}
        assert set(facts["enforced"]) == {
            "ip_address_allow",
            "socket_bind",
            "memory_max",
            "tasks_max",
        }
        # The lab has no ufw and nftables.service is not enabled: left inactive, and said so.
        assert facts["firewall"]["active"] == "none"
        assert facts["firewall"]["opened_to"] == []


def test_no_stack_starts_at_boot(embedded_lab, provisioned):
    units = [f"httplab-{stack['name']}.service" for stack in STACKS]
    states = embedded_lab.server.run("systemctl", "is-enabled", *units, check=False).stdout.split()
    assert states == ["disabled"] * len(STACKS)


def _finish(lab: Any, venv_bin: Path, workdir: Path, keep: bool) -> None:
    """The end of benchmark.yml: the role's `finish` entry point."""
    finish(lab, venv_bin, workdir, "httplab", {"httplab_stack_keep_running": keep})


def test_stacks_stop_after_the_study_unless_kept(embedded_lab, venv_bin, provisioned, tmp_path):
    _finish(embedded_lab, venv_bin, tmp_path / "stop", keep=False)
    assert set(_active(embedded_lab).values()) == {"inactive"}
    _finish(embedded_lab, venv_bin, tmp_path / "keep", keep=True)
    assert set(_active(embedded_lab).values()) == {"active"}
