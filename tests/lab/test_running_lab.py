"""The session lab as its users see it: SSH, systemd, Ansible, idempotent up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from lab import api
from lab.config import REPO_ROOT

pytestmark = pytest.mark.lab

# Units the lab itself needs; other failed units (left by role tests) are not the lab's fault.
LAB_UNITS = ("httplab-seed.service", "systemd-networkd.service", "ssh.service")


def test_both_hosts_answer_ssh_as_the_lab_user(embedded_lab):
    for host in embedded_lab.hosts:
        result = host.run("sh", "-c", "id -un; hostname; sudo -n id -un")
        assert result.stdout.split() == ["httplab", host.hostname, "root"]


def test_server_runs_systemd_as_init(embedded_lab):
    server = embedded_lab.server
    state = server.run("systemctl", "is-system-running", "--wait", check=False).stdout.strip()
    failed = server.run("systemctl", "--failed", "--plain", "--no-legend", check=False).stdout
    print(f"server system state: {state}; failed units: {failed.strip() or 'none'}")
    assert state in ("running", "degraded"), failed
    for unit in LAB_UNITS:
        assert server.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active"
    assert server.run("ps", "-p", "1", "-o", "comm=").stdout.strip() == "systemd"


def test_client_is_a_separate_machine(embedded_lab):
    server, client = embedded_lab.server, embedded_lab.client
    machine_ids = {h.run("cat", "/etc/machine-id").stdout.strip() for h in (server, client)}
    assert len(machine_ids) == 2
    marker = f"/tmp/httplab-{uuid.uuid4().hex}"
    client.run("touch", marker)
    assert server.run("test", "-e", marker, check=False).returncode == 1
    assert (
        client.run("/usr/bin/python3", "-c", "import sys; print(sys.version_info[0])").stdout
        == "3\n"
    )
    # The client reaches the server's sshd over the lab network.
    probe = f"import socket; socket.create_connection(('{server.address}', 22), 5)"
    client.run("/usr/bin/python3", "-c", probe)


def test_hosts_have_no_route_out(embedded_lab):
    for host in embedded_lab.hosts:
        routes = host.run("ip", "-4", "route").stdout
        assert "default" not in routes
        assert embedded_lab.subnet in routes


def test_hosts_are_pinned_to_different_cpus(embedded_lab):
    server, client = embedded_lab.server, embedded_lab.client
    if len(set(server.cpus + client.cpus)) < 2:
        pytest.skip("one CPU: nothing to pin apart")
    assert not set(server.cpus) & set(client.cpus)
    for host in (server, client):
        allowed = host.run("grep", "Cpus_allowed_list", "/proc/1/status").stdout.split()[-1]
        assert allowed == ",".join(map(str, host.cpus))


def test_host_key_checking_is_on(embedded_lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.touch()
    server = embedded_lab.server
    argv = [
        "ssh", "-i", str(embedded_lab.key_path), "-o", f"UserKnownHostsFile={empty}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
        f"httplab@{server.address}", "true",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_ansible_pings_both_hosts_through_the_inventory(embedded_lab, venv_bin):
    result = subprocess.run(
        [str(venv_bin / "ansible"), "-i", str(embedded_lab.inventory_path), "all",
         "-m", "ansible.builtin.ping"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for host in embedded_lab.hosts:
        assert f"{host.hostname} | SUCCESS" in result.stdout


def test_ansible_sees_the_contract_variables(embedded_lab, venv_bin):
    result = subprocess.run(
        [str(venv_bin / "ansible-inventory"), "-i", str(embedded_lab.inventory_path), "--list"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    data = json.loads(result.stdout)
    assert data["servers"]["hosts"] == [embedded_lab.server.hostname]
    assert data["clients"]["hosts"] == [embedded_lab.client.hostname]
    server_vars = data["_meta"]["hostvars"][embedded_lab.server.hostname]
    assert server_vars["ansible_become"] is True
    assert server_vars["httplab_lab"] == "embedded"
    assert any("MemoryMax" in note for note in server_vars["httplab_lab_notes"])
    client_vars = data["_meta"]["hostvars"][embedded_lab.client.hostname]
    assert client_vars["bench_client_python"] == "/usr/bin/python3"


def test_systemd_restarts_a_killed_service(embedded_lab):
    server = embedded_lab.server
    unit = f"httplab-restart-test-{uuid.uuid4().hex[:8]}.service"
    server.run(
        "sudo", "systemd-run", f"--unit={unit}", "--property=Restart=on-failure",
        "--property=RestartSec=200ms", "/bin/sleep", "600",
    )  # fmt: skip
    try:
        first = _main_pid(server, unit)
        assert first > 0
        server.run("sudo", "kill", "-KILL", str(first))
        deadline = time.monotonic() + 60
        while _main_pid(server, unit) in (0, first):
            assert time.monotonic() < deadline, "the killed service was not restarted"
            time.sleep(0.2)
        restarts = server.run("systemctl", "show", "-P", "NRestarts", unit).stdout.strip()
        assert int(restarts) >= 1
        assert server.run("systemctl", "is-active", unit).stdout.strip() == "active"
    finally:
        server.run("sudo", "systemctl", "stop", unit, check=False)


def _main_pid(host: api.Host, unit: str) -> int:
    return int(host.run("systemctl", "show", "-P", "MainPID", unit).stdout.strip() or 0)


def test_up_again_changes_nothing(embedded_lab):
    before = embedded_lab.inventory_path.stat().st_mtime_ns
    again = api.up(embedded_lab.name)
    assert again.server.pid == embedded_lab.server.pid
    assert again.client.pid == embedded_lab.client.pid
    assert again.subnet == embedded_lab.subnet
    assert embedded_lab.inventory_path.stat().st_mtime_ns == before


def test_cli_ssh_runs_a_command_on_each_host(embedded_lab):
    for host in embedded_lab.hosts:
        result = subprocess.run(
            [sys.executable, "-m", "lab", "ssh", host.role, "--name", embedded_lab.name,
             "--", "hostname"],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
        )  # fmt: skip
        assert (result.returncode, result.stdout) == (0, f"{host.hostname}\n"), result.stderr


def test_cli_status_says_what_runs_where(embedded_lab):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "status", "--name", embedded_lab.name],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"lab {embedded_lab.name!r}: up")
    for host in embedded_lab.hosts:
        cpus = ",".join(map(str, host.cpus))
        row = f"{host.hostname:<24} {host.address:<16} nspawn pid {host.pid}  cpu {cpus}"
        assert row in result.stdout
