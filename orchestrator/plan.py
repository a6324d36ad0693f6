"""The benchmark matrix: which measurements a run makes, in which order, and in which groups."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from bench_client.documents import DocumentError, Status, read_meta
from bench_client.results_format import SWEEP_MODE, Measurement
from bench_client.settings import DESIGNS, SEQUENTIAL_MODES


@dataclass(frozen=True)
class Cell:
    """One bench_client run: a mode × request × repetition of one stack, or of several
    stacks measured together in one time window (the paired design)."""

    mode: str
    request: str
    repetition: int
    stacks: tuple[str, ...]

    @property
    def measurements(self) -> list[Measurement]:
        return [
            Measurement(self.mode, stack, self.request, self.repetition) for stack in self.stacks
        ]

    @property
    def label(self) -> str:
        """How messages name the cell: 'flask-gunicorn constant GET rep 2', or with the
        paired design '6 stacks constant GET rep 2'."""
        first = self.measurements[0].label
        if len(self.stacks) == 1:
            return first
        return f"{len(self.stacks)} stacks " + first.removeprefix(f"{self.stacks[0]} ")


@dataclass(frozen=True)
class Group:
    """Consecutive cells measured with only ``running`` running: the server switches once.
    ``together``: the paired design's group, one cell of all its stacks at once."""

    running: tuple[str, ...]
    cells: tuple[Cell, ...]
    together: bool = False


def build_plan(
    cells: Mapping[str, Sequence[str]],
    modes: Iterable[str],
    repetitions: int,
    seed: int,
    design: str = "sequential",
    measured_in: Callable[[str, str], bool] = lambda mode, request: True,
) -> list[Measurement]:
    """Every measurement of the matrix, in a random order that ``seed`` reproduces:
    ``cells`` gives each stack the requests it is measured on, ``measured_in`` whether a
    request is measured in a mode, as ``(mode, request)`` (a request with its own
    concurrency only where one applies: orchestrator/workloads.py).

    Each repetition visits the stacks in a fresh random order and, within a
    stack, its mode × request pairs in a random order. Keeping a stack's
    measurements together means one service start per stack and repetition,
    while the shuffles keep slow drifts of the hosts (thermal, caches, other
    load) from always favouring the same stack. In the paired design each
    repetition first measures the sequential modes' mode × request pairs, in a
    random order, each with all the stacks measured on that request together
    (consecutive in the plan).
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design}; choose from {', '.join(DESIGNS)}")
    modes, stacks = list(modes), list(cells)
    requests = list(dict.fromkeys(r for asked in cells.values() for r in asked))
    together = [
        (m, r)
        for m, r in product(modes, requests)
        if design == "paired" and m in SEQUENTIAL_MODES and measured_in(m, r)
    ]
    rng = random.Random(seed)  # noqa: S311 - reproducible order, not a secret
    plan: list[Measurement] = []
    for repetition in range(1, repetitions + 1):
        for mode, request in rng.sample(together, k=len(together)):
            measured = [s for s in stacks if request in cells[s]]
            plan += [Measurement(mode, s, request, repetition) for s in measured]
        for stack in rng.sample(stacks, k=len(stacks)):
            pairs = [
                p for p in product(modes, cells[stack]) if p not in together and measured_in(*p)
            ]
            for mode, request in rng.sample(pairs, k=len(pairs)):
                plan.append(Measurement(mode, stack, request, repetition))
    return plan


def group(pending: Sequence[Measurement], design: str) -> list[Group]:
    """The pending measurements in groups of consecutive cells with the same stacks running.

    In the paired design a sequential mode's cell of every stack is one cell of all of
    them, in a group of its own with every one of them running.
    """
    groups: list[Group] = []
    for m in pending:
        last = groups[-1] if groups else None
        if design == "paired" and m.mode in SEQUENTIAL_MODES:
            key = (m.mode, m.request, m.repetition)
            if last is not None and last.together and _key(last.cells[0]) == key:
                stacks = (*last.running, m.stack)
                groups[-1] = Group(stacks, (Cell(*key, stacks),), together=True)
            else:
                groups.append(Group((m.stack,), (Cell(*key, (m.stack,)),), together=True))
            continue
        cell = Cell(m.mode, m.request, m.repetition, (m.stack,))
        if last is not None and not last.together and last.running == (m.stack,):
            groups[-1] = Group(last.running, (*last.cells, cell))
        else:
            groups.append(Group((m.stack,), (cell,)))
    return groups


def _key(cell: Cell) -> tuple[str, str, int]:
    return cell.mode, cell.request, cell.repetition


def unfinished_sweeps(run_dir: Path, entries: Iterable[dict]) -> list[str]:
    """A warning for each sweep whose last recorded step did not end by the stop rule.

    A resumed run counts a sweep whose step 1 is collected as done (docs/method.md): one
    stopped midway (interrupted, or its last step not delivered) keeps the steps it
    measured, and the user learns here that the rest of its ladder was not measured.
    """
    last: dict[tuple[str, str, int], dict] = {}
    for entry in entries:
        if entry["mode"] == SWEEP_MODE:
            key = (entry["stack"], entry["request"], entry["repetition"])
            if key not in last or entry["step"] > last[key]["step"]:
                last[key] = entry
    warnings = []
    for (stack, request, repetition), entry in sorted(last.items()):
        stopped = _stopped(run_dir / entry["meta"]) if entry["status"] == Status.COMPLETE else None
        if stopped is not None and stopped != "interrupted":
            continue
        label = Measurement(SWEEP_MODE, stack, request, repetition, step=entry["step"]).label
        if entry["status"] != Status.COMPLETE:
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
        sweep = read_meta(meta).sweep
    except DocumentError:
        return None
    return None if sweep is None or sweep.stopped is None else sweep.stopped
