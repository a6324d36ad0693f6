"""Bring a lab up, take it down, and describe it: the Python interface of the lab.

lab = lab.api.up("pytest")          # idempotent; cleans a stale lab first
lab.server.run("systemctl", "is-system-running")
lab.api.down("pytest")
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lab import access, containers, image, inventory, network, ssh, system, userns
from lab.config import (
    DEFAULT_NAME,
    MAX_CLIENTS,
    STATE_ROOT,
    HostConfig,
    LabConfig,
    bridge_name,
    default_subnets,
    parse_subnet,
    validate_clients,
    validate_name,
)
from lab.errors import LabError
from lab.system import Progress

BOOT_TIMEOUT = 180.0
NOT_RUNNING = "not running"


def _quiet(_message: str) -> None:
    """Progress sink for callers that want no output."""


@dataclass(frozen=True)
class Host:
    """A running lab host as its users see it."""

    role: str
    hostname: str
    address: str
    pid: int | None
    cpus: list[int]
    ssh_command: list[str]

    def run(
        self, *argv: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the host as the lab user over SSH (argv quoted for its shell)."""
        return subprocess.run(
            [*self.ssh_command, shlex.join(argv)],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


@dataclass(frozen=True)
class Lab:
    """A running lab: its hosts, where its inventory and keys are, and its notes."""

    name: str
    subnet: str
    bridge: str
    state_dir: Path
    inventory_path: Path
    key_path: Path
    known_hosts_path: Path
    access_dir: Path
    owner: str | None
    image: Path
    server: Host
    clients: tuple[Host, ...]
    notes: list[str]
    # What the server boots (image.SERVER_OSES) and from which image; the clients boot
    # `image`, Debian 12's.
    server_os: str = image.DEFAULT_OS
    server_image: Path | None = None

    @property
    def client(self) -> Host:
        """The first client (the only one in a lab with one client)."""
        return self.clients[0]

    @property
    def hosts(self) -> tuple[Host, ...]:
        return (self.server, *self.clients)

    def host(self, role: str) -> Host:
        """The host of this role (server, client, client1...); ValueError names the roles."""
        for host in self.hosts:
            if host.role == role:
                return host
        roles = ", ".join(h.role for h in self.hosts)
        raise ValueError(f"lab {self.name!r} has no host {role!r}; its hosts are {roles}")


def up(
    name: str = DEFAULT_NAME,
    subnet: str | None = None,
    progress: Progress = _quiet,
    clients: int | None = None,
    owner: str | None = None,
    server_os: str | None = None,
) -> Lab:
    """Bring the lab up (or leave it as it is if it already runs) and return it.

    clients: number of client hosts; None keeps a running lab's, and means 1 for a new lab.
    server_os: what the server boots (image.SERVER_OSES); None keeps a running lab's, and
    means Debian 12 for a new lab.
    owner: the user whose Ansible and Fabric use the lab (its inventory, key copy and
    known_hosts); None means the user sudo was called by, else root.
    """
    started = time.monotonic()
    system.require_root()
    validate_name(name)
    lab_owner = access.resolve_owner(owner)
    requested = parse_subnet(subnet) if subnet else None
    if clients is not None:
        validate_clients(clients, requested)
    if server_os is not None and server_os not in image.SERVER_OSES:
        raise LabError(
            f"unknown server OS {server_os!r}: use one of {', '.join(image.SERVER_OSES)}"
        )
    system.ensure_host_packages(progress)
    with _exclusive(name, progress):
        return _up(name, requested, clients, lab_owner, progress, started, server_os)


def _up(
    name: str,
    requested: ipaddress.IPv4Network | None,
    clients: int | None,
    owner: access.Owner,
    progress: Progress,
    started: float,
    server_os: str | None = None,
) -> Lab:
    config = _known_config(name, progress)
    if config is not None:
        if requested and requested != config.subnet:
            raise LabError(
                f"lab {name!r} runs on subnet {config.subnet}; take it down first "
                f"(python -m lab down --name {name}) to move it to {requested}"
            )
        if clients and clients != config.clients and config.state_file.exists():
            raise LabError(
                f"lab {name!r} runs with {config.clients} client(s); take it down first "
                f"(python -m lab down --name {name}) to bring it up with {clients}"
            )
        running_os = (
            _state(config).get("server_os", image.DEFAULT_OS)
            if config.state_file.exists()
            else None
        )
        if server_os and running_os and server_os != running_os:
            raise LabError(
                f"lab {name!r} runs its server on {running_os}; take it down first "
                f"(python -m lab down --name {name}) to bring it up on {server_os}"
            )
        problem = _health_problem(config)
        if problem is None:
            _hand_over(config, _state(config)["cpus"], owner, progress)
            progress(f"lab {name!r} is already up ({time.monotonic() - started:.1f} s)")
            return _lab(config)
        progress(f"found a stale lab {name!r} ({problem}); cleaning it up")
        _teardown(config)

    system.require_kernel_features()
    with network.allocation_lock():  # two labs coming up at once must not pick one subnet
        subnet = network.choose_subnet(name, bridge_name(name), requested)
        config = LabConfig(name, subnet, validate_clients(clients or 1, subnet))
        network.create_bridge(config)
    cpus = _split_cpus(config)
    try:
        network.install_firewall(config)
        lab_image = image.ensure_image(progress)
        chosen_os = server_os or image.DEFAULT_OS
        server_image = image.ensure_image(progress, chosen_os)
        _prepare_files(config)
        roots = {
            h: userns.host_root(server_image if h == config.server else lab_image, h, progress)
            for h in config.hosts
        }
        names = ", ".join(h.hostname for h in config.hosts)
        progress(f"booting {names} on {config.subnet}")
        boot_started = time.monotonic()
        launched = {h: containers.launch(config, h, roots[h], cpus[h.role]) for h in config.hosts}
        _wait_for_ssh(config, launched, progress, boot_started)
    except BaseException:
        _teardown(config)
        raise
    _write_state(config, lab_image, cpus, chosen_os, server_image)
    _hand_over(config, cpus, owner, progress)
    progress(f"lab {name!r} is up in {time.monotonic() - started:.1f} s")
    return _lab(config)


def down(name: str = DEFAULT_NAME, progress: Progress = _quiet) -> bool:
    """Stop the lab and remove everything it made except keys, logs and the image.

    Returns False when there was nothing to stop.
    """
    started = time.monotonic()
    system.require_root()
    validate_name(name)
    with _exclusive(name, progress):
        config = _known_config(name, progress)
        if config is None:
            progress(f"lab {name!r} is not running")
            return False
        _teardown(config)
    progress(f"lab {name!r} is down ({time.monotonic() - started:.1f} s)")
    return True


def get(name: str = DEFAULT_NAME) -> Lab | None:
    """The running lab of this name, or None."""
    config = _known_config(validate_name(name))
    if config is None or not config.state_file.exists():
        return None
    return _lab(config)


def health_problem(name: str = DEFAULT_NAME) -> str | None:
    """None if the lab runs and both hosts answer SSH, else what is wrong."""
    config = _known_config(validate_name(name))
    return NOT_RUNNING if config is None else _health_problem(config)


@contextlib.contextmanager
def _exclusive(name: str, progress: Progress) -> Iterator[None]:
    """One up or down of a lab at a time (a developer's shell and a test run may race)."""
    with _lock_file(f".{name}.lock") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"another up or down of lab {name!r} is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _lock_file(name: str) -> IO[str]:
    STATE_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
    return (STATE_ROOT / name).open("w")


# -- state -----------------------------------------------------------------------------


def _state(config: LabConfig) -> dict:
    return json.loads(config.state_file.read_text())


def _write_state(
    config: LabConfig,
    lab_image: image.Image,
    cpus: dict[str, list[int]],
    server_os: str = image.DEFAULT_OS,
    server_image: image.Image | None = None,
) -> None:
    state = {
        "name": config.name,
        "subnet": str(config.subnet),
        "clients": config.clients,
        "image": str(lab_image.path),
        "server_os": server_os,
        "server_image": str((server_image or lab_image).path),
        "cpus": cpus,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    system.write_atomic(config.state_file, json.dumps(state, indent=2) + "\n")


def _known_config(name: str, progress: Progress = _quiet) -> LabConfig | None:
    """The config of a lab of this name that runs or left something behind, else None."""
    _adopt_old_state(name, progress)
    # Paths, bridge and cgroup names do not depend on the subnet, which is not known yet;
    # without a state file, every client whose state directory exists may have run.
    probe = LabConfig(name, default_subnets(name)[0], _clients_on_disk(name))
    if probe.state_file.exists():
        state = _state(probe)
        return LabConfig(name, ipaddress.IPv4Network(state["subnet"]), state.get("clients", 1))
    bridge_networks = network.interface_networks().get(probe.bridge)
    leftovers = (
        bridge_networks is not None
        or any(h.pid_file.exists() for h in probe.hosts)
        or containers.lab_processes(probe)
    )
    if not leftovers:
        return None
    if bridge_networks:
        return LabConfig(name, bridge_networks[0], probe.clients)
    return probe


def _adopt_old_state(name: str, progress: Progress) -> None:
    """Move the state of a lab that older code booted from <checkout>/.lab/NAME to STATE_ROOT.

    The containers' command lines say where it is. State that cannot be trusted stays where
    it is: the lab then counts as stale, and the next `up` boots it anew.
    """
    config = LabConfig(name, default_subnets(name)[0])
    for old in containers.booted_state_dirs(config) - {config.state_dir}:
        # A lock of its own, not _exclusive's: status and ssh, which take none, move it too.
        with _lock_file(f".{name}.move.lock") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not old.exists():  # a command running alongside moved it
                continue
            try:
                system.move_tree(old, config.state_dir)
            except LabError as exc:
                progress(f"left the state of lab {name!r} in {old}: {exc}")
            else:
                progress(f"moved the state of lab {name!r} from {old} to {config.state_dir}")


def _clients_on_disk(name: str) -> int:
    """The most clients a lab of this name had: its client<N> state directories."""
    state_dir = STATE_ROOT / name
    numbers = [int(p.name[len("client") :]) for p in state_dir.glob("client[0-9]*")]
    return min(max(numbers, default=1), MAX_CLIENTS)


def _health_problem(config: LabConfig) -> str | None:
    if not config.state_file.exists():
        return "left over from an interrupted up or down"
    if not network.link_exists(config.bridge):
        return f"bridge {config.bridge} is missing"
    if not network.firewall_installed(config):
        return f"firewall table of {config.bridge} is missing"
    for host in config.hosts:
        if containers.running_pid(host) is None:
            return f"{host.role} container is not running"
        if not ssh.answers_ssh(config, host):
            return f"{host.role} does not answer SSH"
    return None


def _lab(config: LabConfig) -> Lab:
    state = _state(config)

    def host(host_config: HostConfig) -> Host:
        return Host(
            role=host_config.role,
            hostname=host_config.hostname,
            address=str(host_config.address),
            pid=containers.running_pid(host_config),
            cpus=state["cpus"][host_config.role],
            ssh_command=ssh.ssh_command(config, host_config),
        )

    return Lab(
        name=config.name,
        subnet=str(config.subnet),
        bridge=config.bridge,
        state_dir=config.state_dir,
        inventory_path=config.inventory_path,
        key_path=config.key_path,
        known_hosts_path=config.known_hosts_path,
        access_dir=config.access_dir,
        owner=access.owner_name(config),
        image=Path(state["image"]),
        server=host(config.server),
        clients=tuple(host(h) for h in config.client_hosts),
        notes=inventory.lab_notes(config, state["cpus"]),
        server_os=state.get("server_os", image.DEFAULT_OS),
        server_image=Path(state.get("server_image", state["image"])),
    )


# -- bring up ----------------------------------------------------------------------------


def _prepare_files(config: LabConfig) -> None:
    """Keys (kept across up/down so known_hosts stays valid), seeds and known_hosts."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    config.state_dir.chmod(0o700)
    ssh.ensure_keypair(config.key_path, f"httplab-lab-{config.name}")
    authorized_key = config.key_path.with_suffix(".pub").read_text()
    for host in config.hosts:
        containers.write_seed(config, host, authorized_key)
        ssh.ensure_keypair(ssh.host_key_path(host), f"root@{host.hostname}")
    ssh.write_known_hosts(config)


def _hand_over(
    config: LabConfig, cpus: dict[str, list[int]], owner: access.Owner, progress: Progress
) -> None:
    access.hand_over(config, owner)
    changed = inventory.write(config, cpus, owner)
    rewritten = " rewritten" if changed else ""
    progress(f"inventory{rewritten}: {config.inventory_path} (for {owner.name})")


def _split_cpus(config: LabConfig) -> dict[str, list[int]]:
    """The CPUs of each host, by role: the server on half of them, the clients share the rest.

    Server and clients do not steal each other's cycles; the clients compete among
    themselves, as client processes on one machine would. With three CPUs or more the last
    is the control node's ("control"): httplab measures from it, off the measured CPUs
    (orchestrator/quiet.py).
    """
    return split_cpus(sorted(os.sched_getaffinity(0)), [h.role for h in config.client_hosts])


def split_cpus(cpus: list[int], client_roles: list[str]) -> dict[str, list[int]]:
    control = cpus[-1:] if len(cpus) >= 3 else []
    measured = cpus[: len(cpus) - len(control)]
    half = (len(measured) + 1) // 2 if len(measured) >= 2 else len(measured)
    server, clients = measured[:half], measured[half:] or measured
    return {"server": server} | dict.fromkeys(client_roles, clients) | {"control": control}


def _wait_for_ssh(
    config: LabConfig,
    launched: dict[HostConfig, subprocess.Popen[bytes]],
    progress: Progress,
    since: float,
) -> None:
    # Polls the launched processes themselves: right after the launch a PID file check
    # can catch the process mid-exec (empty cmdline) and take it for dead.
    waiting = list(config.hosts)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while waiting:
        for host in list(waiting):
            exit_code = launched[host].poll()
            if exit_code is not None:
                raise LabError(
                    f"the {host.role} container stopped while booting (exit code {exit_code}); "
                    f"its log ({host.log_file}) ends:\n{containers.log_tail(host)}"
                )
            if ssh.answers_ssh(config, host):
                progress(f"{host.hostname} answers SSH ({time.monotonic() - since:.1f} s)")
                waiting.remove(host)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(h.hostname for h in waiting)
            raise LabError(
                f"{names} did not answer SSH within {BOOT_TIMEOUT:.0f} s; see {waiting[0].log_file}"
            )
        if waiting:
            time.sleep(0.3)


# -- take down ---------------------------------------------------------------------------


def _teardown(config: LabConfig) -> None:
    """Stop both hosts cleanly and remove their cgroups, links and mounts."""
    # Ansible's ControlPersist masters first, or they linger and serve the next lab.
    ssh.close_ssh_clients(config.subnet)
    containers.stop(config.hosts)
    containers.remove_cgroups(config)
    network.remove_firewall(config)
    network.delete_bridge(config)
    access.withdraw(config)
    _unmount_leftovers(config)
    config.state_file.unlink(missing_ok=True)


def _unmount_leftovers(config: LabConfig) -> None:
    # systemd-nspawn mounts in its own namespace; this only catches a crash mid-setup.
    for line in Path("/proc/mounts").read_text().splitlines():
        mountpoint = line.split()[1]
        if mountpoint.startswith(str(config.state_dir)):
            system.run(["umount", "--lazy", mountpoint], check=False)


__all__ = ["NOT_RUNNING", "Host", "Lab", "LabError", "down", "get", "health_problem", "up"]
