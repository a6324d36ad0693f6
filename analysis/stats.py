"""The summary statistics of a run: one row per mode × stack × request.

Point estimates are over all successful requests of a cell (failures are counted, never timed);
their 95% intervals come from the repetitions (analysis/intervals.py), never from pooled requests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.core.groupby import SeriesGroupBy

from analysis.intervals import CellInterval, cell_interval, cell_seed
from analysis.load import LoadedCsv
from analysis.naming import order_modes, order_requests, order_stacks
from bench_client.request import BUILTIN

KEYS = ["mode", "stack", "request"]  # a cell, over its repetitions
# The summary's contract (docs/design.md): these columns first, in this order. "method" is
# the request's HTTP method: the paper's two requests are named by theirs.
SUMMARY_COLUMNS = [
    "mode",
    "stack",
    "method",
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
# The 95% interval of each statistic: ci95_* for the mean (its historical name), then the others.
INTERVAL_COLUMNS = [
    f"{prefix}ci95_{side}_s"
    for prefix in ("", "median_", "p95_", "p99_")
    for side in ("low", "high")
]
EXTRA_COLUMNS = [
    "request",
    *INTERVAL_COLUMNS,
    "ci_method",
    "repetitions",
    "repetition_sd_s",
    "rank",
    "rank_best",
    "rank_worst",
    "rank_mean_s",
    "ranked_repetitions",
    "vs_fastest",
    "vs_fastest_low",
    "vs_fastest_high",
    "vs_fastest_level",
    "improvement_pct_ci95_low",
    "improvement_pct_ci95_high",
    "at_client_floor",
    "source_format",
    "client_limited",
    "nagle_suspect",
    "client_overhead_s",
    "client_overhead_concurrency",
    "concurrency",
    "host_busy",
]
OUTLIER_IQR_FACTOR = 1.5
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


def cell_intervals(samples: pd.DataFrame) -> dict[tuple[str, str, str], CellInterval]:
    """The intervals of every cell that has successes (``samples`` as :func:`summarise` takes)."""
    ok_rows = samples.loc[samples["ok"]]
    if "repetition" not in ok_rows.columns:
        ok_rows = ok_rows.assign(repetition=1)
    order = [c for c in ("repetition", "iteration") if c in ok_rows.columns]
    ok_rows = ok_rows.sort_values(order, kind="stable")  # each repetition in request order
    result = {}
    for key, cell in ok_rows.groupby(KEYS, observed=True):
        names = tuple(map(str, key))
        result[names] = cell_interval(
            cell["time_s"].to_numpy(), cell["repetition"].to_numpy(), cell_seed(*names)
        )
    return result


def summarise(
    samples: pd.DataFrame, intervals: dict[tuple[str, str, str], CellInterval] | None = None
) -> pd.DataFrame:
    """The summary's statistics (SUMMARY_COLUMNS but the Improvement, the intervals, the
    run-to-run SD) from one row per request. ``samples`` needs columns mode, stack, request,
    time_s (NaN for a failure) and ok; with a ``repetition`` column the intervals are made from
    the repetitions."""
    intervals = cell_intervals(samples) if intervals is None else intervals
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
            }
        )
    )
    table["outliers"] = table["outliers"].fillna(0).astype("int64")
    table = table.reset_index()
    table["method"] = table["request"].astype(str).map(http_method)
    table = table.join(interval_columns(table, intervals))
    table = table.merge(repetition_spread(ok_rows), on=KEYS, how="left")
    statistics = [c for c in SUMMARY_COLUMNS if c != "improvement_pct"]
    columns = [*statistics, "request", *INTERVAL_COLUMNS, "ci_method", "repetition_sd_s"]
    return sort_rows(table[columns])


def interval_columns(
    table: pd.DataFrame, intervals: dict[tuple[str, str, str], CellInterval]
) -> pd.DataFrame:
    """INTERVAL_COLUMNS and ci_method for each row of ``table`` (NaN where a cell has none)."""
    rows = []
    for key in zip(*(table[c].astype(str) for c in KEYS), strict=True):
        cell = intervals.get(key)
        if cell is None:
            rows.append([np.nan] * len(INTERVAL_COLUMNS) + [""])
            continue
        bounds = np.column_stack([cell.low, cell.high]).ravel()  # low, high per statistic
        rows.append([*bounds, cell.method])
    return pd.DataFrame(rows, columns=[*INTERVAL_COLUMNS, "ci_method"], index=table.index)


def repetition_spread(ok_rows: pd.DataFrame) -> pd.DataFrame:
    """Standard deviation of the per-repetition means: the run-to-run noise, NaN with one
    repetition. A difference between stacks smaller than this is not a ranking."""
    if "repetition" not in ok_rows.columns:
        return pd.DataFrame(columns=[*KEYS, "repetition_sd_s"])
    means = ok_rows.groupby([*KEYS, "repetition"], observed=True)["time_s"].mean()
    spread = means.groupby(level=KEYS, observed=True).std()
    return spread.rename("repetition_sd_s").reset_index()


def annotate(summary: pd.DataFrame, measurements: list[LoadedCsv]) -> pd.DataFrame:
    """Add what the numbers alone do not say: repetitions, CSV format, client-bottleneck, Nagle
    and busy-host flags, the calibration (the ranks come from analysis/ranking.py)."""
    by_key: dict[tuple[str, str, str], list[LoadedCsv]] = {}
    for m in measurements:
        by_key.setdefault((m.mode, m.stack, m.request), []).append(m)
    cells = [by_key.get(k, []) for k in zip(*(summary[c] for c in KEYS), strict=True)]
    out = summary.copy()
    out["method"] = [
        cell[0].http_method if cell and cell[0].http_method else method
        for cell, method in zip(cells, out["method"], strict=True)
    ]
    out["repetitions"] = [len(cell) for cell in cells]
    out["source_format"] = ["+".join(sorted({m.source_format for m in c})) for c in cells]
    out["client_limited"] = [client_limited(cell) for cell in cells]
    out["client_overhead_s"] = [
        np.mean(o) if (o := [m.client_overhead_s for m in c if m.client_overhead_s]) else np.nan
        for c in cells
    ]
    out["client_overhead_concurrency"] = [
        _one_value(c, "client_overhead_concurrency") for c in cells
    ]
    out["concurrency"] = [_one_value(c, "concurrency") for c in cells]
    out["host_busy"] = [
        "; ".join(f"rep {m.repetition}: {m.host_busy}" for m in c if m.host_busy) for c in cells
    ]
    low, high = NAGLE_MEDIAN_BAND_S
    out["nagle_suspect"] = (out["mode"].astype(str) == "keepalive") & out["median_s"].between(
        low, high
    )
    return out


def http_method(request: str) -> str:
    """A request's HTTP method when its name alone tells it (the paper's GET and POST)."""
    return BUILTIN[request].method if request in BUILTIN else ""


def client_limited(cell: list[LoadedCsv]) -> str:
    """Why the client set the pace: the first repetition's reasons, and how many were limited."""
    limited = [m for m in cell if m.client_limit]
    if len(cell) <= 1 or not limited:
        return limited[0].client_limit if limited else ""
    return f"{limited[0].client_limit} (limited in {len(limited)} of {len(cell)} repetitions)"


def _one_value(cell: list[LoadedCsv], attribute: str) -> float:
    """A setting shared by the repetitions of a cell (NaN if unknown or if they disagree)."""
    values = {getattr(m, attribute) for m in cell} - {None}
    return float(values.pop()) if len(values) == 1 else np.nan


def sort_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in display order: the paper's modes first, the stack matrix's order, GET before POST."""
    ranks = {
        column: {name: i for i, name in enumerate(order(table[column].astype(str).unique()))}
        for column, order in (
            ("mode", order_modes),
            ("stack", order_stacks),
            ("request", order_requests),
        )
    }
    sort_key = [table[c].astype(str).map(ranks[c]) for c in KEYS]
    positions = np.lexsort(tuple(reversed([k.to_numpy() for k in sort_key])))  # stable
    result = table.iloc[positions].reset_index(drop=True)
    for column in KEYS:
        result[column] = result[column].astype(str)
    return result
