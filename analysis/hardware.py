"""Runs on different hardware: which runs share a machine, and the whole-run difference between
two machines with an interval that includes run-to-run drift.

Two runs are on the same hardware when their recorded host facts (the manifest's ``hosts``: each
host's CPU model and count, RAM, architecture, OS, kernel and Python) are the same. Two runs on one
machine still differ as a whole (docs/results.md: back-to-back A/A runs moved by −16% to +37%):
the machine's state drifts between runs, and a run's repetitions, which share its state, cannot
see that. So a difference between machines measured with one run each cannot be told from drift.

A run's level is the mean over its cells (those every compared run has, of every mode) of
log(cell mean): one whole-run figure, so that one test answers "is B's hardware slower?" (the
per-mode run-wide shifts are analysis/shift.py's). Between the machines A and B:

- two or more runs on each: Welch's t on the runs' levels (each machine's spread of levels is
  its own drift; Welch–Satterthwaite degrees of freedom);
- fewer: one drift variance pooled from every source there is, the spread of the levels of a
  machine with several runs and the same-hardware pairs the user gives (a pair of runs made on
  one machine: half its squared difference of levels estimates the drift variance, one degree
  of freedom), and a t interval with their degrees of freedom;
- one run on each and no pair: no interval. One run per machine cannot tell hardware from drift.

Welch's test is conservative with so few runs (the simulated studies of
benchmarks/cross_hardware.py: 2% to 4% of studies call two equal machines different).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from analysis.intervals import CellInterval

Key = tuple[str, str, str]  # mode, stack, request
Cells = Mapping[Key, CellInterval]
Pairs = Sequence[tuple[Cells, Cells]]  # same-hardware pairs of runs
FACTS = ("cpu_model", "cpu_count", "ram_gb", "architecture", "os", "kernel", "python")
WELCH_LEVELS = "Welch t over the runs' levels (each machine's own drift)"
POOLED_DRIFT = "t with a drift variance pooled from {sources}"


def hardware(manifest: Mapping[str, Any] | None) -> tuple[tuple[str, ...], ...]:
    """What a run's hosts are, as a value two runs on one machine share: the server's facts,
    then each client's in the inventory's order (names and addresses left out: a lab's names
    are not its hardware)."""
    hosts = (manifest or {}).get("hosts") or {}
    clients = hosts.get("clients") or {"client": hosts.get("client") or {}}
    return tuple(_facts(host) for host in [hosts.get("server") or {}, *clients.values()])


def _facts(host: Mapping[str, Any]) -> tuple[str, ...]:
    ram = host.get("ram_mb")
    values = {
        **host,
        "ram_gb": f"{float(ram) / 1024:.0f}" if _number(ram) else "",
        "architecture": host.get("architecture") or host.get("machine") or "",
        "kernel": host.get("kernel") or host.get("release") or "",
    }
    return tuple(str(values.get(key) or "") for key in FACTS)


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    """What differs between two runs' hosts, in words ("server cpu_model: X vs Y")."""
    found = []
    for index, (one, other) in enumerate(zip(hardware(a), hardware(b), strict=False)):
        host = "server" if index == 0 else f"client {index}"
        found += [
            f"{host} {fact}: {x or '?'} vs {y or '?'}"
            for fact, x, y in zip(FACTS, one, other, strict=True)
            if x != y
        ]
    if len(hardware(a)) != len(hardware(b)):
        found.append(f"{len(hardware(a)) - 1} vs {len(hardware(b)) - 1} client hosts")
    return found


def levels(runs: Sequence[Cells]) -> np.ndarray:
    """Each run's level: the mean log mean over the cells every run has."""
    common = set.intersection(*(set(cells) for cells in runs))
    keys = sorted(k for k in common if all(_mean(cells[k]) > 0 for cells in runs))
    if not keys:
        return np.full(len(runs), np.nan)
    return np.array([np.mean([np.log(_mean(cells[k])) for k in keys]) for cells in runs])


def _mean(cell: CellInterval) -> float:
    return float(cell.repetition_means.mean()) if cell.repetitions else np.nan


