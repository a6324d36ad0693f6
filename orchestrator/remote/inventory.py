"""How to reach the client host, read from the same Ansible inventory the playbooks use.

`ansible-inventory --list` resolves the inventory (YAML, INI, group_vars,
host_vars) exactly as ansible-playbook would; this module only picks out the
connection settings of the host in group ``clients``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_client.results_format import ExitCode
from orchestrator.remote.errors import RemoteError

CLIENT_GROUP = "clients"
SERVER_GROUP = "servers"
DEFAULT_WORKDIR = "httplab-client"
_STRICT_VALUES = {"yes", "true", "on"}


class InventoryError(RemoteError):
    """The inventory cannot say how to reach the client; the message says what to fix."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ClientHost:
    """Connection settings and client options of one inventory host."""

    name: str
    address: str
    user: str
    port: int
    key_file: Path | None
    known_hosts: Path
    os: str | None  # "linux" | "windows" | None (probe)
    shell: str | None  # "posix" | "cmd" | "powershell" | None (probe)
    python: list[str] | None  # interpreter command; None = the OS default
    workdir: str
    install_source: str  # "index" | "wheelhouse"
    hostvars: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name the host: inventory name and address."""
        return f"{self.name} ({self.user}@{self.address}:{self.port})"


def ansible_inventory_binary() -> str:
    """ansible-inventory beside the running Python (the venv), else from PATH."""
    beside = Path(sys.executable).with_name("ansible-inventory")
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-inventory")
    if found is None:
        raise InventoryError("ansible-inventory not found: activate the venv (make venv)")
    return found


def list_inventory(inventory: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved inventory as `ansible-inventory --list` prints it.

    `ansible-inventory` takes about 2 s; a command that asks for the servers and then the
    clients gets one listing, read again only when the inventory file changed.
    """
    if not Path(inventory).exists():
        raise InventoryError(f"inventory {inventory} does not exist")
    changed = Path(inventory).stat()
    return copy.deepcopy(_listing(str(inventory), changed.st_mtime_ns, changed.st_size))


