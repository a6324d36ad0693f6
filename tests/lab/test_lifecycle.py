"""Bringing labs up and down: nothing left behind, stale labs cleaned, clear errors.

Each test uses a lab of its own, so the session lab other tests converge on stays up.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench_client.results_format import ExitCode
from lab import api, config, containers
from lab.config import IMAGE_ROOT, REPO_ROOT, STATE_ROOT, LabConfig, default_subnets
from lab.errors import LabError
from tests.conftest import require_root

pytestmark = pytest.mark.lab


def _image_files() -> list[str]:
    """The cached images; hidden lock files (nspawn's .#<image>.lck, .build.lock) come and go."""
    return sorted(p.name for p in IMAGE_ROOT.iterdir() if not p.name.startswith("."))


@pytest.fixture
def lab_name(request):
    """A lab of the test's own; whatever happens, it is down afterwards."""
    require_root()
    name = request.param
    yield name
    api.down(name)
    config = LabConfig(name, default_subnets(name)[0])
    shutil.rmtree(config.state_dir, ignore_errors=True)
    config.inventory_path.unlink(missing_ok=True)


def _traces(lab: api.Lab) -> list[str]:
    """Everything of this lab that could outlive it on the machine."""
    traces = []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    traces += [line for line in links.splitlines() if lab.bridge in line or lab.name in line]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    traces += [line for line in netns.splitlines() if lab.name in line]
    mounts = Path("/proc/mounts").read_text().splitlines()
    traces += [m for m in mounts if str(lab.state_dir) in m or str(lab.image) in m]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(lab.state_dir) in cmdline or f"--hostname={lab.server.hostname}" in cmdline:
            traces.append(f"process {proc.info['pid']}: {cmdline}")
    traces += [f"process {h.pid}" for h in lab.hosts if h.pid and psutil.pid_exists(h.pid)]
    cgroups = [Path("/sys/fs/cgroup/systemd/httplab", lab.name)]
    traces += [str(c) for c in cgroups if c.exists()]
    traces += [str(lab.access_dir)] if lab.access_dir.exists() else []
    return traces


def _ssh_clients(subnet: str) -> list[int]:
    """PIDs of ssh processes (Ansible's ControlPersist masters too) connected into the subnet."""
    network = ipaddress.IPv4Network(subnet)
    pids = [
        conn.pid
        for conn in psutil.net_connections(kind="tcp4")
        if conn.raddr and conn.pid and ipaddress.IPv4Address(conn.raddr.ip) in network
    ]
    return [pid for pid in pids if _name(pid) == "ssh"]


def _name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except psutil.NoSuchProcess:
        return None


@pytest.mark.parametrize("lab_name", ["lt-cycle"], indirect=True)
def test_down_leaves_nothing_behind(lab_name, venv_bin):
    lab = api.up(lab_name)
    assert _traces(lab), "a running lab must be visible to the trace check"
    # Ansible leaves ControlPersist masters behind; down must close them.
    subprocess.run(
        [str(venv_bin / "ansible"), "-i", str(lab.inventory_path), "all",
         "-m", "ansible.builtin.ping"],
        check=True, capture_output=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert _ssh_clients(lab.subnet), "ansible should have left ssh masters running"
    probe = "/etc/httplab-overlay-probe"
    lab.server.run("sudo", "touch", probe)
    image_before = _image_files()
    assert api.down(lab_name) is True
    assert _traces(lab) == []
    assert _ssh_clients(lab.subnet) == []
    assert api.get(lab_name) is None
    assert _image_files() == image_before, "the image stays"
    assert not (lab.image / probe.lstrip("/")).exists(), "writes go to the overlay, not the image"
    assert api.down(lab_name) is False, "a second down has nothing to do"
    status = subprocess.run(
        [sys.executable, "-m", "httplab", "lab", "status", "--name", lab_name],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert (status.returncode, status.stdout) == (
        ExitCode.NOT_RUNNING,
        f"lab {lab_name!r} is not running\n",
    )


# lt-cycle's name again: its hosts' image copies are made already.
@pytest.mark.parametrize("lab_name", ["lt-cycle"], indirect=True)
def test_a_lab_running_with_its_state_in_the_checkout_is_moved_out(
    lab_name, tmp_path, monkeypatch, capsys
):
    """Older code kept root's state in <checkout>/.lab/NAME: the first command moves it."""
    old_root = tmp_path / "checkout" / ".lab"
    with monkeypatch.context() as older_code:
        older_code.setattr(config, "STATE_ROOT", old_root)
        before = api.up(lab_name)
    key = (before.state_dir / "id_ed25519").read_bytes()
    assert before.state_dir == old_root / lab_name

    lab = api.up(lab_name, progress=print)
    assert capsys.readouterr().out.splitlines()[0] == (
        f"moved the state of lab {lab_name!r} from {old_root / lab_name} to {STATE_ROOT / lab_name}"
    )
    assert lab.state_dir == STATE_ROOT / lab_name
    assert list(old_root.iterdir()) == []
    assert [h.pid for h in lab.hosts] == [h.pid for h in before.hosts], "not booted anew"
    assert (lab.state_dir / "id_ed25519").read_bytes() == key
    assert lab.server.run("hostname").stdout.strip() == lab.server.hostname
    assert api.down(lab_name) is True
    assert _traces(lab) == []


@pytest.mark.parametrize("lab_name", ["lt-stale"], indirect=True)
def test_up_cleans_a_crashed_lab(lab_name, capsys):
    crashed = api.up(lab_name)
    # A crash: the server's systemd-nspawn dies without shutting its container down.
    os.kill(crashed.server.pid, signal.SIGKILL)
    psutil.Process(crashed.server.pid).wait(timeout=10)
    assert api.health_problem(lab_name) == "server container is not running"

    lab = api.up(lab_name, progress=print)
    assert (
        "found a stale lab 'lt-stale' (server container is not running)" in capsys.readouterr().out
    )
    assert api.health_problem(lab_name) is None
    assert lab.server.pid != crashed.server.pid
    assert lab.server.run("hostname").stdout.strip() == lab.server.hostname
    api.down(lab_name)
    assert _traces(crashed) == []


@pytest.mark.parametrize("lab_name", ["lt-reboot"], indirect=True)
def test_up_cleans_a_lab_whose_processes_and_bridge_are_gone(lab_name, capsys):
    """What a reboot, or the end of a session that kills everything, leaves behind."""
    gone = api.up(lab_name)
    for pid in containers.lab_processes(LabConfig(lab_name, ipaddress.IPv4Network(gone.subnet))):
        with contextlib.suppress(ProcessLookupError):  # gone with its container's init
            os.kill(pid, signal.SIGKILL)
    for host in gone.hosts:
        psutil.Process(host.pid).wait(timeout=10)
    subprocess.run(["ip", "link", "del", gone.bridge], check=True)
    status = subprocess.run(
        [sys.executable, "-m", "lab", "status", "--name", lab_name],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert status.returncode == 1
    assert status.stdout.startswith(f"lab '{lab_name}': STALE: bridge {gone.bridge} is missing")

    lab = api.up(lab_name, progress=print)
    assert f"found a stale lab '{lab_name}' (bridge {gone.bridge} is missing)" in (
        capsys.readouterr().out
    )
    assert api.health_problem(lab_name) is None
    assert lab.client.run("hostname").stdout.strip() == lab.client.hostname


@pytest.mark.parametrize("lab_name", ["lt-subnet"], indirect=True)
def test_a_subnet_in_use_is_refused(lab_name, embedded_lab):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "up", "--name", lab_name, "--subnet", embedded_lab.subnet],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"lab: error: subnet {embedded_lab.subnet} is already in use")
    assert "--subnet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert api.get(lab_name) is None


def test_a_running_lab_does_not_move_to_another_subnet(embedded_lab):
    with pytest.raises(LabError, match="take it down first"):
        api.up(embedded_lab.name, subnet="203.0.113.240/28")
    assert api.health_problem(embedded_lab.name) is None


def test_non_root_gets_a_clear_error():
    require_root()
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    readable = subprocess.run(
        [*as_nobody, "-c", "import lab.api"], capture_output=True, cwd="/", env=env, timeout=60
    )
    if readable.returncode != 0:
        pytest.skip("user nobody cannot read this checkout or its venv")
    result = subprocess.run(
        [*as_nobody, "-m", "lab", "status"],
        capture_output=True, text=True, timeout=60, cwd="/", env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        "lab: error: the lab needs root (systemd-nspawn, bridges and cgroups); "
        "run it as root or with sudo"
    )


@pytest.mark.parametrize("lab_name", ["lt-clients"], indirect=True)
def test_a_lab_with_two_clients(lab_name, venv_bin):
    lab = api.up(lab_name, clients=2)
    subnet = ipaddress.IPv4Network(lab.subnet)
    assert [h.role for h in lab.clients] == ["client1", "client2"]
    assert [h.address for h in lab.clients] == [str(subnet[3]), str(subnet[4])]
    for host in lab.hosts:  # strict host-key checking: each answers with its own key
        assert host.run("hostname").stdout.strip() == host.hostname
    known_hosts = lab.known_hosts_path.read_text().splitlines()
    assert len({line.split()[-1] for line in known_hosts}) == len(lab.hosts) == 3
    assert lab.clients[0].cpus == lab.clients[1].cpus
    if len(os.sched_getaffinity(0)) > 1:
        assert not set(lab.server.cpus) & set(lab.clients[0].cpus)
    config = LabConfig(lab_name, subnet, clients=2)
    for host in config.client_hosts:
        assert all(cgroup.is_dir() for cgroup in containers.cgroup_dirs(config, host.role))
    # Each client reaches the server across the bridge.
    probe = f"import socket; socket.create_connection(('{lab.server.address}', 22), 5)"
    for client in lab.clients:
        client.run("/usr/bin/python3", "-c", probe)

    listed = subprocess.run(
        [str(venv_bin / "ansible-inventory"), "-i", str(lab.inventory_path), "--list"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert json.loads(listed.stdout)["clients"]["hosts"] == [h.hostname for h in lab.clients]
    with pytest.raises(LabError, match="runs with 2 client"):
        api.up(lab_name, clients=3)
    assert api.up(lab_name).clients == lab.clients, "an up without --clients keeps the lab"

    os.kill(lab.clients[1].pid, signal.SIGKILL)
    psutil.Process(lab.clients[1].pid).wait(timeout=10)
    assert api.health_problem(lab_name) == "client2 container is not running"
    assert api.down(lab_name) is True
    assert _traces(lab) == []
