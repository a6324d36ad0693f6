"""Boot and stop the lab hosts: systemd-nspawn containers from the cached image.

Each container runs as a daemon that outlives `python -m lab up`: its own session,
stdio to a log file, a PID file, and a cgroup of its own. The cgroup matters twice:
without systemd on the machine, systemd-nspawn --keep-unit puts the container's
cgroups under its caller's, so two containers need two cgroups; and everything in a
lab's cgroup tree belongs to that lab, which is how a crashed lab is found and ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from lab import procs
from lab.config import HostConfig, LabConfig
from lab.errors import LabError
from lab.system import write_atomic
from lab.userns import HostRoot

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where a host finds its seed (lab.image's httplab-seed unit reads it).
SEED_MOUNT = "/etc/httplab"
# A clean halt takes about 2 s.
STOP_TIMEOUT = 30.0

# nspawn's default set minus what neither systemd, sshd, Ansible nor the stacks use. The
# rest (CAP_SYS_ADMIN for the units' mount namespaces, CAP_NET_ADMIN for networkd) holds
# only inside the host's own user and network namespaces: it reaches nothing on the node.
DROPPED_CAPABILITIES = (
    "CAP_MKNOD",
    "CAP_AUDIT_CONTROL",
    "CAP_IPC_OWNER",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BROADCAST",
    "CAP_SYS_TTY_CONFIG",
)
# Devices a host may open (cgroup v1 devices controller): what nspawn itself gives a
# container - null, zero, full, random, urandom, tty, ptmx, the ptys, tun. No disk.
DEVICE_POLICY = (
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
)

# Moves the shell into the lab's cgroups, then becomes systemd-nspawn (same PID).
_ENTER_CGROUPS = 'for cg in $HTTPLAB_CGROUPS; do echo $$ > "$cg/cgroup.procs"; done; exec "$@"'


def write_seed(config: LabConfig, host: HostConfig, authorized_key: str) -> None:
    """Write the files the host's httplab-seed unit installs at boot."""
    seed = host.seed_dir
    seed.mkdir(parents=True, exist_ok=True)
    seed.chmod(0o700)
    hosts = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    hosts.append(f"{config.bridge_address} {config.name}-control")
    hosts += [f"{h.address} {h.hostname}" for h in config.hosts]
    network = (
        "[Match]\nName=host0\n\n"
        f"[Network]\nAddress={host.address}/{config.subnet.prefixlen}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
        "# No Gateway=: nothing leaves the machine.\n"
    )
    write_atomic(seed / "hostname", f"{host.hostname}\n")
    write_atomic(seed / "hosts", "\n".join(hosts) + "\n")
    write_atomic(seed / "network", network)
    write_atomic(seed / "authorized_keys", authorized_key)


