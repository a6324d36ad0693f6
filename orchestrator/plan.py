"""The benchmark matrix: which measurements a run makes, and in which order."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product

MODES = ("constant", "concurrent", "keepalive", "rate")
METHODS = ("GET", "POST")


class SelectionError(ValueError):
    """The user asked for a stack, mode or method that does not exist."""


@dataclass(frozen=True)
class Measurement:
    """One CSV: a mode × stack × method, possibly repeated."""

    mode: str
    stack: str
    method: str
    repetition: int = 1

    @property
    def stem(self) -> str:
        """Path of the CSV without its extension, relative to the run folder."""
        suffix = "" if self.repetition == 1 else f".rep{self.repetition}"
        return f"{self.mode}/{self.stack}/{self.method}{suffix}"

    @property
    def csv(self) -> str:
        return f"{self.stem}.csv"

    @property
    def meta(self) -> str:
        return f"{self.stem}.meta.json"


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
) -> list[Measurement]:
    """Every measurement of the matrix, in a random order that ``seed`` reproduces.

    Each repetition visits the stacks in a fresh random order and, within a
    stack, its mode × method pairs in a random order. Keeping a stack's
    measurements together means one service start per stack and repetition,
    while the shuffles keep slow drifts of the hosts (thermal, caches, other
    load) from always favouring the same stack.
    """
    if repetitions < 1:
        raise SelectionError("repetitions must be at least 1")
    stacks, pairs = list(stacks), list(product(modes, methods))
    rng = random.Random(seed)  # noqa: S311 - reproducible order, not a secret
    plan: list[Measurement] = []
    for repetition in range(1, repetitions + 1):
        for stack in rng.sample(stacks, k=len(stacks)):
            for mode, method in rng.sample(pairs, k=len(pairs)):
                plan.append(Measurement(mode, stack, method, repetition))
    return plan
