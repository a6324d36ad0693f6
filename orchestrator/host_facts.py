"""The client hosts' facts for the manifest, from the meta files they wrote.

Each client describes itself (bench_client/facts.py) in every meta file it writes.
With one client host a cell's own meta file is that host's; with several, each host's
share of a cell has its own meta file (``entry["hosts"][<host>]["meta"]``). The first
meta file a host delivered complete speaks for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.manifest import COMPLETE, Manifest


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
                if files.get("status") == COMPLETE and files.get("meta")]  # fmt: skip
    if entry["status"] == COMPLETE and sole_client is not None:
        return [(sole_client, entry["meta"])]
    return []


def _read_client(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("client") or None
