"""Simulated measurements with a known true mean: serially correlated, heavy-tailed, with a
run-level offset per repetition, as real latencies are (docs/method.md: run-to-run drift far larger
than the noise within a run).

Every factor of a latency has mean 1, so the expected latency of a cell is exactly ``mean``:

    latency = mean × run factor × AR(1) log-normal factor × spike factor

- run factor: log-normal, one per repetition (a busy neighbour, a cache, a frequency step);
- AR(1) factor: exp(σ·z − σ²/2) with z an AR(1) series of unit variance (serial correlation);
- spike factor: 1, or with probability SPIKE_P a factor uniform in [3, 8] (a heavy right tail),
  divided by its mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

from analysis.compare import difference_rows
from analysis.hardware import WholeRun, whole_run
from analysis.intervals import CellInterval, cell_interval
from analysis.shift import beyond_shift

SPIKE_P = 0.01
CELLS_PER_RUN = 24  # the default run: 2 modes × 6 stacks × 2 methods
DEFAULT_DESIGN = {"repetitions": 5, "rows": 200}  # the default run: 5 × 200 requests per cell
SPIKE_RANGE = (3.0, 8.0)


@dataclass(frozen=True)
class Noise:
    phi: float = 0.6  # lag-1 autocorrelation of the log latency within a repetition
    sigma: float = 0.25  # its standard deviation
    run_sd: float = 0.05  # standard deviation of the log run factor, between repetitions


def ar1(rng: np.random.Generator, phi: float, rows: int) -> np.ndarray:
    """A stationary AR(1) series of unit variance: z[t] = phi · z[t − 1] + shock[t]."""
    shocks = rng.normal(0.0, np.sqrt(1 - phi**2), rows)
    shocks[0] = rng.normal()  # the first value from the stationary distribution
    return lfilter([1.0], [1.0, -phi], shocks)


def repetition(rng: np.random.Generator, mean: float, rows: int, noise: Noise) -> np.ndarray:
    """One repetition's latencies (seconds), in request order."""
    run = np.exp(rng.normal(-(noise.run_sd**2) / 2, noise.run_sd))
    within = np.exp(noise.sigma * ar1(rng, noise.phi, rows) - noise.sigma**2 / 2)
    spikes = np.where(rng.random(rows) < SPIKE_P, rng.uniform(*SPIKE_RANGE, rows), 1.0)
    spikes /= 1 + SPIKE_P * (np.mean(SPIKE_RANGE) - 1)
    return mean * run * within * spikes


def cell(
    rng: np.random.Generator, mean: float, repetitions: int, rows: int, noise: Noise = Noise()
) -> tuple[np.ndarray, np.ndarray]:
    """(times, repetition labels) of one mode × stack × method."""
    times = np.concatenate([repetition(rng, mean, rows, noise) for _ in range(repetitions)])
    return times, np.repeat(np.arange(1, repetitions + 1), rows)


def whole_run_calls(
    rng: np.random.Generator,
    shifts: np.ndarray,
    pairs: int,
    mean: float = 0.003,
    run_factor: float = 1.0,
    against_shift: bool = False,
) -> np.ndarray:
    """What ``httplab compare`` calls in ``pairs`` simulated pairs of default runs of
    len(shifts) cells, where cell i of the second run is run_factor × (1 + shifts[i]) times
    slower (run_factor: a run-wide shift, the machine's): per pair and cell, +1 called slower,
    −1 called faster, 0 indistinguishable; against the run-wide shift with ``against_shift``."""
    keys = [("constant", f"stack-{index}", "GET") for index in range(len(shifts))]
    calls = []
    for pair in range(pairs):
        a, b = (
            {
                key: cell_interval(
                    *cell(rng, mean * factor * (1 + shift), **DEFAULT_DESIGN), seed=pair
                )
                for key, shift in zip(keys, run_shifts, strict=True)
            }
            for factor, run_shifts in ((1.0, np.zeros(len(shifts))), (run_factor, shifts))
        )
        if against_shift:
            found = beyond_shift(a, b, keys)
            bounds = [(found[key].low_pct, found[key].high_pct) for key in keys]
        else:
            rows = difference_rows(a, b, keys)
            bounds = [(row["diff_ci95_low_s"], row["diff_ci95_high_s"]) for row in rows]
        calls.append([(low > 0) - (high < 0) for low, high in bounds])
    return np.array(calls)


