"""Fixtures of the role tests on the embedded lab's server."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator

import pytest

from lab.config import name_tag


@pytest.fixture(scope="module")
def outsider(embedded_lab) -> Iterator[list[str]]:
    """A network namespace on the lab's bridge with an address no unit allows."""
    subnet = ipaddress.ip_network(embedded_lab.subnet)
    address = f"{subnet.broadcast_address - 1}/{subnet.prefixlen}"
    # Named after the lab: two test labs on one machine get two outsiders.
    tag = name_tag(embedded_lab.name)
    name, host_end, ns_end = f"hl-out-{embedded_lab.name}", f"ho-{tag}-h", f"ho-{tag}-n"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
        ["ip", "link", "set", ns_end, "netns", name],
        ["ip", "link", "set", host_end, "master", embedded_lab.bridge, "up"],
        ["ip", "-n", name, "addr", "add", address, "dev", ns_end],
        ["ip", "-n", name, "link", "set", ns_end, "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
