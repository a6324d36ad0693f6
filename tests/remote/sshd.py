"""A throwaway OpenSSH server on 127.0.0.1 for the Fabric tests, and an inventory for it.

It runs as root from a config file in a temporary directory, with its own
host key and an authorized_keys file that holds only the test's key; it
listens on loopback only and stops with the test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

SSHD = Path("/usr/sbin/sshd")


def unavailable_reason() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to run a throwaway sshd that logs in as root"
    if not SSHD.exists():
        return "needs /usr/sbin/sshd (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "needs ssh-keygen (apt-get install openssh-client)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "httplab-test", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    directory: Path
    port: int
    process: subprocess.Popen[bytes]
    client_key: Path
    host_public_key: str

    def known_hosts_line(self, public_key: str | None = None) -> str:
        key_type, key = (public_key or self.host_public_key).split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}\n"

    def session_processes(self) -> list[int]:
        """PIDs of the per-connection sshd processes (children of the listener)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_sshd(directory: Path) -> Sshd:
    directory.mkdir(parents=True, exist_ok=True)
    host_key = directory / "ssh_host_ed25519_key"
    host_public_key = keygen(host_key)
    client_key = directory / "client_ed25519"
    (directory / "authorized_keys").write_text(keygen(client_key) + "\n")
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PrintMotd no\n"
        "Subsystem sftp internal-sftp\n"
        "LogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    log = (directory / "sshd.log").open("wb")
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(directory / 'sshd.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("sshd did not start listening within 20 s")
    return Sshd(directory, port, process, client_key, host_public_key)


def client_python() -> str:
    """The interpreter that ran pytest, without its venv: the client's base Python."""
    return os.path.realpath(sys.executable)


def write_inventory(
    path: Path,
    sshd: Sshd,
    *,
    known_hosts: Path,
    workdir: Path,
    port: int | None = None,
    extra: dict | None = None,
) -> Path:
    """An inventory in the embedded lab's shape whose client is the throwaway sshd."""
    client = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port or sshd.port,
        "bench_client_python": client_python(),
        "bench_client_workdir": str(workdir),
        **(extra or {}),
    }
    data = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(sshd.client_key),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
                ),
                "httplab_install_source": "wheelhouse",
            },
            "children": {"clients": {"hosts": {"testclient": client}}},
        }
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
