"""The benchmark matrix: which measurements a run makes, and in which order."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from itertools import product

from bench_client.config import SEQUENTIAL_MODES
from bench_client.results_format import Measurement

# sequential: one stack at a time (only it runs); paired: in the sequential modes,
# all stacks in one time window, blocks of requests in turn (docs/method.md).
DESIGNS = ("sequential", "paired")


class SelectionError(ValueError):
    """The user asked for a stack, mode or method that does not exist."""


def parse_selection(
    value: str | Sequence[str] | None, allowed: Sequence[str], what: str
) -> list[str]:
    """Turn ``"a,b"`` or ``["a", "b"]`` into a checked list; empty means all of ``allowed``."""
    if value is None or value == "" or value == []:
        return list(allowed)
    items = value.split(",") if isinstance(value, str) else list(value)
    chosen = [item.strip() for item in items if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown:
        raise SelectionError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return list(dict.fromkeys(chosen))


def build_plan(
    stacks: Iterable[str],
    modes: Iterable[str],
    methods: Iterable[str],
    repetitions: int,
    seed: int,
    design: str = "sequential",
) -> list[Measurement]:
    """Every measurement of the matrix, in a random order that ``seed`` reproduces.

    Each repetition visits the stacks in a fresh random order and, within a
    stack, its mode × method pairs in a random order. Keeping a stack's
    measurements together means one service start per stack and repetition,
    while the shuffles keep slow drifts of the hosts (thermal, caches, other
    load) from always favouring the same stack. In the paired design each
    repetition first measures the sequential modes' mode × method pairs, in a
    random order, each with all stacks together (consecutive in the plan).
    """
    if repetitions < 1:
        raise SelectionError("repetitions must be at least 1")
    if design not in DESIGNS:
        raise SelectionError(f"unknown design {design}; choose from {', '.join(DESIGNS)}")
    stacks, pairs = list(stacks), list(product(modes, methods))
    together = [p for p in pairs if design == "paired" and p[0] in SEQUENTIAL_MODES]
    pairs = [p for p in pairs if p not in together]
    rng = random.Random(seed)  # noqa: S311 - reproducible order, not a secret
    plan: list[Measurement] = []
    for repetition in range(1, repetitions + 1):
        for mode, method in rng.sample(together, k=len(together)):
            plan += [Measurement(mode, stack, method, repetition) for stack in stacks]
        for stack in rng.sample(stacks, k=len(stacks)):
            for mode, method in rng.sample(pairs, k=len(pairs)):
                plan.append(Measurement(mode, stack, method, repetition))
    return plan