HARDWARE_EFFECT = 0.20  # machine B 20% slower in every cell
DRIFT_SD = 0.10  # SD of the log ratio of two runs' levels on one machine (issue 26)
STUDY_DESIGN = {"repetitions": 5, "rows": 200}
STUDY_MODES = ("constant", "concurrent")


def repetition_means(
    rng: np.random.Generator, mean: float, repetitions: int, rows: int, noise: Noise = Noise()
) -> CellInterval:
    """A cell as a whole-run comparison sees it, its repetitions' means alone, drawn as
    ``cell`` would make them: each repetition's run factor times the sampling noise of the mean
    of ``rows`` AR(1) requests (variance σ²/n · (1 + φ)/(1 − φ))."""
    within = noise.sigma * np.sqrt((1 + noise.phi) / (1 - noise.phi) / rows)
    logs = rng.normal(0.0, noise.run_sd, repetitions) + rng.normal(0.0, within, repetitions)
    missing = np.full(4, np.nan)
    return CellInterval("simulated", repetitions, missing, missing, mean * np.exp(logs), None)


def hardware_study(
    rng: np.random.Generator,
    runs_per_side: int,
    effect: float,
    drift_sd: float = DRIFT_SD,
    pairs: int = 0,
    design: dict[str, int] = STUDY_DESIGN,
    requests: bool = True,
) -> WholeRun:
    """A cross-hardware study: ``runs_per_side`` default runs (six stacks, GET and POST, both
    modes) on machine A and on machine B, B (1 + effect) times slower in every cell, and
    ``pairs`` same-hardware pairs of runs on A. Each run is off as a whole by a log-normal drift
    whose SD is drift_sd / √2, so that the log ratio of two runs on one machine has SD drift_sd.
    Every request is drawn (``cell``), or with ``requests`` false only each repetition's mean
    (``repetition_means``: what the comparison reads, thousands of studies a second). Returns
    what `httplab compare` says of B against A as a whole."""
    means = {
        (mode, f"stack-{index}", request): 0.003 * (1 + 0.15 * index) * (4 ** (mode != "constant"))
        for mode in STUDY_MODES
        for index in range(6)
        for request in ("GET", "POST")
    }

    def one(mean: float) -> CellInterval:
        if requests:
            return cell_interval(*cell(rng, mean, **design), seed=0)
        return repetition_means(rng, mean, **design)

    def run(factor: float) -> dict[tuple[str, str, str], CellInterval]:
        drift = np.exp(rng.normal(0.0, drift_sd / np.sqrt(2)))
        return {key: one(mean * factor * drift) for key, mean in means.items()}

    side_a = [run(1.0) for _ in range(runs_per_side)]
    side_b = [run(1.0 + effect) for _ in range(runs_per_side)]
    same = [(run(1.0), run(1.0)) for _ in range(pairs)]
    return whole_run(side_a, side_b, same)


@dataclass(frozen=True)
class StudyFigures:
    """What many simulated studies of one design say, against the known effect."""

    studies: int
    coverage: float  # the interval covers the true effect
    excludes_zero: float  # the interval excludes no effect: the hardware called different
    told: float  # an interval was given at all


def hardware_studies(
    seed: int, studies: int, runs_per_side: int, effect: float, **options: Any
) -> StudyFigures:
    """``hardware_study`` ``studies`` times from ``seed``, summed up."""
    rng = np.random.default_rng(seed)
    found = [hardware_study(rng, runs_per_side, effect, **options) for _ in range(studies)]
    return StudyFigures(
        studies,
        float(np.mean([w.low_pct <= effect * 100 <= w.high_pct for w in found])),
        float(np.mean([w.called for w in found])),
        float(np.mean([w.told for w in found])),
    )
