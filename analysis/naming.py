"""Names, display order and colours of modes, stacks and requests, shared by every output.

Stacks come grouped by framework and then by server, as the run being reported recorded them
(manifest.json's "stacks", in its matrix's order: ``use_stacks``), then in the checkout's stack
matrix's order (inventory/group_vars/all/stacks.yml), each with one colour by its place, so that a
stack looks the same in every figure of a report. Stacks neither lists come after, in the order
of their names. The palette is Okabe-Ito (readable with the common forms of
colour blindness), then further distinct colours.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bench_client.request import BUILTIN
from bench_client.results_format import MODES

# The paper's two modes first, then the ones httplab adds (the format's order).
MODE_ORDER = MODES
# The paper's requests first, then a run's own in the order of their names.
REQUEST_ORDER = tuple(BUILTIN)
MATRIX_FILE = (
    Path(__file__).resolve().parent.parent / "inventory" / "group_vars" / "all" / "stacks.yml"
)
PALETTE = (
    "#999999", "#0072B2", "#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#E69F00", "#000000",
    "#F0E442", "#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A", "#A5AA99",
)  # fmt: skip


@cache
def matrix_stacks() -> tuple[str, ...]:
    """The stack matrix's names in its order; none when the checkout has no matrix."""
    try:
        entries = (yaml.safe_load(MATRIX_FILE.read_text(encoding="utf-8")) or {}).get(
            "httplab_stacks"
        )
    except (OSError, yaml.YAMLError, AttributeError):
        return ()
    return tuple(str(e["name"]) for e in entries or [] if isinstance(e, dict) and "name" in e)


# The stacks of the run(s) being reported, grouped: set by use_stacks.
_recorded: tuple[str, ...] = ()


def grouped(records: Iterable[Any]) -> tuple[str, ...]:
    """The names of these stack records (manifest.json's "stacks") grouped by framework, then by
    server, each in order of first appearance."""
    seen = {
        str(r["name"]): (str(r.get("framework") or ""), str(r.get("server") or ""))
        for r in records
        if isinstance(r, dict) and isinstance(r.get("name"), str)
    }
    frameworks = list(dict.fromkeys(framework for framework, _ in seen.values()))
    servers = list(dict.fromkeys(server for _, server in seen.values()))
    return tuple(
        sorted(seen, key=lambda n: (frameworks.index(seen[n][0]), servers.index(seen[n][1])))
    )


def use_stacks(records: Iterable[Any]) -> None:
    """Order every output's stacks as these records, those of the runs being reported, group
    them."""
    global _recorded
    _recorded = grouped(records)


def known_stacks() -> tuple[str, ...]:
    """The recorded stacks (use_stacks), then the checkout's matrix's others."""
    return tuple(dict.fromkeys([*_recorded, *matrix_stacks()]))


def _ordered(names: Iterable[str], known: tuple[str, ...]) -> list[str]:
    present = set(names)
    return [n for n in known if n in present] + sorted(present.difference(known))


def order_modes(modes: Iterable[str]) -> list[str]:
    return _ordered(modes, MODE_ORDER)


def order_stacks(stacks: Iterable[str]) -> list[str]:
    return _ordered(stacks, known_stacks())


def order_requests(requests: Iterable[str]) -> list[str]:
    """The paper's requests, the workloads, each database workload's levels after it by
    their connections (db, db-c16, db-c64, db-c256), then a run's own by name."""
    present = set(requests)
    known = [
        name
        for base in REQUEST_ORDER
        for name in [base, *sorted((n for n in present if _level_of(n, base)), key=_connections)]
    ]
    return _ordered(present, tuple(known))


def _level_of(name: str, base: str) -> bool:
    head, _, level = name.rpartition("-c")
    return head == base and level.isdigit()


def _connections(name: str) -> int:
    return int(name.rpartition("-c")[2])


def stack_colours(stacks: Iterable[str]) -> dict[str, str]:
    """Colour of each stack: by its place in the matrix, then the stacks it does not list."""
    known = known_stacks()
    others = sorted(set(stacks).difference(known))
    places = {name: index for index, name in enumerate([*known, *others])}
    return {s: PALETTE[places[s] % len(PALETTE)] for s in order_stacks(stacks)}
