"""The one ranking of a run, joined to its summary: every rank, ratio and order in the report
comes from the verdict (analysis/verdict.py), and the paper's Improvement gets an interval.

Rows the client set the pace of in every repetition are not ranked and never serve as the
Improvement baseline; rows it set the pace of in some are ranked on the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.intervals import CellInterval
from analysis.load import LoadedCsv
from analysis.pairwise import CellMeans, paired_ratio
from analysis.stats import EXTRA_COLUMNS, SUMMARY_COLUMNS, annotate, cell_intervals, summarise
from analysis.verdict import (
    Key,
    Verdict,
    cell_means,
    limited_repetitions,
    rank_columns,
    run_verdicts,
)


def ranked_summary(
    samples: pd.DataFrame,
    measurements: list[LoadedCsv],
    intervals: dict[Key, CellInterval] | None = None,
) -> tuple[pd.DataFrame, list[Verdict]]:
    """The summary table of a run (stats.py's statistics and flags, the verdict's ranks and
    ratios, the Improvement with its interval) and its verdicts."""
    intervals = cell_intervals(samples) if intervals is None else intervals
    summary = annotate(summarise(samples, intervals), measurements)
    limited, why = limited_repetitions(measurements)
    means = cell_means(samples, intervals, limited)
    verdicts = run_verdicts(means, limited, why, summary)
    summary = summary.join(rank_columns(summary, verdicts))
    summary = summary.join(improvement(summary, means))
    return summary[SUMMARY_COLUMNS + EXTRA_COLUMNS], verdicts


def improvement(summary: pd.DataFrame, means: dict[Key, CellMeans]) -> pd.DataFrame:
    """improvement_pct = (slowest mean − mean) / slowest mean × 100, the slowest over the ranked
    rows of the same mode (the paper's Table 2 rule; its slowest row reads "Baseline", here 0),
    with the 95% interval of the same comparison made repetition by repetition on the log scale:
    1 − (the row's time over the slowest's). NaN for rows not ranked."""
    ranked = summary["rank"].astype(bool) & summary["mean_s"].notna()
    columns = ["improvement_pct", "improvement_pct_ci95_low", "improvement_pct_ci95_high"]
    result = pd.DataFrame(np.nan, index=summary.index, columns=columns)
    for _, rows in summary.loc[ranked].groupby("mode", observed=True):
        slowest = rows.loc[rows["mean_s"].idxmax()]
        base = means.get((slowest["mode"], slowest["stack"], slowest["request"]))
        for index, row in rows.iterrows():
            point = (slowest["mean_s"] - row["mean_s"]) / slowest["mean_s"] * 100
            cell = means.get((row["mode"], row["stack"], row["request"]))
            ratio = (
                None
                if index == slowest.name or base is None or cell is None
                else (paired_ratio(cell, base))
            )
            if index == slowest.name:
                low = high = 0.0
            elif ratio is None:
                low = high = np.nan
            else:
                low, high = (1 - ratio.high) * 100, (1 - ratio.low) * 100
            result.loc[index] = [point, low, high]
    return result
