"""Summary statistics checked against values computed independently (statistics, numpy, by hand)."""

import statistics

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis.stats import SUMMARY_COLUMNS, improvement_pct, summarise, welch_difference

# Hand-made samples (seconds); NaN = a failed request.
A_GET = [0.010, 0.011, 0.012, 0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.100]
A_POST = [0.020, 0.022, float("nan"), 0.024, 0.026]
B_GET = [0.005, 0.006, 0.007, float("nan"), float("nan")]


def samples() -> pd.DataFrame:
    rows = []
    for stack, method, values in (("a", "GET", A_GET), ("a", "POST", A_POST), ("b", "GET", B_GET)):
        rows += [("constant", stack, method, v) for v in values]
    frame = pd.DataFrame(rows, columns=["mode", "stack", "method", "time_s"])
    frame["ok"] = frame["time_s"].notna()
    return frame


def row(summary: pd.DataFrame, stack: str, method: str) -> pd.Series:
    return summary.set_index(["stack", "method"]).loc[(stack, method)]


def test_leading_columns_are_the_contract():
    assert list(summarise(samples()).columns[: len(SUMMARY_COLUMNS)]) == [
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
        frame = pd.DataFrame({"mode": "m", "stack": "s", "method": "GET", "time_s": values})
        frame["ok"] = True
        assert np.percentile(values, [25, 75]).tolist() == [3.25, 7.75]
        assert summarise(frame)["outliers"].item() == expected


def test_improvement_against_the_slowest_mean_of_the_same_mode():
    frame = pd.DataFrame(
        {"mode": ["x", "x", "x", "y", "y"], "mean_s": [0.010, 0.020, 0.040, 0.003, 0.001]}
    )
    assert improvement_pct(frame).tolist() == pytest.approx([75.0, 50.0, 0.0, 0.0, 200 / 3])
    summary = summarise(samples())
    slowest = statistics.mean([v for v in A_POST if v == v])  # a/POST has the highest mean
    assert row(summary, "a", "POST")["improvement_pct"] == 0
    expected_b = (slowest - statistics.mean([0.005, 0.006, 0.007])) / slowest * 100
    assert row(summary, "b", "GET")["improvement_pct"] == pytest.approx(expected_b)


def test_ci95_of_the_mean_is_t_based():
    summary = summarise(samples())
    b = row(summary, "b", "GET")  # 3 successes: 5, 6, 7 ms; sd 1 ms; t(0.975, 2) = 4.302653
    half = 4.302653 * 0.001 / 3**0.5
    assert b["ci95_low_s"] == pytest.approx(0.006 - half, rel=1e-6)
    assert b["ci95_high_s"] == pytest.approx(0.006 + half, rel=1e-6)


def test_a_stack_with_only_failures_has_counts_but_no_times():
    frame = pd.DataFrame(
        {
            "mode": "m",
            "stack": ["s", "s", "t"],
            "method": "GET",
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
            "method": "GET",
            "repetition": [1, 1, 2, 2, 3, 3],
            "time_s": [0.009, 0.011, 0.013, 0.015, 0.012, float("nan")],
        }
    )
    frame["ok"] = frame["time_s"].notna()
    expected = statistics.stdev([0.010, 0.014, 0.012])
    assert summarise(frame)["repetition_sd_s"].item() == pytest.approx(expected)
    single = frame.loc[frame["repetition"] == 1]
    assert pd.isna(summarise(single)["repetition_sd_s"].item())


def test_welch_interval_of_a_difference_of_means_by_the_formula():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.5, 4.0, 5.5, 7.0, 8.5])
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)  # 5/12 and 5.625/5
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = scipy_stats.t.ppf(0.975, dof) * (va + vb) ** 0.5
    diff, low, high = welch_difference(a, b)
    assert diff == pytest.approx(3.0)
    assert (low, high) == pytest.approx((3.0 - half, 3.0 + half))
    assert low > 0  # this difference exceeds its interval
