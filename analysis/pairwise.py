"""Two stacks compared within a mode × request, repetition by repetition, on the log scale.

The repetitions of one run share their conditions: repetition k of every stack was measured in the
same pass over the matrix, so whatever slowed that pass (another process, a frequency step) slowed
every stack in it. Comparing stack A with stack B pair by pair within a repetition takes that
out: d_k = log(mean of A in k) − log(mean of B in k), and A takes exp(mean d) times B's time, with
a t interval over the d_k (R − 1 degrees of freedom). Only the repetitions both stacks have
usable (measured, the client not the limit) are paired.

A run of one repetition has no pairs to learn the noise from: the difference of the two log means
gets a normal interval from each cell's within-run block-bootstrap standard error, which cannot
see run-to-run noise (its verdict is provisional).

The comparisons of a mode are one family (analysis/intervals.py, selection_adjusted_confidence):
Benjamini–Hochberg calls, and every interval at the Benjamini–Yekutieli level, so that an
interval excludes 1 exactly when its pair is called different.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

from analysis.intervals import CONFIDENCE

PAIRED = "paired t over repetitions (log scale)"
WITHIN_RUN = "normal, block bootstrap within one repetition (run-to-run noise not measured)"


@dataclass(frozen=True)
class CellMeans:
    """What a cell gives a comparison: the mean of each usable repetition, and for a cell of a
    single repetition the standard error of its log mean (from its block bootstrap)."""

    means: dict[int, float]
    log_se: float | None = None

    @property
    def estimate(self) -> float:
        """The geometric mean of the repetitions' means: the centre the ratios compare."""
        return float(np.exp(np.mean(np.log(list(self.means.values())))))


@dataclass(frozen=True)
class Ratio:
    """A's time over B's: ``ratio`` with its interval at ``level``, and how it was made."""

    ratio: float
    low: float
    high: float
    p_value: float
    pairs: int  # repetitions compared
    method: str
    log: float
    log_se: float
    dof: float
    level: float = CONFIDENCE

    def at(self, level: float) -> Ratio:
        """The same comparison with its interval at another confidence level."""
        quantile = 0.5 + level / 2
        half = (
            scipy_stats.norm.ppf(quantile)
            if np.isinf(self.dof)
            else scipy_stats.t.ppf(quantile, self.dof)
        ) * self.log_se
        low, high = np.exp([self.log - half, self.log + half])
        return replace(self, low=float(low), high=float(high), level=level)

    @property
    def called(self) -> bool:
        """The interval excludes 1: the two stacks are told apart."""
        return self.low > 1 or self.high < 1

    def inverse(self) -> Ratio:
        """B's time over A's."""
        return replace(
            self, ratio=1 / self.ratio, low=1 / self.high, high=1 / self.low, log=-self.log
        )


def paired_ratio(a: CellMeans, b: CellMeans) -> Ratio | None:
    """A's time over B's, blocked by repetition; None when they share no usable repetition, or
    only one in a run of several (no spread to judge it by)."""
    common = sorted(set(a.means) & set(b.means))
    if not common:
        return None
    logs = np.log([a.means[k] for k in common]) - np.log([b.means[k] for k in common])
    log = float(logs.mean())
    if len(common) >= 2:
        log_se, dof, method = (
            float(logs.std(ddof=1) / np.sqrt(len(common))),
            len(common) - 1.0,
            PAIRED,
        )
    elif a.log_se is not None and b.log_se is not None:
        log_se, dof, method = float(np.hypot(a.log_se, b.log_se)), np.inf, WITHIN_RUN
    else:
        return None
    if log_se > 0:
        p_value = 2 * float(scipy_stats.t.sf(abs(log) / log_se, dof))
    else:  # identical in every repetition: a difference with no noise, or none at all
        p_value = 0.0 if log else 1.0
    ratio = Ratio(np.exp(log), np.nan, np.nan, p_value, len(common), method, log, log_se, dof)
    return ratio.at(CONFIDENCE)
