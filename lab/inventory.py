"""The Ansible inventory of a running lab: inventory/<lab-name>.yml."""

from __future__ import annotations

import json

from lab.access import Owner
from lab.config import LAB_USER, LabConfig
from lab.system import holds, write_atomic

HEADER = "# Written by `python -m lab up --name {name}`; rewritten on every up. Do not edit.\n"
CGROUP_NOTE = "cgroup v1 controllers read-only in the container: MemoryMax=/CPUQuota= not enforced"
BPF_NOTE = (
    "no BPF in the container: IPAddressAllow=/SocketBindAllow= not enforced; "
    "nftables table inet httplab restricts the stack ports"
)
DATABASE_NOTE = (
    "PostgreSQL (database workloads) runs in the server container: "
    "data in memory (tmpfs overlay), on the server's CPU"
)


def lab_notes(config: LabConfig, cpus: dict[str, list[int]]) -> list[str]:
    """Facts about the embedded lab that belong in every result's manifest."""
    hosts = "server and client are" if config.clients == 1 else "server and clients are"
    notes = [
        f"embedded lab: {hosts} systemd-nspawn containers (Debian 12) "
        "on one machine, sharing its kernel",
        CGROUP_NOTE,
        BPF_NOTE,
        DATABASE_NOTE,
        f"lab subnet {config.subnet} on bridge {config.bridge}; no route out of the lab",
    ]
    server_cpus, client_cpus = cpus["server"], cpus[config.client.role]
    clients = "client" if config.clients == 1 else f"{config.clients} clients"
    if server_cpus != client_cpus:
        shared = " (shared)" if config.clients > 1 else ""
        notes.append(
            f"server pinned to CPU {_cpu_list(server_cpus)}, "
            f"{clients} to CPU {_cpu_list(client_cpus)}{shared}"
        )
    else:
        notes.append(
            f"server and {clients} share CPU {_cpu_list(server_cpus)} (one CPU on this machine)"
        )
    if cpus.get("control"):
        notes.append(f"the control node measures from CPU {_cpu_list(cpus['control'])}")
    return notes


def _cpu_list(cpus: list[int]) -> str:
    return ",".join(map(str, cpus))


def render(config: LabConfig, cpus: dict[str, list[int]]) -> str:
    ssh_args = (
        f"-o UserKnownHostsFile={config.access_known_hosts_path} -o StrictHostKeyChecking=yes"
    )
    server = config.server
    inventory = {
        "all": {
            "vars": {
                "ansible_user": LAB_USER,
                "ansible_ssh_private_key_file": str(config.access_key_path),
                "ansible_ssh_common_args": ssh_args,
                "ansible_python_interpreter": "/usr/bin/python3",
                "httplab_install_source": "wheelhouse",
                "httplab_lab": "embedded",
                "httplab_lab_name": config.name,
                "httplab_lab_notes": lab_notes(config, cpus),
                # Which of this machine's CPUs each host runs on, and the control node's.
                "httplab_lab_cpus": {
                    "server": cpus["server"],
                    "clients": cpus[config.client.role],
                    "control": cpus.get("control", []),
                },
            },
            "children": {
                "servers": {
                    "vars": {"ansible_become": True},
                    "hosts": {server.hostname: {"ansible_host": str(server.address)}},
                },
                "clients": {
                    "hosts": {
                        client.hostname: {
                            "ansible_host": str(client.address),
                            "bench_client_os": "linux",
                            "bench_client_python": "/usr/bin/python3",
                        }
                        for client in config.client_hosts
                    }
                },
            },
        }
    }
    return HEADER.format(name=config.name) + "".join(f"{line}\n" for line in _yaml(inventory))


def _yaml(node: dict | list, depth: int = 0) -> list[str]:
    """Block-style YAML lines, list items indented under their key as yamllint expects.

    Keys are names (variables, host names) and stay plain; every value is a JSON scalar,
    which YAML reads as it is (a string double-quoted, true, false, a number).
    """
    indent = "  " * depth
    if isinstance(node, list):
        return [f"{indent}- {json.dumps(item)}" for item in node]
    lines = []
    for key, value in node.items():
        if isinstance(value, dict | list):
            lines += [f"{indent}{key}:", *_yaml(value, depth + 1)]
        else:
            lines.append(f"{indent}{key}: {json.dumps(value)}")
    return lines


def write(config: LabConfig, cpus: dict[str, list[int]], owner: Owner) -> bool:
    """Write the inventory, owned by the lab's owner; return False when it was so already.

    Its directory is the owner's checkout: nothing there is followed (see write_atomic).
    """
    text = render(config, cpus)
    ids = (owner.uid, owner.gid)
    if holds(config.inventory_path, text, ids):
        return False
    write_atomic(config.inventory_path, text, owner=ids)
    return True
