"""When the preflight cannot log in: what the network showed, and the likely causes in order.

Without a session nothing on the host can be read, so the causes are ranked from
what can be seen from here: whether TCP connects at all (a time-out is a firewall
dropping packets, a refusal is no sshd listening), the SSH server's banner
(``OpenSSH_for_Windows`` names a Windows host before any login), and the error.
Each cause comes with a fix that works on that system; the Windows fixes name
groups by SID (``*S-1-5-32-544``), which every display language accepts.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko

from orchestrator.remote.inventory import ClientHost

WINDOWS_BANNER = "OpenSSH_for_Windows"
ADMIN_KEYS = r"C:\ProgramData\ssh\administrators_authorized_keys"
USER_KEYS = r'"$env:USERPROFILE\.ssh\authorized_keys"'
FIREWALL_RULE = "OpenSSH-Server-In-TCP"  # the rule Add-WindowsCapability creates
# Administrators (S-1-5-32-544) and SYSTEM (S-1-5-18) by SID: their names are translated.
ADMIN_KEYS_ACL = (
    f'icacls.exe {ADMIN_KEYS} /inheritance:r /grant "*S-1-5-32-544:F" /grant "*S-1-5-18:F"'
)


@dataclass(frozen=True)
class TcpProbe:
    """What a plain TCP connection to the SSH port showed: its outcome and the banner line."""

    outcome: str  # "banner", "timed out", "refused", or an OS error's text
    banner: str = ""

    @property
    def windows(self) -> bool:
        return WINDOWS_BANNER in self.banner


def probe_tcp(address: str, port: int, timeout: float) -> TcpProbe:
    """Connect to ``address``:``port`` and read the first line an SSH server sends."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            data = sock.recv(256)
    except TimeoutError:
        return TcpProbe("timed out")
    except ConnectionRefusedError:
        return TcpProbe("refused")
    except OSError as exc:
        return TcpProbe(exc.strerror or str(exc))
    return TcpProbe("banner", data.split(b"\n")[0].decode("ascii", "replace").strip())


@dataclass(frozen=True)
class Cause:
    what: str
    fix: str


def public_key_line(key_file: Path | None) -> str:
    """The public key that goes into the host's authorized_keys (never the private part)."""
    if key_file is None:
        return "<your public key, e.g. the line of ~/.ssh/id_ed25519.pub>"
    public = key_file.with_name(key_file.name + ".pub")
    if public.is_file():
        return public.read_text(encoding="utf-8").strip()
    try:
        key = paramiko.PKey.from_path(key_file)
    except (OSError, paramiko.SSHException):  # encrypted, or no key: its .pub is the answer
        return f"<the line of {public}>"
    return f"{key.get_name()} {key.get_base64()}"


def _fingerprint(key_file: Path | None) -> str:
    if key_file is None:
        return "your key's"
    try:
        return paramiko.PKey.from_path(key_file).fingerprint  # "SHA256:..."
    except (OSError, paramiko.SSHException):
        return f"ssh-keygen -lf {key_file} prints the fingerprint"


def windows_auth_causes(host: ClientHost) -> list[Cause]:
    """Why a Windows sshd refused the key, most likely first (Windows 10/11, Server 2019+)."""
    line = public_key_line(host.key_file)
    return [
        Cause(
            "the key file is not ASCII/UTF-8: in Windows PowerShell 5.1 `echo ... >`, `>` and "
            "Out-File write UTF-16, in which sshd finds no key (and logs nothing useful)",
            f"in an administrator PowerShell, write it again as ASCII: Set-Content -Encoding "
            f"ascii -Path {ADMIN_KEYS} -Value '{line}' (an account in Administrators), or "
            f"-Path {USER_KEYS} as that user (any other account)",
        ),
        Cause(
            f"the account is in Administrators: sshd reads only {ADMIN_KEYS}, and only when "
            "its ACL grants Administrators and SYSTEM alone",
            f"{ADMIN_KEYS_ACL} (by SID: the group names are translated on a localized Windows)",
        ),
        Cause(
            "the key in the file is another one",
            f"compare `ssh-keygen -lf {ADMIN_KEYS}` on the host with {_fingerprint(host.key_file)}",
        ),
        Cause(
            f"ansible_user ({host.user}) is not the Windows account",
            "use the account's name; a domain account as user@domain",
        ),
    ]