@dataclass(frozen=True)
class WholeRun:
    """Machine B against machine A: B's time over A's, as a whole, in percent."""

    cells: int  # the cells the levels are over
    runs_a: int
    runs_b: int
    pct: float
    low_pct: float  # NaN: no interval (one run per side, no same-hardware pair)
    high_pct: float
    p_value: float
    level: float
    method: str

    @property
    def told(self) -> bool:
        return not np.isnan(self.low_pct)

    @property
    def called(self) -> bool:
        return self.told and (self.low_pct > 0 or self.high_pct < 0)

    def words(self, a: str, b: str) -> str:
        direction = "slower" if self.pct > 0 else "faster"
        if not self.told:
            return (
                f"{b} {abs(self.pct):.1f}% {direction} than {a} as a whole, but one run per side "
                "cannot tell hardware from run-to-run drift: measure two or more runs on each "
                "machine, or give same-hardware pairs (--same-hardware RUN RUN)."
            )
        interval = f"[{self.low_pct:+.1f}%, {self.high_pct:+.1f}%]"
        runs = f"{self.runs_a} and {self.runs_b} runs, drift included"
        if not self.called:
            return (
                f"{b} and {a} cannot be told apart as a whole: {self.pct:+.1f}% {interval} "
                f"({runs})."
            )
        return f"{b} is {abs(self.pct):.1f}% {direction} than {a} as a whole {interval} ({runs})."


@dataclass(frozen=True)
class _Test:
    log: float  # B's level less A's
    se: float  # NaN: no interval
    dof: float
    method: str

    @property
    def p_value(self) -> float:
        if not np.isfinite(self.se):
            return np.nan
        if self.se == 0:
            return float(self.log == 0)
        return 2 * float(scipy_stats.t.sf(abs(self.log) / self.se, self.dof))


def whole_run(side_a: Sequence[Cells], side_b: Sequence[Cells], pairs: Pairs = ()) -> WholeRun:
    """Machine B's whole-run difference from machine A, its runs ``side_b`` against ``side_a``,
    at 95%, with ``pairs`` of same-hardware runs where a machine has one run."""
    found = levels([*side_a, *side_b])
    cells = len(set.intersection(*(set(c) for c in [*side_a, *side_b])))
    a, b = found[: len(side_a)], found[len(side_a) :]
    test = _test(a, b, pairs)
    half = float(scipy_stats.t.ppf(0.975, test.dof)) * test.se
    return WholeRun(
        cells, len(a), len(b), _pct(test.log), _pct(test.log - half), _pct(test.log + half),
        test.p_value, 0.95, test.method,
    )  # fmt: skip


def _test(a: np.ndarray, b: np.ndarray, pairs: Pairs) -> _Test:
    log = float(b.mean() - a.mean())
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb else np.inf
        return _Test(log, float(np.sqrt(va + vb)), float(dof), WELCH_LEVELS)
    squares, dof, sources = _drift_sources(a, b, pairs)
    if not dof:
        return _Test(log, np.nan, np.nan, "none: one run per side and no same-hardware pair")
    se = float(np.sqrt(squares / dof * (1 / len(a) + 1 / len(b))))
    return _Test(log, se, float(dof), POOLED_DRIFT.format(sources=sources))


def _drift_sources(a: np.ndarray, b: np.ndarray, pairs: Pairs) -> tuple[float, int, str]:
    """(sum of squares, degrees of freedom, in words) of the drift: the spread of a machine's
    several runs, and half the squared difference of levels of each same-hardware pair."""
    squares, dof, sources = 0.0, 0, []
    for side in (a, b):
        if len(side) >= 2:
            squares += float(((side - side.mean()) ** 2).sum())
            dof += len(side) - 1
            sources.append(f"the spread of {len(side)} runs on one machine")
    steps = [float(np.diff(levels(list(pair)))[0]) for pair in pairs]
    steps = [step for step in steps if np.isfinite(step)]
    if steps:
        squares += float(np.sum(np.square(steps)) / 2)
        dof += len(steps)
        sources.append(f"{len(steps)} same-hardware pair(s)")
    return squares, dof, " and ".join(sources)


def _pct(log_value: float) -> float:
    return float(np.expm1(log_value) * 100)
