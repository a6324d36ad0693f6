"""95% confidence intervals whose unit is the repetition, never the single request.

Requests of one measurement are serially correlated, and a whole repetition moves with the state of
the hosts (another process, a cache, a frequency step). Intervals that treat every request as an
independent sample are far too narrow. The method depends on the repetitions R of a cell:

- R ≥ 2: **sectioning** (Asmussen & Glynn, *Stochastic Simulation*, 2007, §III.5a; for quantiles
  Nakayama, 2014): the statistic over all the cell's requests ± t(R − 1, 0.975) · s / √R, where s is
  the standard deviation of the same statistic computed in each repetition. It measures run-to-run
  noise, because each repetition ran at another time in a fresh order across stacks.
- R = 1: a **stationary block bootstrap** within the one repetition (Politis & Romano, 1994; block
  length by Politis & White, 2004, with Patton, Politis & White, 2009), via ``arch.bootstrap``,
  percentile interval. It respects the serial correlation but cannot see run-to-run noise: such an
  interval is narrower than the truth and a ranking built on it is provisional.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
STATISTICS = ("mean", "median", "p95", "p99")
QUANTILES = (0.5, 0.95, 0.99)  # median, p95, p99 (linear interpolation, as pandas and numpy)
BOOTSTRAP_REPS = 999
BOOTSTRAP_CELLS_PER_CHUNK = 2_000_000  # resampled values held at once (16 MB)
MIN_BOOTSTRAP_SAMPLES = 10  # fewer successes than this: no interval at all
SECTIONING = "sectioning: t over repetitions"
BLOCK_BOOTSTRAP = "stationary block bootstrap within one repetition"
NO_INTERVAL = "none (too few successes)"


def statistics_of(times: np.ndarray) -> np.ndarray:
    """mean, median, p95, p99 of the successful times of one sample."""
    return np.concatenate(([times.mean()], np.quantile(times, QUANTILES)))


@dataclass(frozen=True)
class CellInterval:
    """The intervals of one mode × stack × request: ``low``/``high`` follow STATISTICS."""

    method: str
    repetitions: int  # repetitions with at least one success
    low: np.ndarray
    high: np.ndarray
    repetition_means: np.ndarray  # the mean of each repetition (what compare tests)
    bootstrap_means: np.ndarray | None  # R = 1 only: the bootstrap replicates of the mean


def cell_seed(*names: str) -> int:
    """A seed fixed by the cell's name, so the same data always give the same report."""
    return zlib.crc32("/".join(names).encode("utf-8"))