@functools.lru_cache(maxsize=8)
def _listing(inventory: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    proc = subprocess.run(
        [ansible_inventory_binary(), "-i", str(inventory), "--list"],
        # Ansible refuses a non-blocking stdin it inherits (a caller in the background).
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        # A file that does not parse is an error, with Ansible's words for why and where.
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"},
    )
    if proc.returncode != 0:
        raise InventoryError(
            f"{inventory} is not an inventory Ansible can read: {_why(proc.stderr)}"
        )
    return json.loads(proc.stdout)


# Ansible's own words for a file it could not parse, and where: the first plugin's (the
# others tried after it only repeat the failure in their terms).
_PARSE_ERROR = re.compile(
    r"caused by >>>\s*\n\s*(?P<what>.+?)\s*\nOrigin: \S+?:(?P<line>\d+):(?P<column>\d+)"
)


def _why(stderr: str) -> str:
    found = _PARSE_ERROR.search(stderr)
    if found:
        return f"{found['what']} (line {found['line']}, column {found['column']})"
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "no reason given"


def group_hosts(listing: dict[str, Any], group: str) -> list[str]:
    """Hosts of ``group`` including those of its child groups, in inventory order."""
    hosts: list[str] = []
    pending = [group]
    seen: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        entry = listing.get(name, {})
        hosts.extend(host for host in entry.get("hosts", []) if host not in hosts)
        pending.extend(entry.get("children", []))
    return hosts


def read_server(inventory: str | os.PathLike[str]) -> ClientHost:
    """How to reach the host of group ``servers`` (for the preflight; Ansible provisions it)."""
    listing = list_inventory(inventory)
    servers = group_hosts(listing, SERVER_GROUP)
    if len(servers) != 1:
        raise InventoryError(
            f"{inventory} needs exactly one host in group {SERVER_GROUP} "
            f"(has: {', '.join(servers) or 'none'})"
        )
    hostvars = listing.get("_meta", {}).get("hostvars", {}).get(servers[0], {})
    return client_from_hostvars(servers[0], hostvars)


def read_client(inventory: str | os.PathLike[str], host: str | None = None) -> ClientHost:
    """The client host of ``inventory`` (group ``clients``; ``host`` picks one of several)."""
    listing = list_inventory(inventory)
    clients = group_hosts(listing, CLIENT_GROUP)
    if host is not None:
        if host not in clients:
            raise InventoryError(
                f"{host} is not in group {CLIENT_GROUP} of {inventory} "
                f"(clients: {', '.join(clients) or 'none'})"
            )
        name = host
    elif len(clients) == 1:
        name = clients[0]
    elif not clients:
        raise InventoryError(f"{inventory} has no host in group {CLIENT_GROUP}")
    else:
        raise InventoryError(
            f"{inventory} has several clients ({', '.join(clients)}); choose one with --client"
        )
    hostvars = listing.get("_meta", {}).get("hostvars", {}).get(name, {})
    return client_from_hostvars(name, hostvars)


def read_clients(inventory: str | os.PathLike[str]) -> list[ClientHost]:
    """Every host of group ``clients``, in inventory order (at least one)."""
    listing = list_inventory(inventory)
    clients = group_hosts(listing, CLIENT_GROUP)
    if not clients:
        raise InventoryError(f"{inventory} has no host in group {CLIENT_GROUP}")
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    return [client_from_hostvars(name, hostvars.get(name, {})) for name in clients]


def client_from_hostvars(name: str, hostvars: dict[str, Any]) -> ClientHost:
    """Connection settings from one host's variables, with ssh's defaults."""

    def var(*names: str, default: Any = None) -> Any:
        for var_name in names:
            value = hostvars.get(var_name)
            if value is not None:
                if isinstance(value, str) and "{{" in value:
                    raise InventoryError(
                        f"{name}: {var_name} is a template ({value!r}); "
                        "give the client's connection settings as plain values"
                    )
                return value
        return default

    options = ssh_options(
        " ".join(
            str(var(option, default=""))
            for option in ("ansible_ssh_common_args", "ansible_ssh_extra_args")
        )
    )
    strict = options.get("stricthostkeychecking", "yes").lower()
    if strict not in _STRICT_VALUES:
        raise InventoryError(
            f"{name}: StrictHostKeyChecking={strict} in the inventory; httplab checks host keys: "
            "add the client's key to the known_hosts file and set StrictHostKeyChecking=yes"
        )
    # ssh takes several whitespace-separated files; httplab reads the first
    # (or the whole value when that names a file, for paths with spaces).
    known_hosts = options.get("userknownhostsfile", "~/.ssh/known_hosts")
    if not Path(known_hosts).expanduser().exists():
        known_hosts = known_hosts.split()[0]
    key_file = var("ansible_ssh_private_key_file", "ansible_private_key_file")
    user = var("ansible_user", "ansible_ssh_user", "ansible_ssh_user_name")
    if user is None:
        raise InventoryError(f"{name}: no ansible_user in the inventory")
    client_os = var("bench_client_os")
    if client_os is not None and client_os not in ("linux", "windows"):
        raise InventoryError(f"{name}: bench_client_os must be linux or windows, not {client_os!r}")
    shell = var("bench_client_shell")
    if shell is not None and shell not in ("posix", "cmd", "powershell"):
        raise InventoryError(
            f"{name}: bench_client_shell must be posix, cmd or powershell, not {shell!r}"
        )
    source = var("httplab_install_source", default="index")
    if source not in ("index", "wheelhouse"):
        raise InventoryError(
            f"{name}: httplab_install_source must be index or wheelhouse, not {source!r}"
        )
    try:
        port = int(var("ansible_port", "ansible_ssh_port", default=22))
    except (TypeError, ValueError):
        raise InventoryError(f"{name}: ansible_port is not a number") from None
    return ClientHost(
        name=name,
        address=str(var("ansible_host", "ansible_ssh_host", default=name)),
        user=str(user),
        port=port,
        key_file=Path(str(key_file)).expanduser() if key_file else None,
        known_hosts=Path(known_hosts).expanduser(),
        os=client_os,
        shell=shell,
        python=python_command(var("bench_client_python"), client_os),
        workdir=str(var("bench_client_workdir", default=DEFAULT_WORKDIR)),
        install_source=source,
        hostvars=hostvars,
    )


def ssh_options(args: str) -> dict[str, str]:
    """``-o Key=Value`` / ``-o Key Value`` / ``-oKey=Value`` options, keys lower-cased.

    As in ssh, the first value given for an option wins.
    """
    words = shlex.split(args)
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-o" and i + 1 < len(words):
            setting = words[i + 1]
            i += 2
        elif word.startswith("-o") and len(word) > 2:
            setting = word[2:]
            i += 1
        else:
            i += 1
            continue
        key, sep, value = setting.partition("=")
        if not sep:
            key, _, value = setting.partition(" ")
        options.setdefault(key.strip().lower(), value.strip())
    return options


def python_command(value: Any, client_os: str | None) -> list[str] | None:
    """The interpreter command as argv: a list as given; a string split into words.

    A Windows path to python.exe is one word even with spaces in it
    ("C:\\Program Files\\Python311\\python.exe"); "py -3.11" is two.
    """
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(part) for part in value]
    text = str(value).strip()
    if client_os == "windows" or "\\" in text:
        if text.lower().endswith(".exe") or text.startswith('"'):
            return [text.strip('"')]
        return text.split()
    return shlex.split(text)
