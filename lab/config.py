"""Names, addresses and paths of one lab, all derived from its name and subnet.

Several labs run side by side (a developer's, the test suite's, CI's), so every
name on the machine - bridge, veth, cgroup, state directory - carries the lab's name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lab.snapshot import INVENTORY_VARIABLE, LIB_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
# Root's own files (keys, seeds, PID files, locks): never in a checkout, which its owner can
# change. Older versions kept them in <checkout>/.lab/; lab.api moves a running lab's.
STATE_ROOT = LIB_DIR / "labs"
# The checkout's inventory/; lab/snapshot.py tells the copy of the code that root runs.
INVENTORY_DIR = Path(os.environ.get(INVENTORY_VARIABLE) or REPO_ROOT / "inventory")
IMAGE_ROOT = Path(os.environ.get("HTTPLAB_IMAGE_DIR", "/var/cache/httplab/images"))
# The copies of a lab's key and known_hosts that its owner's Ansible and Fabric read. In /run
# (root's, not the checkout's): no other user can put a link or a directory in their place.
ACCESS_ROOT = Path("/run/httplab")

DEFAULT_NAME = "embedded"
LAB_USER = "httplab"

_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
# Interface names may have 15 characters; "vb-" + tag + "-srv" must fit.
_TAG_LENGTH = 8
# Client machines are tag-c1..tag-c12: "vb-" + tag + "-c12" is 15 characters; a /28 holds 12.
MAX_CLIENTS = 12


@dataclass(frozen=True)
class HostConfig:
    """One lab host: the server or a client."""

    role: str
    hostname: str
    machine: str
    address: ipaddress.IPv4Address
    state_dir: Path

    @property
    def veth(self) -> str:
        """Host end of the container's veth, as systemd-nspawn names it."""
        return f"vb-{self.machine}"

    @property
    def seed_dir(self) -> Path:
        """Files handed to the host at boot (mounted read-only at /etc/httplab)."""
        return self.state_dir / "seed"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "nspawn.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "nspawn.log"


@dataclass(frozen=True)
class LabConfig:
    """Everything that names one lab on this machine."""

    name: str
    subnet: ipaddress.IPv4Network
    clients: int = 1

    @property
    def tag(self) -> str:
        return name_tag(self.name)

    @property
    def bridge(self) -> str:
        return bridge_name(self.name)

    @property
    def bridge_address(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def state_file(self) -> Path:
        return self.state_dir / "lab.json"

    @property
    def key_path(self) -> Path:
        """The lab user's private SSH key."""
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        return INVENTORY_DIR / f"{self.name}.yml"

    @property
    def access_dir(self) -> Path:
        """The lab owner's copies of the key and known_hosts, which the inventory names."""
        return ACCESS_ROOT / self.name

    @property
    def access_key_path(self) -> Path:
        return self.access_dir / self.key_path.name

    @property
    def access_known_hosts_path(self) -> Path:
        return self.access_dir / self.known_hosts_path.name

    @property
    def server(self) -> HostConfig:
        return self._host("server", "srv", 2)

    @property
    def client(self) -> HostConfig:
        """The first client (the only one in a lab with one client)."""
        return self.client_hosts[0]

    @property
    def client_hosts(self) -> tuple[HostConfig, ...]:
        """One client keeps the names of the two-host lab; several are client1..clientN."""
        if self.clients == 1:
            return (self._host("client", "cli", 3),)
        return tuple(self._host(f"client{i}", f"c{i}", 2 + i) for i in range(1, self.clients + 1))

    @property
    def hosts(self) -> tuple[HostConfig, ...]:
        return (self.server, *self.client_hosts)

    def _host(self, role: str, short: str, offset: int) -> HostConfig:
        return HostConfig(
            role=role,
            hostname=f"{self.name}-{role}",
            machine=f"{self.tag}-{short}",
            address=self.subnet.network_address + offset,
            state_dir=self.state_dir / role,
        )


def name_tag(name: str) -> str:
    """Short form of a lab name for interface names (at most 8 characters)."""
    if len(name) <= _TAG_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{name[:3]}{digest[:5]}"


def bridge_name(name: str) -> str:
    return f"hl-{name_tag(name)}"


def validate_name(name: str) -> str:
    """Return the name if it is a valid lab name, else raise ValueError."""
    if not _NAME_RE.match(name):
        raise ValueError(
            f"invalid lab name {name!r}: use 1-32 lowercase letters, digits and dashes "
            "(it becomes part of host and interface names)"
        )
    return name


def validate_clients(count: int, subnet: ipaddress.IPv4Network | None = None) -> int:
    """Return the number of client hosts if the lab (and its subnet) can hold them."""
    if not 1 <= count <= MAX_CLIENTS:
        raise ValueError(f"invalid number of clients {count}: use 1 to {MAX_CLIENTS}")
    # The network and broadcast addresses, the bridge (.1) and the server (.2) are taken.
    if subnet is not None and count > subnet.num_addresses - 4:
        raise ValueError(
            f"subnet {subnet} holds at most {subnet.num_addresses - 4} clients, not {count}: "
            "use a larger subnet (--subnet) or fewer clients"
        )
    return count


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """Parse a lab subnet; it needs room for the bridge, the server and the client."""
    try:
        subnet = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid subnet {text!r}: {exc} (example: 198.51.100.0/24)") from exc
    if subnet.prefixlen > 29:
        raise ValueError(f"subnet {subnet} is too small: use a /29 or larger")
    return subnet


def default_subnets(name: str) -> list[ipaddress.IPv4Network]:
    """Candidate subnets for a lab, best first, the same on every machine.

    The default lab owns 198.51.100.0/24 (TEST-NET-2). Other labs take a /28 of
    203.0.113.0/24 (TEST-NET-3), starting at one picked by a hash of the name so
    that the same name usually gets the same subnet.
    """
    if name == DEFAULT_NAME:
        return [ipaddress.IPv4Network("198.51.100.0/24")]
    slots = list(ipaddress.IPv4Network("203.0.113.0/24").subnets(new_prefix=28))
    start = int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(slots)
    return slots[start:] + slots[:start]
