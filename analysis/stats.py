"""The summary statistics of a run: one row per mode × stack × method, repetitions pooled.

Statistics are over successful requests only; failures are counted, never timed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.core.groupby import SeriesGroupBy
from scipy import stats as scipy_stats

from analysis.load import Measurement
from analysis.naming import order_methods, order_modes, order_stacks

KEYS = ["mode", "stack", "method"]
# The summary's contract (docs/design.md): these columns first, in this order.
SUMMARY_COLUMNS = [
    *KEYS,
    "requests",
    "failures",
    "failure_rate",
    "mean_s",
    "median_s",
    "p95_s",
    "p99_s",
    "std_s",
    "outliers",
    "improvement_pct",
]
EXTRA_COLUMNS = [
    "ci95_low_s",
    "ci95_high_s",
    "repetitions",
    "source_format",
    "client_limited",
    "nagle_suspect",
    "client_overhead_s",
    "repetition_sd_s",
]
OUTLIER_IQR_FACTOR = 1.5
CONFIDENCE = 0.95
# A kept-alive connection that waits for the peer's delayed ACK (Nagle left on) takes ~40 ms
# per request (docs/traps.md: uvicorn --workers); a median in this band is that signature.
NAGLE_MEDIAN_BAND_S = (0.035, 0.050)


def outlier_mask(grouped: SeriesGroupBy) -> pd.Series:
    """True for each sample outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR] of its own group.

    The one place the outlier rule lives. Quartiles use pandas' default linear interpolation
    (the same as numpy's default percentile and matplotlib's box-plot whiskers).
    """
    q1 = grouped.transform("quantile", 0.25)
    q3 = grouped.transform("quantile", 0.75)
    spread = OUTLIER_IQR_FACTOR * (q3 - q1)
    values = grouped.obj
    return (values < q1 - spread) | (values > q3 + spread)


def mean_confidence_interval(
    mean: pd.Series, std: pd.Series, count: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Student-t 95% confidence interval of each mean (NaN with fewer than two samples)."""
    dof = (count - 1).where(count > 1)
    half = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * std / np.sqrt(count)
    return mean - half, mean + half


def improvement_pct(summary: pd.DataFrame) -> pd.Series:
    """(slowest mean − mean) / slowest mean × 100; the slowest over all stacks and methods of the
    same mode, as the paper's Table 2 does (its slowest row reads "Baseline", here 0)."""
    slowest = summary.groupby("mode", observed=True)["mean_s"].transform("max")
    return (slowest - summary["mean_s"]) / slowest * 100


def summarise(samples: pd.DataFrame) -> pd.DataFrame:
    """The summary table (SUMMARY_COLUMNS plus the CI) from one row per request.

    ``samples`` needs columns mode, stack, method, time_s (NaN for a failure) and ok.
    """
    everything = samples.groupby(KEYS, observed=True)["ok"]
    table = pd.DataFrame(
        {"requests": everything.size(), "failures": everything.size() - everything.sum()}
    )
    table["failure_rate"] = table["failures"] / table["requests"]
    ok_rows = samples.loc[samples["ok"]]
    successes = ok_rows.groupby(KEYS, observed=True)["time_s"]
    quantiles = successes.quantile([0.95, 0.99]).unstack()
    outliers = ok_rows.assign(outlier=outlier_mask(successes)).groupby(KEYS, observed=True)
    table = table.join(
        pd.DataFrame(
            {
                "mean_s": successes.mean(),
                "median_s": successes.median(),
                "p95_s": quantiles[0.95],
                "p99_s": quantiles[0.99],
                "std_s": successes.std(),
                "outliers": outliers["outlier"].sum(),
                "successes": successes.size(),
            }
        )
    )
    table["outliers"] = table["outliers"].fillna(0).astype("int64")
    table = table.reset_index()
    table["improvement_pct"] = improvement_pct(table)
    low, high = mean_confidence_interval(table["mean_s"], table["std_s"], table["successes"])
    table["ci95_low_s"], table["ci95_high_s"] = low, high
    table = table.merge(repetition_spread(ok_rows), on=KEYS, how="left")
    return sort_rows(table[[*SUMMARY_COLUMNS, "ci95_low_s", "ci95_high_s", "repetition_sd_s"]])


def repetition_spread(ok_rows: pd.DataFrame) -> pd.DataFrame:
    """Standard deviation of the per-repetition means: the run-to-run noise, NaN with one
    repetition. A difference between stacks smaller than this is not a ranking."""
    if "repetition" not in ok_rows.columns:
        return pd.DataFrame(columns=[*KEYS, "repetition_sd_s"])
    means = ok_rows.groupby([*KEYS, "repetition"], observed=True)["time_s"].mean()
    spread = means.groupby(level=KEYS, observed=True).std()
    return spread.rename("repetition_sd_s").reset_index()


def annotate(summary: pd.DataFrame, measurements: list[Measurement]) -> pd.DataFrame:
    """Add what the numbers alone do not say: repetitions, CSV format, client-bottleneck and
    Nagle flags."""
    by_key: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in measurements:
        by_key.setdefault((m.mode, m.stack, m.method), []).append(m)
    keys = list(zip(summary["mode"], summary["stack"], summary["method"], strict=True))
    out = summary.copy()
    out["repetitions"] = [len(by_key.get(k, [])) for k in keys]
    out["source_format"] = [
        "+".join(sorted({m.source_format for m in by_key.get(k, [])})) for k in keys
    ]
    out["client_limited"] = [
        "; ".join(sorted({m.client_limit for m in by_key.get(k, []) if m.client_limit}))
        for k in keys
    ]
    overheads = [
        [m.client_overhead_s for m in by_key.get(k, []) if m.client_overhead_s] for k in keys
    ]
    out["client_overhead_s"] = [np.mean(o) if o else np.nan for o in overheads]
    low, high = NAGLE_MEDIAN_BAND_S
    out["nagle_suspect"] = (out["mode"].astype(str) == "keepalive") & out["median_s"].between(
        low, high
    )
    return out[SUMMARY_COLUMNS + EXTRA_COLUMNS]


def sort_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in display order: the paper's modes first, the stack matrix's order, GET before POST."""
    ranks = {
        column: {name: i for i, name in enumerate(order(table[column].astype(str).unique()))}
        for column, order in (
            ("mode", order_modes),
            ("stack", order_stacks),
            ("method", order_methods),
        )
    }
    sort_key = [table[c].astype(str).map(ranks[c]) for c in KEYS]
    positions = np.lexsort(tuple(reversed([k.to_numpy() for k in sort_key])))  # stable
    result = table.iloc[positions].reset_index(drop=True)
    for column in KEYS:
        result[column] = result[column].astype(str)
    return result


def welch_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(b) − mean(a) and its Welch 95% confidence interval (unequal variances)."""
    if len(a) < 2 or len(b) < 2:
        return float(np.mean(b) - np.mean(a)) if len(a) and len(b) else np.nan, np.nan, np.nan
    result = scipy_stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(CONFIDENCE)
    return float(np.mean(b) - np.mean(a)), float(interval.low), float(interval.high)
