"""The lab's bridge on the control node and the choice of a free subnet."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from lab.config import LabConfig, default_subnets
from lab.errors import LabError
from lab.image import MIRROR
from lab.system import run

PACKAGE_INDEX_HOSTS = ("pypi.org", "files.pythonhosted.org")
# In /run, not in a checkout's .lab/: labs of every checkout share the machine's addresses.
ALLOCATION_LOCK = Path("/run/httplab-network.lock")


def interface_networks() -> dict[str, list[ipaddress.IPv4Network]]:
    """IPv4 networks configured on this machine's interfaces, by interface name."""
    links = json.loads(run(["ip", "-json", "-4", "addr", "show"]).stdout)
    return {
        link["ifname"]: [
            ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            for a in link.get("addr_info", [])
        ]
        for link in links
    }


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def links_on_bridge(bridge: str) -> list[str]:
    if not link_exists(bridge):
        return []
    links = json.loads(run(["ip", "-json", "link", "show", "master", bridge]).stdout)
    return [link["ifname"] for link in links]


def _users_of(subnet: ipaddress.IPv4Network, own_bridge: str) -> list[str]:
    interfaces = [
        f"{ifname} ({network})"
        for ifname, networks in interface_networks().items()
        if ifname != own_bridge
        for network in networks
        if network.overlaps(subnet)
    ]
    remote = [f"{host} ({address})" for host, address in _package_sources() if address in subnet]
    return interfaces + remote


def _package_sources() -> list[tuple[str, ipaddress.IPv4Address]]:
    """Addresses of the package sources the node fetches from (the image mirror, PyPI).

    A lab subnet holding one of them would route it into the lab (where a mirror or
    proxy in a documentation range, as some sandboxes use, becomes unreachable).
    """
    sources = set()
    for host in (urllib.parse.urlsplit(MIRROR).hostname, *PACKAGE_INDEX_HOSTS):
        with contextlib.suppress(OSError):  # no DNS: nothing to avoid
            for *_, sockaddr in socket.getaddrinfo(host, None, socket.AF_INET):
                sources.add((host, ipaddress.IPv4Address(sockaddr[0])))
    return sorted(sources)


def choose_subnet(
    name: str, bridge: str, requested: ipaddress.IPv4Network | None
) -> ipaddress.IPv4Network:
    """The requested subnet if it is free, else the first free default one for this name."""
    if requested is not None:
        users = _users_of(requested, bridge)
        if users:
            raise LabError(
                f"subnet {requested} is already in use by {', '.join(users)}; "
                "choose another with --subnet"
            )
        return requested
    for candidate in default_subnets(name):
        if not _users_of(candidate, bridge):
            return candidate
    raise LabError(f"every default subnet for lab {name!r} is in use; choose one with --subnet")


@contextlib.contextmanager
def allocation_lock() -> Iterator[None]:
    """Machine-wide lock around choosing a subnet and claiming it with a bridge."""
    with ALLOCATION_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def create_bridge(config: LabConfig) -> None:
    """Create the lab's bridge with the control node's address (.1) on it."""
    bridge = config.bridge
    run(["ip", "link", "add", bridge, "type", "bridge"])
    address = f"{config.bridge_address}/{config.subnet.prefixlen}"
    run(["ip", "addr", "add", address, "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def _firewall_table(config: LabConfig) -> str:
    return f"httplab-{config.name}"


def install_firewall(config: LabConfig) -> None:
    """Drop what the lab hosts start towards the control node, and anything routed in or out.

    The node's own connections into the lab (SSH) are answered: established and related
    packets pass. Traffic between the hosts stays on the bridge. One nftables table per
    lab, replaced whole, so `up` after a crash leaves no duplicate rules.
    """
    table, bridge = _firewall_table(config), config.bridge
    ruleset = f"""\
table inet {table}
delete table inet {table}
table inet {table} {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{bridge}" ct state established,related accept
        iifname "{bridge}" drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{bridge}" oifname "{bridge}" accept
        iifname "{bridge}" drop
        oifname "{bridge}" drop
    }}
}}
"""
    run(["nft", "-f", "-"], stdin=ruleset)


def firewall_installed(config: LabConfig) -> bool:
    listed = run(["nft", "list", "table", "inet", _firewall_table(config)], check=False)
    return listed.returncode == 0


def remove_firewall(config: LabConfig) -> None:
    if firewall_installed(config):
        run(["nft", "delete", "table", "inet", _firewall_table(config)])


def delete_bridge(config: LabConfig) -> None:
    """Remove the bridge and any veth still enslaved to it."""
    for link in links_on_bridge(config.bridge):
        run(["ip", "link", "del", link], check=False)
    if link_exists(config.bridge):
        run(["ip", "link", "del", config.bridge])
