"""Ranks at the level of the intervals: stacks whose 95% intervals overlap share a group ("1–3").

A row's best rank is 1 + the rows whose interval lies wholly below its own; its worst rank is the
rows whose interval starts at or below its upper end (itself included). Rows that are not ranked
(the client set the pace) get no rank, and never serve as the Improvement baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def improvement_pct(summary: pd.DataFrame, ranked: pd.Series | None = None) -> pd.Series:
    """(slowest mean − mean) / slowest mean × 100, the slowest over the ranked rows of the same
    mode, as the paper's Table 2 does (its slowest row reads "Baseline", here 0). Rows left out of
    the ranking get NaN: their number is not the server's."""
    ranked = pd.Series(True, index=summary.index) if ranked is None else ranked
    means = summary["mean_s"].where(ranked)
    slowest = means.groupby(summary["mode"], observed=True).transform("max")
    return (slowest - means) / slowest * 100


def rank_ranges(summary: pd.DataFrame, ranked: pd.Series) -> pd.DataFrame:
    """rank_best, rank_worst and the label ``rank`` ("2" or "1–3", "" if not ranked) per row."""
    best = pd.Series(np.nan, index=summary.index)
    worst = pd.Series(np.nan, index=summary.index)
    candidates = summary.loc[ranked & summary["mean_s"].notna()]
    for _, rows in candidates.groupby("mode", observed=True):
        # A row without an interval (a single success) is a point at its mean.
        low = rows["ci95_low_s"].fillna(rows["mean_s"]).to_numpy()
        high = rows["ci95_high_s"].fillna(rows["mean_s"]).to_numpy()
        best[rows.index] = 1 + (high[None, :] < low[:, None]).sum(axis=1)
        worst[rows.index] = (low[None, :] <= high[:, None]).sum(axis=1)
    label = [
        "" if pd.isna(b) else (f"{int(b)}" if b == w else f"{int(b)}–{int(w)}")
        for b, w in zip(best, worst, strict=True)
    ]
    return pd.DataFrame(
        {"rank": label, "rank_best": best.astype("Int64"), "rank_worst": worst.astype("Int64")},
        index=summary.index,
    )