def posix_auth_causes(host: ClientHost) -> list[Cause]:
    line = public_key_line(host.key_file)
    return [
        Cause(
            f"the public key is not in ~{host.user}/.ssh/authorized_keys",
            f"append this line to it: {line}",
        ),
        Cause(
            "sshd ignores the file: the home directory, ~/.ssh or authorized_keys is writable "
            "by others (StrictModes)",
            "chmod go-w ~ && chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys",
        ),
        Cause(f"ansible_user ({host.user}) is not the account", "use the account's name"),
    ]


def firewall_causes(host: ClientHost) -> list[Cause]:
    """A time-out: packets dropped. On Windows the sshd rule may miss this network's profile."""
    windows = Cause(
        f"Windows Firewall drops it: the rule {FIREWALL_RULE} may cover the Domain and Private "
        "profiles only, and this network is Public",
        f"on the client, in an administrator PowerShell: Get-NetConnectionProfile | "
        f"Select-Object InterfaceAlias, NetworkCategory; Get-NetFirewallRule -Name "
        f"{FIREWALL_RULE} | Select-Object Name, Enabled, Profile; then Set-NetFirewallRule "
        f"-Name {FIREWALL_RULE} -Profile Any (a managed machine: ask for the rule to be "
        "deployed for all profiles)",
    )
    posix = Cause(
        "the client's firewall drops it (ufw, firewalld, nftables)",
        f"allow TCP {host.port} from the control node (e.g. sudo ufw allow {host.port}/tcp)",
    )
    network = Cause(
        f"the address or port is wrong ({host.address}:{host.port}), or a firewall between "
        "the control node and the client drops it",
        "check ansible_host and ansible_port; ask whoever runs the network",
    )
    asleep = Cause("the client is asleep or off", "wake it; turn off sleep while benchmarking")
    first = [windows] if host.os != "linux" else [posix]
    return [*first, network, asleep]


def refused_causes(host: ClientHost) -> list[Cause]:
    windows = host.os != "linux"
    return [
        Cause(
            f"no SSH server listens on port {host.port}",
            "Start-Service sshd; Set-Service sshd -StartupType Automatic"
            if windows
            else "sudo systemctl enable --now ssh",
        ),
        Cause(f"ansible_port ({host.port}) is not sshd's Port", "set ansible_port to it"),
    ]


def ssh_failure(host: ClientHost, error: str, probe: TcpProbe) -> tuple[str, list[Cause]]:
    """The problem to report when ``connect`` failed with ``error``, and its likely causes."""
    if probe.outcome == "timed out":
        return f"{error}; TCP to port {host.port} timed out", firewall_causes(host)
    if probe.outcome == "refused":
        return f"{error}; TCP to port {host.port} was refused", refused_causes(host)
    if probe.outcome != "banner":
        return f"{error}; TCP: {probe.outcome}", firewall_causes(host)[1:]
    if "authentication failed" in error:
        windows = probe.windows or host.os == "windows"
        causes = windows_auth_causes(host) if windows else posix_auth_causes(host)
        return f"{host.label}: the SSH server ({probe.banner}) refused the key {host.key_file}", (
            causes
        )
    return f"{error} (server: {probe.banner or 'sent no banner'})", []


def causes_text(causes: list[Cause]) -> str:
    """The fix of a failure with several possible causes: each, with its fix, in order."""
    return "likely causes, most likely first:\n" + "\n".join(
        f"{number}. {cause.what}\n   fix: {cause.fix}" for number, cause in enumerate(causes, 1)
    )
