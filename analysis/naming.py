"""Names, display order and colours of modes, stacks and requests, shared by every output.

One fixed colour per stack, so that a stack looks the same in every figure of every report.
The palette is Okabe-Ito (readable with the common forms of colour blindness).
"""

from __future__ import annotations

from collections.abc import Iterable

from bench_client.request import BUILTIN
from bench_client.results_format import MODES

# The paper's two modes first, then the ones httplab adds (the format's order).
MODE_ORDER = MODES
# The paper's requests first, then a run's own in the order of their names.
REQUEST_ORDER = tuple(BUILTIN)
# The stack matrix's order (inventory/group_vars/all/stacks.yml).
STACK_ORDER = (
    "flask-dev",
    "flask-gunicorn",
    "flask-gunicorn-gevent",
    "django-gunicorn",
    "django-daphne",
    "fastapi-uvicorn",
)
STACK_COLOURS = {
    "flask-dev": "#999999",
    "flask-gunicorn": "#0072B2",
    "flask-gunicorn-gevent": "#56B4E9",
    "django-gunicorn": "#009E73",
    "django-daphne": "#CC79A7",
    "fastapi-uvicorn": "#D55E00",
}
# Stacks added to the matrix later get these, in order of their sorted names.
SPARE_COLOURS = ("#E69F00", "#000000", "#F0E442", "#7F3C8D", "#11A579", "#3969AC")


def _ordered(names: Iterable[str], known: tuple[str, ...]) -> list[str]:
    present = set(names)
    return [n for n in known if n in present] + sorted(present.difference(known))


def order_modes(modes: Iterable[str]) -> list[str]:
    return _ordered(modes, MODE_ORDER)


def order_stacks(stacks: Iterable[str]) -> list[str]:
    return _ordered(stacks, STACK_ORDER)


def order_requests(requests: Iterable[str]) -> list[str]:
    return _ordered(requests, REQUEST_ORDER)


def stack_colours(stacks: Iterable[str]) -> dict[str, str]:
    """Colour of each stack: the fixed one if known, else a spare colour stable for that name."""
    ordered = order_stacks(stacks)
    unknown = [s for s in ordered if s not in STACK_COLOURS]
    colours = {s: STACK_COLOURS[s] for s in ordered if s in STACK_COLOURS}
    for index, stack in enumerate(unknown):
        colours[stack] = SPARE_COLOURS[index % len(SPARE_COLOURS)]
    return colours