def cgroup_dirs(config: LabConfig, role: str | None = None) -> list[Path]:
    """The lab's (or one host's) cgroup directory in each hierarchy nspawn uses."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():  # pure cgroup v2
        hierarchies = [CGROUP_ROOT]
    else:  # hybrid: systemd's named v1 hierarchy, v2 if mounted, v1 devices for the policy
        candidates = ("systemd", "unified", "devices")
        hierarchies = [CGROUP_ROOT / name for name in candidates if (CGROUP_ROOT / name).is_dir()]
    parts = ["httplab", config.name] + ([role] if role else [])
    return [h.joinpath(*parts) for h in hierarchies]


def device_cgroup(config: LabConfig, role: str) -> Path | None:
    """The host's cgroup in the v1 devices hierarchy, None where there is none.

    On pure cgroup v2 a device policy needs BPF, which only a systemd on the machine
    attaches; there the user namespace alone keeps devices out (no mknod, no disk nodes).
    """
    devices = CGROUP_ROOT / "devices"
    return devices / "httplab" / config.name / role if (devices / "devices.list").exists() else None


def _apply_device_policy(cgroup: Path) -> None:
    (cgroup / "devices.deny").write_text("a\n")
    for rule in DEVICE_POLICY:
        (cgroup / "devices.allow").write_text(f"{rule}\n")


def launch(
    config: LabConfig, host: HostConfig, root: HostRoot, cpus: list[int]
) -> subprocess.Popen[bytes]:
    """Boot the host in the background; return its systemd-nspawn process."""
    cgroups = cgroup_dirs(config, host.role)
    for cgroup in cgroups:
        cgroup.mkdir(parents=True, exist_ok=True)
    policy = device_cgroup(config, host.role)
    if policy is not None:
        _apply_device_policy(policy)
    _hand_over_seed(host, root)
    machine_id = uuid.uuid5(uuid.NAMESPACE_URL, f"httplab:{config.name}:{host.role}")
    argv = [
        "systemd-nspawn",
        f"--directory={root.path}",
        "--volatile=overlay",  # the cached tree stays pristine
        # Container root is an unprivileged host UID; the tree is already shifted.
        f"--private-users={root.private_users}",
        "--private-users-ownership=off",
        f"--drop-capability={','.join(DROPPED_CAPABILITIES)}",
        "--boot",
        f"--machine={host.machine}",
        f"--hostname={host.hostname}",
        f"--uuid={machine_id}",
        # No systemd on the machine: no machined to register with, no unit to create.
        "--register=no",
        "--keep-unit",
        f"--network-bridge={config.bridge}",
        f"--bind-ro={host.seed_dir}:{SEED_MOUNT}",
        f"--cpu-affinity={','.join(map(str, cpus))}",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
    ]
    env = {**os.environ, "HTTPLAB_CGROUPS": " ".join(map(str, cgroups))}
    with host.log_file.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            ["sh", "-c", _ENTER_CGROUPS, "sh", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd="/",
        )
    write_atomic(host.pid_file, f"{proc.pid}\n")
    return proc


def _hand_over_seed(host: HostConfig, root: HostRoot) -> None:
    """Give the seed to the container's root: to it, host root's files belong to nobody."""
    for path in (host.seed_dir, *host.seed_dir.iterdir()):
        os.chown(path, root.uid_base, root.uid_base)


def running_pid(host: HostConfig) -> int | None:
    """The PID of the host's systemd-nspawn if its PID file names one that still runs."""
    try:
        pid = int(host.pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if procs.running(pid) and f"--machine={host.machine}" in procs.cmdline(pid):
        return pid
    return None


def log_tail(host: HostConfig, lines: int = 15) -> str:
    try:
        return "\n".join(host.log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def stop(hosts: tuple[HostConfig, ...]) -> None:
    """Shut the hosts down cleanly: on SIGTERM systemd-nspawn halts its container."""
    pids = [pid for pid in map(running_pid, hosts) if pid is not None]
    left = procs.signal_and_wait(pids, signal.SIGTERM, STOP_TIMEOUT)
    procs.signal_and_wait(left, signal.SIGKILL, 10)
    for host in hosts:
        host.pid_file.unlink(missing_ok=True)


def lab_processes(config: LabConfig) -> list[int]:
    """PIDs in the lab's cgroup tree: its containers, whatever state they are in."""
    pids: set[int] = set()
    for root in cgroup_dirs(config):
        # A container that is stopping removes its cgroups while they are walked:
        # os.walk skips a directory that vanished; reading a removed cgroup's list
        # fails with ENOENT or ENODEV, which means no processes.
        for directory, _, files in os.walk(root):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    listing = Path(directory, "cgroup.procs").read_text()
                    pids.update(int(pid) for pid in listing.split())
    return sorted(pids)


def booted_state_dirs(config: LabConfig) -> set[Path]:
    """The state directories the lab's running containers were booted with (their seeds').

    Only root's systemd-nspawn counts: a process in a container runs as a UID of the
    container's range and may claim any command line.
    """
    suffix = f":{SEED_MOUNT}"
    seeds = {
        arg.removeprefix("--bind-ro=").removesuffix(suffix)
        for pid in lab_processes(config)
        if procs.uid(pid) == 0
        for arg in procs.cmdline(pid)
        if arg.startswith("--bind-ro=") and arg.endswith(suffix)
    }
    return {Path(seed).parent.parent for seed in seeds}


def remove_cgroups(config: LabConfig) -> None:
    """Kill whatever is left in the lab's cgroups, then remove them (deepest first)."""
    deadline = time.monotonic() + 10
    while pids := lab_processes(config):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} of lab {config.name!r} do not die; check `ps`")
        time.sleep(0.1)
    for root in cgroup_dirs(config):
        if root.is_dir():
            for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    path.rmdir()
            root.rmdir()
            with contextlib.suppress(OSError):  # other labs may still use the parent
                root.parent.rmdir()
