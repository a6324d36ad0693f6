"""What the stacks accept and who reaches them, on the embedded lab's server (real systemd).

Injection: a value that would add a line (a directive) or a specifier to a unit is refused
before anything is written. Reach: the client reaches every stack; an address outside the
allow list (a network namespace of this test on the lab's bridge) reaches none where systemd
enforces IPAddressAllow=, and stack.json says so either way. After the study the stacks stop,
and none starts at boot."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.roles.test_server_roles import STACKS, _active, _fails_cleanly, run_playbook

pytestmark = pytest.mark.roles

INJECTED = "\nExecStartPre=+/bin/sh -c 'touch /root/injected'"


@pytest.mark.parametrize(
    ("extravars", "expected"),
    [
        ({"httplab_stacks": [{**STACKS[0], "app": STACKS[0]["app"] + INJECTED}]}, "app"),
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
        "app newline",
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
    """Python that exits 0 if GET /get answers 200, else non-zero."""
    code = (
        "import sys, urllib.request as u\n"
        f"sys.exit(0 if u.urlopen('http://{address}:{port}/get', timeout=5).status == 200 else 1)"
    )
    return ["python3", "-c", code]


@pytest.fixture(scope="module")
def outsider(embedded_lab) -> Iterator[list[str]]:
    """A network namespace on the lab's bridge with an address no unit allows."""
    subnet = ipaddress.ip_network(embedded_lab.subnet)
    address = f"{subnet.broadcast_address - 1}/{subnet.prefixlen}"
    name, host_end, ns_end = "hl-out-test", "hl-out-h", "hl-out-n"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
        ["ip", "link", "set", ns_end, "netns", name],
        ["ip", "link", "set", host_end, "master", embedded_lab.bridge, "up"],
        ["ip", "-n", name, "addr", "add", address, "dev", ns_end],
        ["ip", "-n", name, "link", "set", ns_end, "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.parametrize("stack", STACKS, ids=lambda stack: stack["name"])
def test_only_the_clients_reach_the_stacks(embedded_lab, provisioned, outsider, stack):
    get = _get(embedded_lab.server.address, stack["port"])
    assert embedded_lab.client.run(*get, check=False).returncode == 0, "the client must reach it"
    facts = _facts(embedded_lab, stack)
    assert facts["reachable_from"] == ["localhost", embedded_lab.client.address]
    reached = subprocess.run([*outsider, *get], capture_output=True).returncode == 0
    # stack.json must tell the truth: enforced means refused, not enforced means reached.
    print(f"\n{stack['name']}: enforced {facts['enforced']}, outsider reached: {reached}")
    assert reached is not facts["enforced"]["ip_address_allow"]


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
        # The lab's image has neither ufw nor nftables: left inactive, and said so.
        assert facts["firewall"]["active"] == "none"
        assert facts["firewall"]["opened_to"] == []


def test_no_stack_starts_at_boot(embedded_lab, provisioned):
    units = [f"httplab-{stack['name']}.service" for stack in STACKS]
    states = embedded_lab.server.run("systemctl", "is-enabled", *units, check=False).stdout.split()
    assert states == ["disabled"] * len(STACKS)


def _finish(lab: Any, venv_bin: Path, workdir: Path, keep: bool) -> None:
    """The end of benchmark.yml: the role's `finish` entry point."""
    playbook = workdir / "finish.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    playbook.write_text(
        "- name: Finish\n  hosts: servers\n  gather_facts: false\n  tasks:\n"
        "    - name: After the study\n      ansible.builtin.include_role:\n"
        "        name: httplab\n        tasks_from: finish\n"
    )
    run = run_playbook(
        lab, venv_bin, workdir / "runner", str(playbook), {"httplab_stack_keep_running": keep}
    )
    assert run.status == "successful", run.failure_messages


def test_stacks_stop_after_the_study_unless_kept(embedded_lab, venv_bin, provisioned, tmp_path):
    _finish(embedded_lab, venv_bin, tmp_path / "stop", keep=False)
    assert set(_active(embedded_lab).values()) == {"inactive"}
    _finish(embedded_lab, venv_bin, tmp_path / "keep", keep=True)
    assert set(_active(embedded_lab).values()) == {"active"}
