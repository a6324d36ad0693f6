"""Summary statistics checked against values computed independently (statistics, numpy, by hand)."""

import statistics

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis.intervals import (
    NORMAL_WITHIN_RUN,
    WELCH,
    CellInterval,
    cell_interval,
    difference,
    selection_adjusted_confidence,
)
from analysis.ranking import ranked_summary
from analysis.stats import SUMMARY_COLUMNS, summarise

# Hand-made samples (seconds); NaN = a failed request.
A_GET = [0.010, 0.011, 0.012, 0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.100]
A_POST = [0.020, 0.022, float("nan"), 0.024, 0.026]
B_GET = [0.005, 0.006, 0.007, float("nan"), float("nan")]


def samples() -> pd.DataFrame:
    rows = []
    for stack, method, values in (("a", "GET", A_GET), ("a", "POST", A_POST), ("b", "GET", B_GET)):
        rows += [("constant", stack, method, v) for v in values]
    frame = pd.DataFrame(rows, columns=["mode", "stack", "request", "time_s"])
    frame["ok"] = frame["time_s"].notna()
    return frame


def row(summary: pd.DataFrame, stack: str, method: str) -> pd.Series:
    return summary.set_index(["stack", "request"]).loc[(stack, method)]


def test_leading_columns_are_the_contract():
    summary, _ = ranked_summary(samples(), [])
    assert list(summary.columns[: len(SUMMARY_COLUMNS)]) == [
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


def test_statistics_over_successes_only():
    summary = summarise(samples())
    ok_post = [v for v in A_POST if v == v]
    post = row(summary, "a", "POST")
    assert (
        post["requests"] == 5
        and post["failures"] == 1
        and post["failure_rate"] == pytest.approx(0.2)
    )
    assert post["mean_s"] == pytest.approx(statistics.mean(ok_post))
    assert post["median_s"] == pytest.approx(statistics.median(ok_post))
    assert post["std_s"] == pytest.approx(statistics.stdev(ok_post))
    get = row(summary, "a", "GET")
    assert get["mean_s"] == pytest.approx(statistics.mean(A_GET))
    assert get["p95_s"] == pytest.approx(np.percentile(A_GET, 95))
    assert get["p99_s"] == pytest.approx(np.percentile(A_GET, 99))
    # By hand: linear interpolation between the 9th (0.018) and 10th (0.100) sorted values.
    assert get["p95_s"] == pytest.approx(0.018 + 0.55 * (0.100 - 0.018))
    b = row(summary, "b", "GET")
    assert b["failures"] == 2 and b["failure_rate"] == pytest.approx(0.4)


def test_outliers_by_the_1_5_iqr_rule_with_linear_quartiles():
    # A_GET: Q1 = 0.01225, Q3 = 0.01675 (linear), IQR = 0.0045, fences 0.0055, 0.0235: 0.100 only.
    summary = summarise(samples())
    assert row(summary, "a", "GET")["outliers"] == 1
    assert row(summary, "a", "POST")["outliers"] == 0
    # 1..9 plus x >= 9: Q1 = 3.25 and Q3 = 7.75 (linear), IQR = 4.5, upper fence = 14.5 exactly.
    for extra, expected in ((14.5, 0), (14.6, 1)):
        values = [*range(1, 10), extra]
        frame = pd.DataFrame({"mode": "m", "stack": "s", "request": "GET", "time_s": values})
        frame["ok"] = True
        assert np.percentile(values, [25, 75]).tolist() == [3.25, 7.75]
        assert summarise(frame)["outliers"].item() == expected


def test_improvement_against_the_slowest_mean_of_the_same_mode():
    summary, _ = ranked_summary(samples(), [])
    slowest = statistics.mean([v for v in A_POST if v == v])  # a/POST has the highest mean
    assert row(summary, "a", "POST")["improvement_pct"] == 0
    expected_b = (slowest - statistics.mean([0.005, 0.006, 0.007])) / slowest * 100
    assert row(summary, "b", "GET")["improvement_pct"] == pytest.approx(expected_b)


def test_ci95_with_repetitions_is_sectioning_t_over_the_repetitions():
    # Three repetitions; by hand: repetition means 6, 8, 10 ms (SD 2 ms), medians 6, 8, 10 ms.
    times = [0.005, 0.006, 0.007, 0.007, 0.008, 0.009, 0.009, 0.010, 0.011]
    frame = pd.DataFrame(
        {"mode": "m", "stack": "s", "request": "GET", "repetition": [1, 1, 1, 2, 2, 2, 3, 3, 3]}
    )
    frame["time_s"], frame["ok"] = times, True
    row = summarise(frame).iloc[0]
    half = 4.302653 * 0.002 / 3**0.5  # t(0.975, 2) · SD of the repetition means / √3
    assert row["mean_s"] == pytest.approx(0.008)
    assert (row["ci95_low_s"], row["ci95_high_s"]) == pytest.approx((0.008 - half, 0.008 + half))
    # The median's interval: the pooled median (8 ms) ± the same t · SD(6, 8, 10 ms) / √3.
    assert (row["median_ci95_low_s"], row["median_ci95_high_s"]) == pytest.approx(
        (0.008 - half, 0.008 + half)
    )
    assert row["ci_method"].startswith("sectioning")


def test_one_repetition_gets_a_block_bootstrap_interval_that_is_reproducible():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"time_s": 0.004 + rng.exponential(0.001, 300), "ok": True})
    frame = frame.assign(mode="m", stack="s", request="GET", repetition=1)
    first, again = summarise(frame).iloc[0], summarise(frame).iloc[0]
    assert first["ci_method"].startswith("stationary block bootstrap")
    for statistic in ("", "median_", "p95_", "p99_"):
        low, high = first[f"{statistic}ci95_low_s"], first[f"{statistic}ci95_high_s"]
        assert low < high and (low, high) == (
            again[f"{statistic}ci95_low_s"],
            again[f"{statistic}ci95_high_s"],
        )
    assert first["ci95_low_s"] < first["mean_s"] < first["ci95_high_s"]


