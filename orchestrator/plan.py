"""The benchmark matrix: which measurements a run makes, and in which order."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from itertools import product
from pathlib import Path
from typing import Any

from bench_client.config import SEQUENTIAL_MODES
from bench_client.results_format import SWEEP_MODE, Measurement

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


def unfinished_sweeps(run_dir: Path, entries: list[dict[str, Any]]) -> list[str]:
    """A warning for each sweep whose last recorded step did not end by the stop rule.

    A resumed run counts a sweep whose step 1 is collected as done (docs/method.md): one
    stopped midway (interrupted, or its last step not delivered) keeps the steps it
    measured, and the user learns here that the rest of its ladder was not measured.
    """
    last: dict[tuple[str, str, int], dict[str, Any]] = {}
    for entry in entries:
        if entry["mode"] == SWEEP_MODE:
            key = (entry["stack"], entry["method"], entry["repetition"])
            if key not in last or entry["step"] > last[key]["step"]:
                last[key] = entry
    warnings = []
    for (stack, method, repetition), entry in sorted(last.items()):
        stopped = _stopped(run_dir / entry["meta"]) if entry["status"] == "complete" else None
        if stopped is not None and stopped != "interrupted":
            continue
        label = Measurement(SWEEP_MODE, stack, method, repetition, step=entry["step"]).label
        if entry["status"] != "complete":
            how = f"its last step is recorded {entry['status']}"
        else:
            how = "was interrupted" if stopped else "its last step recorded is not its last"
        warnings.append(
            f"{label}: {how}; a resume does not continue a sweep whose step 1 is "
            "collected, so its later steps are not measured; start a new run (without "
            "httplab_run_id) to measure the whole ladder"
        )
    return warnings


def _stopped(meta: Path) -> str | None:
    """Why the sweep stopped at this step, if the step says it was its last."""
    try:
        block = json.loads(meta.read_text(encoding="utf-8")).get("sweep") or {}
    except (OSError, ValueError):
        return None
    return (block.get("stopped") or {}).get("reason")
