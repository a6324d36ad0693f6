"""A run's variables, as Ansible resolves them, and where each one came from.

A run reads its ``httplab_bench_*`` settings and a few other ``httplab_*`` variables
(the stack matrix, the declared requests, the run id...). They come, lowest first, from
bench_client.settings' declarations, ``inventory/group_vars/all/`` beside the inventory,
the inventory's own group and host variables, and ``-e`` on the command line. Called
from a playbook, ``httplab`` gets the values Ansible resolved (``--vars JSON``); called by
hand, it resolves them the same way from ``ansible-inventory --list`` and its own ``-e``.
Either way each value is attributed to its source, which ``httplab settings`` prints and
the manifest records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.splitter import parse_kv

from bench_client.settings import PREFIX
from orchestrator.remote.inventory import SERVER_GROUP, group_hosts

# The httplab_* variables a run reads besides its settings (httplab_bench_*).
RUN_VARIABLES = (
    "httplab_stacks",
    "httplab_apps",
    "httplab_requests",
    "httplab_run_id",
    "httplab_results_dir",
    "httplab_stack_keep_running",
    "httplab_lab",
    "httplab_lab_notes",
    "httplab_lab_cpus",
    "httplab_database_enabled",
)
# Set in inventory/group_vars/all/ as a template of other variables, which only Ansible
# renders: by hand the run derives it itself (orchestrator/workloads.py), so there it is
# left out, not refused; given with -e it counts.
DERIVED = ("httplab_database_enabled",)
DEFAULTS_FILE = Path("group_vars/all/benchmark.yml")  # beside the inventory
EXTRA = "-e (extra vars)"
DECLARED = "default"


class VarsError(ValueError):
    """A variable cannot be read; the message names it and what to do."""


@dataclass(frozen=True)
class RunVars:
    """A run's variables by name, each with where its value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def settings(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The httplab_bench_* values and their sources, by setting name."""
        names = [name for name in self.values if name.startswith(PREFIX)]
        return (
            {name.removeprefix(PREFIX): self.values[name] for name in names},
            {name.removeprefix(PREFIX): self.sources[name] for name in names},
        )


def wanted(name: str) -> bool:
    return name.startswith(PREFIX) or name in RUN_VARIABLES


def parse_extra_vars(items: Sequence[str]) -> dict[str, Any]:
    """``-e`` as ansible-playbook reads it: key=value words, a JSON or YAML mapping, or
    @FILE; later items win."""
    extra: dict[str, Any] = {}
    for item in items:
        text = item.strip()
        if text.startswith("@"):
            try:
                loaded = yaml.safe_load(Path(text[1:]).read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as error:
                raise VarsError(f"-e {item}: {error}") from None
        elif text.startswith(("{", "[")):
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise VarsError(f"-e {item!r}: not JSON or YAML: {error}") from None
        else:
            loaded = parse_kv(text)
            if "_raw_params" in loaded:
                raise VarsError(f"-e {item!r}: want NAME=VALUE, a JSON object or @FILE")
        if not isinstance(loaded, dict):
            raise VarsError(f"-e {item!r}: want NAME=VALUE, a JSON object or @FILE")
        extra.update(loaded)
    return extra


@dataclass(frozen=True)
class Inventory:
    """Where a run's variables come from besides -e: an inventory's listing
    (``ansible-inventory --list``) and the directory whose group_vars/ it applies."""

    label: str  # how sources name it: its path
    listing: Mapping[str, Any]
    directory: Path

    @classmethod
    def defaults_only(cls, directory: Path) -> Inventory:
        """No inventory given: the checkout's own group_vars/all/*.yml, as an inventory in
        ``directory`` (inventory/) would have them."""
        merged: dict[str, Any] = {}
        for path in sorted((directory / DEFAULTS_FILE.parent).glob("*.yml")):
            try:
                merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
            except (OSError, yaml.YAMLError) as error:
                raise VarsError(f"{path}: {error}") from None
        return cls(_shown(directory / DEFAULTS_FILE.parent), {"all": {"vars": merged}}, directory)


def from_inventory(inventory: Inventory, extra: Mapping[str, Any]) -> RunVars:
    """The variables ansible-playbook would see on the server: the inventory's, then
    ``extra`` (-e) over them."""
    inventory_values = {
        name: value
        for name, value in _inventory_values(inventory.listing).items()
        if not (name in DERIVED and _templated(value))
    }
    for name, value in inventory_values.items():
        if _templated(value):
            raise VarsError(
                f"{name} is a template ({value!r}) that only Ansible renders: run "
                "ansible-playbook, or give the value with -e"
            )
    values = {**inventory_values, **{k: v for k, v in extra.items() if wanted(k)}}
    return RunVars(values, _attribute(values, inventory, inventory_values))


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def from_playbook(effective: Mapping[str, Any], inventory: Inventory) -> RunVars:
    """The variables a playbook resolved (``effective``), attributed by comparing them with
    the inventory's own: a value the inventory does not have came with -e."""
    values = {name: value for name, value in effective.items() if wanted(name)}
    return RunVars(values, _attribute(values, inventory, _inventory_values(inventory.listing)))


def _inventory_values(listing: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted variables as the server host has them (group_vars/all included)."""
    servers = group_hosts(dict(listing), SERVER_GROUP)
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    chosen = hostvars.get(servers[0], {}) if servers else listing.get("all", {}).get("vars", {})
    return {name: value for name, value in chosen.items() if wanted(name)}


def _attribute(
    values: Mapping[str, Any], inventory: Inventory, inventory_values: Mapping[str, Any]
) -> dict[str, str]:
    path = inventory.directory / DEFAULTS_FILE
    try:
        defaults = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        defaults = {}
    sources = {}
    for name, value in values.items():
        if name not in inventory_values or _differs(inventory_values[name], value):
            sources[name] = EXTRA
        elif name in defaults and not _differs(defaults[name], value):
            sources[name] = _shown(path)
        else:
            sources[name] = f"inventory {inventory.label}"
    return sources


def _shown(path: Path) -> str:
    """A path as a person reads it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _differs(one: Any, other: Any) -> bool:
    """Ansible renders -e values as strings: 200 and "200" are the same value."""
    return one != other and str(one) != str(other)
