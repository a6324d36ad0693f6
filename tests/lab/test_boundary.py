"""The lab is a boundary: root in a lab host is not root on the control node.

Each test does from inside a container what a poisoned wheel running as root there
would try, and checks that the control node refuses it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import psutil
import pytest

from lab import api, containers
from lab.config import IMAGE_ROOT, LabConfig

pytestmark = pytest.mark.lab

CONNECT_PROBE = """\
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
except OSError as exc:
    print(f"refused: {exc}")
else:
    print("connected")
"""


@contextlib.contextmanager
def _listener() -> Iterator[int]:
    """A TCP service on every address of the control node; yields its port."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                server.accept()[0].close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def _config(lab: api.Lab) -> LabConfig:
    return LabConfig(lab.name, ipaddress.IPv4Network(lab.subnet))


def _container_init(nspawn_pid: int) -> psutil.Process:
    """The container's PID 1 (systemd) as the control node sees it."""
    for child in psutil.Process(nspawn_pid).children(recursive=True):
        if child.name() == "systemd":
            return child
    raise AssertionError(f"no systemd under systemd-nspawn {nspawn_pid}")


@pytest.mark.parametrize("role", ["server", "client"])
def test_container_root_is_an_unprivileged_user_on_the_control_node(embedded_lab, role):
    host = getattr(embedded_lab, role)
    inside, outside, count = map(int, host.run("sudo", "cat", "/proc/self/uid_map").stdout.split())
    assert inside == 0
    assert outside >= 65536, f"container root is host UID {outside}"
    assert count == 65536
    init = _container_init(host.pid)
    assert init.uids().real == outside, "the container's systemd runs as the mapped host UID"


def test_each_host_has_its_own_uid_range(embedded_lab):
    ranges = {h.run("cat", "/proc/self/uid_map").stdout.split()[1] for h in embedded_lab.hosts}
    assert len(ranges) == 2


def test_users_of_the_node_cannot_enter_the_image_trees(embedded_lab):
    """The copies' setuid binaries would make a user the container's root on the node."""
    assert IMAGE_ROOT.stat().st_mode & 0o777 == 0o700
    probe = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         "ls", str(embedded_lab.image)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.returncode != 0
    assert "Permission denied" in probe.stderr


@pytest.mark.parametrize("kind", ["b 8 0", "c 1 1"])  # a disk (sda), /dev/mem
def test_root_in_a_container_cannot_make_device_nodes(embedded_lab, kind):
    node = "/tmp/httplab-mknod-probe"
    result = embedded_lab.server.run("sudo", "mknod", node, *kind.split(), check=False)
    embedded_lab.server.run("sudo", "rm", "-f", node)
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr


def test_devices_cgroup_allows_only_the_basic_devices(embedded_lab):
    config = _config(embedded_lab)
    policy = containers.device_cgroup(config, "server")
    if policy is None:
        pytest.skip("no cgroup v1 devices hierarchy on this machine")
    allowed = policy.joinpath("devices.list").read_text().split("\n")
    assert "a *:* rwm" not in allowed
    assert "c 1:3 rwm" in allowed  # /dev/null
    assert not any(rule.startswith("b ") for rule in allowed), "no block device"


@pytest.mark.parametrize("role", ["server", "client"])
def test_control_node_is_unreachable_from_the_containers(embedded_lab, role):
    host = getattr(embedded_lab, role)
    bridge_address = str(_config(embedded_lab).bridge_address)
    with _listener() as port:
        result = host.run("/usr/bin/python3", "-c", CONNECT_PROBE, bridge_address, str(port))
    assert result.stdout.startswith("refused"), result.stdout


def test_a_route_added_as_root_does_not_reach_the_control_node(embedded_lab):
    """Root adds a default route via the bridge; the node's other addresses stay closed."""
    server = embedded_lab.server
    bridge_address = str(_config(embedded_lab).bridge_address)
    others = [
        address.address
        for name, addresses in psutil.net_if_addrs().items()
        if name != embedded_lab.bridge and name != "lo"
        for address in addresses
        if address.family == socket.AF_INET
    ]
    if not others:
        pytest.skip("the control node has no other IPv4 address")
    server.run("sudo", "ip", "route", "add", "default", "via", bridge_address)
    try:
        with _listener() as port:
            result = server.run("/usr/bin/python3", "-c", CONNECT_PROBE, others[0], str(port))
    finally:
        server.run("sudo", "ip", "route", "del", "default", check=False)
    assert result.stdout.startswith("refused"), result.stdout


def test_the_hosts_still_reach_each_other(embedded_lab):
    server, client = embedded_lab.server, embedded_lab.client
    result = client.run("/usr/bin/python3", "-c", CONNECT_PROBE, server.address, "22")
    assert result.stdout == "connected\n"


def test_a_command_line_forged_in_a_host_moves_no_state(embedded_lab, tmp_path):
    """Root finds a running lab's state by its containers' command lines; a host's may lie."""
    decoy = tmp_path / ".lab" / embedded_lab.name
    (decoy / "server").mkdir(parents=True)
    forged = f"--bind-ro={decoy}/server/seed:/etc/httplab"
    sleeper = "import time; time.sleep(60)"
    embedded_lab.server.run(
        "sudo", "sh", "-c", f"python3 -c '{sleeper}' {forged} >/dev/null 2>&1 &"
    )  # fmt: skip
    config = _config(embedded_lab)
    forger = _wait_for_process(config, forged)  # it ends by itself in a minute
    try:
        assert containers.booted_state_dirs(config) == {embedded_lab.state_dir}
        assert api.get(embedded_lab.name).state_dir == embedded_lab.state_dir
        assert (decoy / "server").is_dir()
    finally:
        os.kill(forger, signal.SIGKILL)


def _wait_for_process(config: LabConfig, argument: str) -> int:
    """The PID (as the control node sees it) of the lab's process with this argument."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in containers.lab_processes(config):
            with contextlib.suppress(psutil.NoSuchProcess):
                if argument in psutil.Process(pid).cmdline():
                    return pid
        time.sleep(0.1)
    raise AssertionError(f"no process of lab {config.name!r} has {argument}")