def test_a_stack_with_only_failures_has_counts_but_no_times():
    frame = pd.DataFrame(
        {
            "mode": "m",
            "stack": ["s", "s", "t"],
            "request": "GET",
            "time_s": [float("nan"), float("nan"), 0.004],
        }
    )
    frame["ok"] = frame["time_s"].notna()
    summary = summarise(frame).set_index("stack")
    assert summary.loc["s", "failures"] == 2 and summary.loc["s", "failure_rate"] == 1.0
    assert pd.isna(summary.loc["s", "mean_s"]) and summary.loc["s", "outliers"] == 0


def test_repetition_spread_is_the_sd_of_per_repetition_means():
    frame = pd.DataFrame(
        {
            "mode": "m",
            "stack": "s",
            "request": "GET",
            "repetition": [1, 1, 2, 2, 3, 3],
            "time_s": [0.009, 0.011, 0.013, 0.015, 0.012, float("nan")],
        }
    )
    frame["ok"] = frame["time_s"].notna()
    expected = statistics.stdev([0.010, 0.014, 0.012])
    assert summarise(frame)["repetition_sd_s"].item() == pytest.approx(expected)
    single = frame.loc[frame["repetition"] == 1]
    assert pd.isna(summarise(single)["repetition_sd_s"].item())


def repetitions_cell(means: list[float]) -> CellInterval:
    nothing = np.full(4, np.nan)
    return CellInterval("test", len(means), nothing, nothing, np.array(means), None)


def test_welch_interval_of_a_difference_of_repetition_means_by_the_formula():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.5, 4.0, 5.5, 7.0, 8.5])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)  # 5/12 and 5.625/5
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = scipy_stats.t.ppf(0.975, dof) * (va + vb) ** 0.5
    found = difference(repetitions_cell(list(a)), repetitions_cell(list(b)))
    assert found.method == WELCH
    assert found.diff_s == pytest.approx(3.0)
    assert (found.low_s, found.high_s) == pytest.approx((3.0 - half, 3.0 + half))
    assert found.low_s > 0  # this difference exceeds its interval


def test_a_comparison_with_a_single_repetition_says_run_to_run_noise_was_not_measured():
    rng = np.random.default_rng(3)
    a = cell_interval(0.004 + rng.exponential(0.001, 300), np.ones(300), seed=1)
    b = cell_interval(0.006 + rng.exponential(0.001, 300), np.ones(300), seed=2)
    found = difference(a, b)
    assert found.method == NORMAL_WITHIN_RUN and "not measured" in found.method
    assert 0 < found.low_s < found.diff_s < found.high_s  # 2 ms slower, clearly
    assert found.diff_s == pytest.approx(b.repetition_means[0] - a.repetition_means[0])


def test_the_confidence_level_follows_benjamini_hochberg_by_the_formula():
    # m = 5: BH compares the sorted p-values with 0.01, 0.02, 0.03, 0.04, 0.05 and calls the
    # first four (the largest k with p(k) <= k × 0.05 / 5 is 4); NaN (no interval) is left out.
    p_values = np.array([0.5, 0.03, 0.001, np.nan, 0.04, 0.01])
    assert selection_adjusted_confidence(p_values) == pytest.approx(1 - 4 * 0.05 / 5)
    # None called: the level of one call, so every interval still contains 0.
    assert selection_adjusted_confidence(np.array([0.02, 0.5])) == pytest.approx(1 - 0.05 / 2)
    assert selection_adjusted_confidence(np.array([np.nan])) == pytest.approx(0.95)


def test_an_interval_excludes_zero_exactly_when_its_p_value_is_below_one_minus_the_level():
    a, b = repetitions_cell([1.0, 1.2, 0.9, 1.1, 1.0]), repetitions_cell([1.3, 1.4, 1.2, 1.5, 1.3])
    p_value = difference(a, b).p_value
    narrower = difference(a, b, 1 - p_value * 1.01)  # tested at a level just below 1 − p
    wider = difference(a, b, 1 - p_value * 0.99)
    assert narrower.low_s > 0
    assert wider.low_s < 0