def sectioning(pooled: np.ndarray, per_repetition: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pooled ± t(R − 1) · SD(per-repetition statistics) / √R, one column per statistic; the
    lower end no lower than 0 (a p99 of few requests per repetition can spread that far)."""
    count = per_repetition.shape[0]
    spread = per_repetition.std(axis=0, ddof=1) / np.sqrt(count)
    half = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, count - 1) * spread
    return np.maximum(pooled - half, 0.0), pooled + half


def block_bootstrap(times: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval of each statistic and the bootstrap means, from one series in order."""
    # Imported here: only a run of one repetition needs arch, whose import costs a default
    # report (repetitions, sectioning) about half a second.
    from arch.bootstrap import StationaryBootstrap, optimal_block_length

    with np.errstate(divide="ignore", invalid="ignore"):  # a constant series has no correlation
        block = float(optimal_block_length(times)["stationary"].iloc[0])
    if not np.isfinite(block) or block < 1:
        block = 1.0
    bootstrap = StationaryBootstrap(block, times, seed=np.random.default_rng(seed))
    replicates = np.empty((BOOTSTRAP_REPS, len(STATISTICS)))
    # arch draws the resampled positions; the statistics are computed a chunk of them at a time
    # (one vectorised quantile instead of one call per replicate), within a bounded memory.
    chunk = max(1, BOOTSTRAP_CELLS_PER_CHUNK // len(times))
    for start in range(0, BOOTSTRAP_REPS, chunk):
        rows = range(start, min(start + chunk, BOOTSTRAP_REPS))
        resampled = times[np.array([bootstrap.update_indices() for _ in rows])]
        replicates[rows.start : rows.stop, 0] = resampled.mean(axis=1)
        replicates[rows.start : rows.stop, 1:] = np.quantile(resampled, QUANTILES, axis=1).T
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high, replicates[:, 0]


def cell_interval(times: np.ndarray, repetitions: np.ndarray, seed: int) -> CellInterval:
    """Intervals of one cell from its successful times (request order) and their repetitions."""
    labels = np.unique(repetitions)
    per_repetition = np.array([statistics_of(times[repetitions == r]) for r in labels])
    means = per_repetition[:, 0] if len(labels) else np.array([])
    if len(labels) >= 2:
        low, high = sectioning(statistics_of(times), per_repetition)
        return CellInterval(SECTIONING, len(labels), low, high, means, None)
    if len(times) >= MIN_BOOTSTRAP_SAMPLES:
        low, high, replicates = block_bootstrap(times, seed)
        return CellInterval(BLOCK_BOOTSTRAP, len(labels), low, high, means, replicates)
    missing = np.full(len(STATISTICS), np.nan)
    return CellInterval(NO_INTERVAL, len(labels), missing, missing, means, None)


WELCH = "Welch t on repetition means"
NORMAL_WITHIN_RUN = (
    "normal approximation, a run with one repetition (run-to-run noise not measured)"
)


@dataclass(frozen=True)
class Difference:
    """mean(b) − mean(a) of one cell in two runs, with its interval, the p-value of "no
    difference" and how they were made."""

    diff_s: float
    low_s: float
    high_s: float
    method: str
    p_value: float


def standard_error(cell: CellInterval) -> float:
    """Standard error of a cell's mean: from its repetitions, else from its block bootstrap."""
    if cell.repetitions >= 2:
        return float(cell.repetition_means.std(ddof=1) / np.sqrt(cell.repetitions))
    if cell.bootstrap_means is not None:
        return float(cell.bootstrap_means.std(ddof=1))
    return np.nan


def difference(a: CellInterval, b: CellInterval, confidence: float = CONFIDENCE) -> Difference:
    """How much slower (positive) or faster b is than a, judged at the level of repetitions.

    Both with repetitions: Welch's t interval over the two sets of repetition means (unequal
    variances and counts). Otherwise a normal interval from the two standard errors, one of them
    from a within-run block bootstrap, which cannot see run-to-run noise. The interval excludes 0
    exactly when the p-value is below 1 − ``confidence``.
    """
    if not (a.repetitions and b.repetitions):
        return Difference(np.nan, np.nan, np.nan, NO_INTERVAL, np.nan)
    diff = float(b.repetition_means.mean() - a.repetition_means.mean())
    if a.repetitions >= 2 and b.repetitions >= 2:
        result = scipy_stats.ttest_ind(b.repetition_means, a.repetition_means, equal_var=False)
        interval = result.confidence_interval(confidence)
        return Difference(
            diff, float(interval.low), float(interval.high), WELCH, float(result.pvalue)
        )
    error = np.hypot(standard_error(a), standard_error(b))
    half = scipy_stats.norm.ppf(0.5 + confidence / 2) * error
    p_value = 2 * scipy_stats.norm.sf(abs(diff) / error) if error > 0 else np.nan
    return Difference(diff, diff - half, diff + half, NORMAL_WITHIN_RUN, float(p_value))


def selection_adjusted_confidence(p_values: np.ndarray) -> float:
    """The confidence level for the intervals of many cells compared at once.

    Each cell tested at 5% would call about one cell in twenty different when nothing differs:
    of 24 cells, one or more in most A/A comparisons. The Benjamini–Hochberg procedure
    (Benjamini & Hochberg, 1995) keeps the expected share of false calls among the cells called
    different at 5% or less; it calls R of the m cells. Every interval is then given at level
    1 − max(R, 1) · 0.05 / m, the false-coverage-rate adjusted intervals of Benjamini & Yekutieli
    (JASA, 2005): a cell's interval excludes 0 exactly when Benjamini–Hochberg calls it, and the
    intervals of the called cells miss their true difference in at most 5% of them on average.
    NaN p-values (no interval) do not count.
    """
    tested = p_values[~np.isnan(p_values)]
    if not len(tested):
        return CONFIDENCE
    alpha = 1 - CONFIDENCE
    called = int((scipy_stats.false_discovery_control(tested) <= alpha).sum())
    return 1 - max(called, 1) * alpha / len(tested)
