"""The hosts in the manifest: the server as Ansible saw it, the clients as they wrote.

Each client describes itself (bench_client/facts.py) in every meta file it writes.
With one client host a cell's own meta file is that host's; with several, each host's
share of a cell has its own meta file (``entry["hosts"][<host>]["meta"]``). The first
meta file a host delivered complete speaks for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench_client.documents import DocumentError, Status, read_meta
from orchestrator.manifest import Manifest, utc_now

# From the server's noise reading (bench_client/noise.py): the CPUs the server's
# processes may use, all of its CPUs, those of the stack's processes, the governor.
SERVER_CPU_KEYS = ("cpus", "cpu_count", "stack_cpus", "governor")


def finalize(
    manifest: Manifest,
    server_facts: Mapping[str, Any] | None,
    clients: dict[str, str | None],
    stacks: Sequence[Mapping[str, Any]],
    tuning: Mapping[str, Any] | None,
) -> None:
    """Add what the hosts are to the manifest: the server's facts (Ansible's, when the
    playbook gave them) and how its CPUs were set up, every client host's own description,
    each measured stack's record (versions, workers) and the tuning in force."""
    server_cpus = _first_server_reading(manifest)
    manifest.data["hosts"]["server"] = {
        **(server_facts or manifest.data["hosts"].get("server") or {}),
        **{key: server_cpus[key] for key in SERVER_CPU_KEYS if key in server_cpus},
    }
    described = client_facts(manifest, clients)
    manifest.data["hosts"]["clients"] = described
    if described:  # the first client host, where manifests before schema 3 kept it
        manifest.data["hosts"]["client"] = next(iter(described.values()))
    measured = set(manifest.data["settings"]["stacks"])
    if stacks:  # the server describes every stack it runs; keep those this run measured
        manifest.data["stacks"] = [dict(s) for s in stacks if s.get("name") in measured]
    if tuning is not None:
        manifest.data["tuning"] = dict(tuning)
    manifest.data["finished"] = utc_now()
    manifest.save()


def _first_server_reading(manifest: Manifest) -> dict[str, Any]:
    """How the server's CPUs were set up, as the first complete cell's noise reading saw it."""
    for entry in manifest.data["measurements"]:
        if entry["status"] != Status.COMPLETE:
            continue
        try:
            noise = read_meta(manifest.run_dir / entry["meta"]).document.get("host_noise")
        except DocumentError:
            continue
        server = (noise or {}).get("server") if isinstance(noise, dict) else None
        if isinstance(server, dict):
            return server
    return {}


def client_facts(manifest: Manifest, addresses: dict[str, str | None]) -> dict[str, dict]:
    """Every client host's facts by inventory name, in the inventory's order.

    ``addresses``: each client host's address by name (None: the name is the address);
    the first is the client of the cells measured by one host. A host that delivered no
    complete meta file has its address and name only.
    """
    names = list(addresses)
    found: dict[str, dict[str, Any]] = {}
    for entry in manifest.data["measurements"]:
        for name, meta in _complete_metas(entry, names[0] if names else None):
            if name in addresses and name not in found:
                facts = _read_client(manifest.run_dir / meta)
                if facts is not None:
                    found[name] = facts
    described = {}
    for name, address in addresses.items():
        facts = dict(found.get(name, {}))
        # The client describes itself in its own words; add the manifest's common keys.
        facts.setdefault("name", name)
        facts.setdefault("address", address or name)
        if "release" in facts:
            facts.setdefault("kernel", facts["release"])
        described[name] = facts
    return described


def _complete_metas(entry: dict[str, Any], sole_client: str | None) -> list[tuple[str, str]]:
    """(host, meta file) of each host that delivered this entry complete."""
    if entry.get("hosts"):
        return [(name, files["meta"]) for name, files in entry["hosts"].items()
                if files.get("status") == Status.COMPLETE and files.get("meta")]  # fmt: skip
    if entry["status"] == Status.COMPLETE and sole_client is not None:
        return [(sole_client, entry["meta"])]
    return []


def _read_client(path: Path) -> dict[str, Any] | None:
    try:
        return dict(read_meta(path).client) or None
    except DocumentError:
        return None
