"""Ranks as groups where intervals overlap; an Improvement baseline the ranking agrees with."""

from pathlib import Path

import pandas as pd
import pytest

from analysis.load import LoadedCsv
from analysis.ranking import rank_ranges
from analysis.stats import annotate, summarise


def test_overlapping_intervals_share_a_rank_range():
    summary = pd.DataFrame(
        {
            "mode": "constant",
            "stack": ["a", "b", "c", "d"],
            "mean_s": [1.5, 2.0, 3.5, 9.0],
            "ci95_low_s": [1.0, 1.5, 3.0, 8.0],
            "ci95_high_s": [2.0, 2.5, 4.0, 10.0],
        }
    )
    ranked = pd.Series([True, True, True, False])
    ranks = rank_ranges(summary, ranked)
    assert ranks["rank"].tolist() == ["1–2", "1–2", "3", ""]
    assert ranks["rank_best"].tolist()[:3] == [1, 1, 3]
    assert ranks["rank_worst"].tolist()[:3] == [2, 2, 3]


def cell_samples(stack: str, times: list[float]) -> pd.DataFrame:
    frame = pd.DataFrame({"time_s": times, "repetition": [1, 1, 2, 2, 3, 3]})
    return frame.assign(mode="concurrent", stack=stack, request="GET", ok=True)


def test_a_client_limited_row_is_neither_ranked_nor_the_improvement_baseline():
    samples = pd.concat(
        [
            cell_samples("fast", [0.010, 0.011, 0.010, 0.012, 0.011, 0.010]),
            cell_samples("slow", [0.020, 0.021, 0.020, 0.022, 0.021, 0.020]),
            cell_samples("client-bound", [0.050, 0.051, 0.050, 0.052, 0.051, 0.050]),
        ]
    )
    measurements = [
        LoadedCsv("concurrent", stack, "GET", rep, Path(f"{stack}.csv"), "httplab", 2)
        for stack in ("fast", "slow", "client-bound")
        for rep in (1, 2, 3)
    ]
    for m in measurements:
        m.client_limit = "client CPU at 100%" if m.stack == "client-bound" else None
    summary = annotate(summarise(samples), measurements).set_index("stack")
    slow, fast = summary.loc["slow", "mean_s"], summary.loc["fast", "mean_s"]
    assert summary.loc["slow", "improvement_pct"] == 0  # the slowest ranked row is the baseline
    assert summary.loc["fast", "improvement_pct"] == pytest.approx((slow - fast) / slow * 100)
    assert pd.isna(summary.loc["client-bound", "improvement_pct"])
    assert summary["rank"].to_dict() == {"fast": "1", "slow": "2", "client-bound": ""}
