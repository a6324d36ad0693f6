"""A run-wide shift: every stack of a mode slower, or faster, by about the same factor.

Two runs of the same thing on one machine can differ as a whole. In one A/A pair on the embedded
lab (docs/results.md) every constant-mode cell of the second run was 20–35% slower. A run's
repetitions share its conditions, so the per-cell intervals of compare (analysis/intervals.py)
cannot see such a shift, and they rightly call the cells different: the runs did differ. But a
shift that every stack shares says that the machine or its conditions changed between the runs
(or something every stack uses), not that any stack did. So compare also states, per mode, the
run-wide shift, and judges each cell against it: did this stack change more, or less, than the
others did?

For each mode with at least MIN_CELLS cells in both runs, on the log scale (ratios of means):

- d = log(mean in this run / mean in the reference) of each cell, with its variance v from the
  cells' repetition means (the delta method: SE(mean) / mean, for each run);
- the run-wide shift is the mean of d over the mode's cells, stated as a percentage;
- each cell is judged against the shift of the *other* cells of its mode (leave one out, so a cell
  that really changed does not pull its own baseline): e = d − mean(d of the others), with
  variance v + var(d of the others) / (k − 1). The second term is the spread of the other cells,
  real differences between them included, so the test is conservative when stacks change
  unevenly. The degrees of freedom are Welch–Satterthwaite's, with k − 2 for the shift's term;
- the p-values of the run's cells are one family, with Benjamini–Hochberg calls and
  Benjamini–Yekutieli intervals at the level of selection_adjusted_confidence, as for the plain
  differences.

This is the interaction of run and stack in a two-way layout, the usual way to ask whether
stacks rank differently on two machines. A cell "beyond the shift" moved more than the others.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from analysis.intervals import CellInterval, selection_adjusted_confidence, standard_error

Key = tuple[str, str, str]  # mode, stack, request
MIN_CELLS = 4  # a mode's cells in both runs: the shift of the others needs a spread (k − 1 ≥ 3)


@dataclass(frozen=True)
class LogRatio:
    """log(mean b / mean a) of one cell, its variance and the degrees of freedom of each part."""

    value: float
    variance_a: float
    variance_b: float
    dof_a: float
    dof_b: float

    @property
    def variance(self) -> float:
        return self.variance_a + self.variance_b


def log_ratio(a: CellInterval, b: CellInterval) -> LogRatio | None:
    """The cell's log ratio of means, or None when either run gives no mean or no error."""
    if not (a.repetitions and b.repetitions):
        return None
    mean_a, mean_b = a.repetition_means.mean(), b.repetition_means.mean()
    error_a, error_b = standard_error(a), standard_error(b)
    if min(mean_a, mean_b) <= 0 or not np.isfinite(error_a + error_b):
        return None
    return LogRatio(
        float(np.log(mean_b / mean_a)),
        float((error_a / mean_a) ** 2),
        float((error_b / mean_b) ** 2),
        _dof(a),
        _dof(b),
    )


def _dof(cell: CellInterval) -> float:
    # A single repetition's error comes from a bootstrap of many requests: a normal, not a t.
    return float(cell.repetitions - 1) if cell.repetitions >= 2 else np.inf


@dataclass(frozen=True)
class Beyond:
    """One cell against its mode's run-wide shift: ``pct`` is how much slower (positive) or
    faster the cell is than the other cells' shift predicts, with its interval."""

    shift_pct: float  # the mode's run-wide shift, every cell of it
    pct: float
    low_pct: float
    high_pct: float
    p_value: float
    level: float


def beyond_shift(
    reference: dict[Key, CellInterval], cells: dict[Key, CellInterval], keys: list[Key]
) -> dict[Key, Beyond]:
    """Each of ``keys`` judged against its mode's run-wide shift; modes with fewer than
    MIN_CELLS comparable cells are left out."""
    ratios: dict[str, dict[Key, LogRatio]] = defaultdict(dict)
    for key in keys:
        a, b = reference.get(key), cells.get(key)
        found = log_ratio(a, b) if a is not None and b is not None else None
        if found is not None:
            ratios[key[0]][key] = found
    tests: dict[Key, tuple[float, float, float, float]] = {}  # shift, e, se, dof
    for mode_ratios in ratios.values():
        if len(mode_ratios) < MIN_CELLS:
            continue
        values = {key: ratio.value for key, ratio in mode_ratios.items()}
        shift = float(np.mean(list(values.values())))
        for key, ratio in mode_ratios.items():
            others = np.array([value for other, value in values.items() if other != key])
            spread = float(others.var(ddof=1) / len(others))
            error = np.sqrt(ratio.variance + spread)
            dof = ratio.variance_a**2 / ratio.dof_a + ratio.variance_b**2 / ratio.dof_b
            dof = (ratio.variance + spread) ** 2 / (dof + spread**2 / (len(others) - 1))
            tests[key] = (shift, ratio.value - others.mean(), float(error), float(dof))
    p_values = {
        key: 2 * scipy_stats.t.sf(abs(e) / se, dof) if se > 0 else np.nan
        for key, (_shift, e, se, dof) in tests.items()
    }
    level = selection_adjusted_confidence(np.array(list(p_values.values()), dtype=float))
    found = {}
    for key, (shift, e, se, dof) in tests.items():
        half = scipy_stats.t.ppf(0.5 + level / 2, dof) * se
        found[key] = Beyond(
            _pct(shift), _pct(e), _pct(e - half), _pct(e + half), float(p_values[key]), level
        )
    return found


def _pct(log_value: float) -> float:
    return float(np.expm1(log_value) * 100)
