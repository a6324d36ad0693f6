"""Names, display order and colours of modes, stacks and requests, shared by every output.

Stacks come in the stack matrix's order (inventory/group_vars/all/stacks.yml: adding a stack
there adds it here), each with one fixed colour by its place in the matrix, so that a stack looks
the same in every figure of every report. Stacks a run has that the matrix no longer lists come
after, in the order of their names. The palette is Okabe-Ito (readable with the common forms of
colour blindness), then further distinct colours.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

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


def _ordered(names: Iterable[str], known: tuple[str, ...]) -> list[str]:
    present = set(names)
    return [n for n in known if n in present] + sorted(present.difference(known))


def order_modes(modes: Iterable[str]) -> list[str]:
    return _ordered(modes, MODE_ORDER)


def order_stacks(stacks: Iterable[str]) -> list[str]:
    return _ordered(stacks, matrix_stacks())


def order_requests(requests: Iterable[str]) -> list[str]:
    return _ordered(requests, REQUEST_ORDER)


def stack_colours(stacks: Iterable[str]) -> dict[str, str]:
    """Colour of each stack: by its place in the matrix, then the stacks it does not list."""
    known = matrix_stacks()
    others = sorted(set(stacks).difference(known))
    places = {name: index for index, name in enumerate([*known, *others])}
    return {s: PALETTE[places[s] % len(PALETTE)] for s in order_stacks(stacks)}
