"""SSH for the lab: the lab user's key, the hosts' keys, known_hosts, and ssh commands."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import signal
import subprocess
from pathlib import Path

from lab import procs
from lab.config import LAB_USER, HostConfig, LabConfig
from lab.system import run, write_atomic

_SS_USER = re.compile(r'\("([^"]*)",pid=(\d+),')


def ensure_keypair(path: Path, comment: str) -> None:
    """Create an ed25519 key pair at path (and path.pub) unless it exists."""
    if path.exists() and path.with_suffix(".pub").exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def host_key_path(host: HostConfig) -> Path:
    """The host's private sshd key; generated once per lab and kept across up/down."""
    return host.seed_dir / "ssh_host_ed25519_key"


def write_known_hosts(config: LabConfig) -> None:
    lines = []
    for host in config.hosts:
        public = host_key_path(host).with_suffix(".pub").read_text().split()
        lines.append(f"{host.address},{host.hostname} {public[0]} {public[1]}\n")
    write_atomic(config.known_hosts_path, "".join(lines))


def ssh_options(config: LabConfig) -> list[str]:
    """Options for any ssh command into the lab; host-key checking stays on."""
    return [
        "-i",
        str(config.key_path),
        "-o",
        f"UserKnownHostsFile={config.known_hosts_path}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        # Never prompt (password, passphrase, unknown host key): fail instead.
        "-o",
        "BatchMode=yes",
    ]


def ssh_command(
    config: LabConfig, host: HostConfig, *remote: str, options: tuple[str, ...] = ()
) -> list[str]:
    return ["ssh", *ssh_options(config), *options, f"{LAB_USER}@{host.address}", *remote]


def answers_ssh(config: LabConfig, host: HostConfig) -> bool:
    """True if the host accepts the lab user's key and runs a command."""
    options = ("-o", "ConnectTimeout=3", "-o", "ControlPath=none")
    argv = ssh_command(config, host, "true", options=options)
    try:
        result = subprocess.run(argv, capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def close_ssh_clients(subnet: ipaddress.IPv4Network) -> list[int]:
    """Stop ssh clients and ControlPersist masters connected to the lab; return their PIDs.

    A master left over from a previous lab would serve the next lab at the same address
    with a dead connection, so Ansible's masters must go before the hosts do.
    """
    # ss (iproute2) names each connection's processes: users:(("ssh",pid=123,fd=3)).
    connections = run(["ss", "-H", "-t", "-n", "-p", "dst", str(subnet)]).stdout
    clients = sorted({int(pid) for name, pid in _SS_USER.findall(connections) if name == "ssh"})
    for pid in clients:
        _ask_master_to_exit(pid)
    procs.signal_and_wait(clients, signal.SIGTERM, 5)  # what is left: any other ssh client
    return clients


def _ask_master_to_exit(pid: int) -> None:
    # A backgrounded master renames itself "ssh: /root/.ansible/cp/abc123 [mux]"; asking
    # it to exit also removes its socket.
    title = " ".join(procs.cmdline(pid))
    if title.startswith("ssh: ") and title.endswith(" [mux]"):
        control_path = title[len("ssh: ") : -len(" [mux]")]
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={control_path}", "-O", "exit", "lab"],
                capture_output=True,
                timeout=10,
            )
