"""The paper's own numbers (its Tables 1 and 2) as data, and how to set a run beside them.

Malatjie & Faniso-Myaka, "Comparative analysis of HTTP request handling in different Python
frameworks". Table 1 is "normal load" (our mode ``constant``), Table 2 "concurrent load" (our mode
``concurrent``). Values are copied as printed, including the rows' order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

# The paper's framework labels -> httplab's stack names.
PAPER_LABELS = {
    "flask (Gevent)": "flask-gunicorn-gevent",
    "Flask": "flask-gunicorn",
    "Django": "django-gunicorn",
    "Django (Daphne)": "django-daphne",
    "FastAPI": "fastapi-uvicorn",
}
PAPER_MODES = {"normal load": "constant", "concurrent load": "concurrent"}
PAPER_TABLE_OF_MODE = {"constant": "Table 1", "concurrent": "Table 2"}

# (label, method, average time s, improvement % as printed, number of outliers)
_TABLE_1 = [
    ("flask (Gevent)", "GET", 0.00333, 93.82, 61),
    ("flask (Gevent)", "POST", 0.00359, 93.34, 16),
    ("FastAPI", "GET", 0.01026, 68.44, 6),
    ("FastAPI", "POST", 0.01176, 78.18, 9),
    ("Flask", "GET", 0.01026, 80.98, 6),
    ("Flask", "POST", 0.01302, 75.85, 57),
    ("Django", "GET", 0.02302, 0.48, 1),
    ("Django", "POST", 0.02317, 0.00, 0),
    ("Django (Daphne)", "POST", 0.02302, 57.31, 0),
    ("Django (Daphne)", "GET", 0.02317, 57.03, 1),
]
# The slowest row prints "Baseline" (None here) for its improvement: 0% by the table's own rule.
_TABLE_2 = [
    ("flask (Gevent)", "GET", 0.05525, 84.68, 12),
    ("flask (Gevent)", "POST", 0.05807, 83.90, 15),
    ("FastAPI", "GET", 0.07562, 79.04, 62),
    ("FastAPI", "POST", 0.08071, 77.63, 27),
    ("Flask", "GET", 0.09709, 73.08, 34),
    ("Flask", "POST", 0.11435, 68.30, 97),
    ("Django", "GET", 0.18611, 48.41, 156),
    ("Django", "POST", 0.22142, 38.62, 32),
    ("Django (Daphne)", "POST", 0.24303, 32.63, 96),
    ("Django (Daphne)", "GET", 0.36074, None, 0),
]
# Printed precision: means to 5 decimals of a second, improvements to 2 decimals of a percent.
MEAN_HALF_STEP = 0.000005
PERCENT_HALF_STEP = 0.005


def paper_table(mode: str) -> pd.DataFrame:
    """The paper's table for ``mode`` (constant or concurrent): label, stack, method, mean_s,
    improvement_pct, outliers. Empty for modes the paper did not measure."""
    rows = {"constant": _TABLE_1, "concurrent": _TABLE_2}.get(mode, [])
    frame = pd.DataFrame(
        rows, columns=["label", "request", "mean_s", "improvement_pct", "outliers"]
    )
    frame.insert(1, "stack", frame["label"].map(PAPER_LABELS))
    frame["improvement_printed"] = frame["improvement_pct"].map(
        lambda value: "Baseline" if pd.isna(value) else f"{value:.2f}%"
    )
    frame["improvement_pct"] = frame["improvement_pct"].fillna(0.0)
    return frame


@dataclass(frozen=True)
class BaselineCheck:
    """Whether one slowest-mean baseline reproduces a table's Improvement column."""

    mode: str
    implied_baselines_s: pd.Series  # per row: the baseline its printed improvement implies
    single_baseline: bool  # True if one value fits every row within the printed rounding
    slowest_mean_s: float

    def sentence(self) -> str:
        table = PAPER_TABLE_OF_MODE[self.mode]
        implied = self.implied_baselines_s
        typical = implied.median()
        if self.single_baseline:
            return (
                f"The paper's {table} Improvement column is consistent with one baseline, its "
                f"slowest mean ({self.slowest_mean_s * 1000:.2f} ms): (slowest - mean) / slowest."
            )
        near = int((abs(implied / typical - 1) < 0.001).sum())
        return (
            f"The paper's {table} Improvement column matches no single baseline: its printed "
            f"percentages imply baselines from {implied.min() * 1000:.2f} ms to "
            f"{implied.max() * 1000:.2f} ms ({near} of {len(implied)} rows imply "
            f"{typical * 1000:.1f} ms), and no one value reproduces every row within the printed "
            f"rounding. This report uses the Table 2 rule (slowest mean of the same mode) for both."
        )


def check_improvement_baseline(mode: str) -> BaselineCheck:
    """Test the paper's Improvement column against the rule improvement = (b − mean) / b × 100.

    Each row, with its mean and percentage rounded as printed, allows baselines b in an interval
    (b = mean / (1 − improvement/100) grows with both). One baseline fits the whole column only if
    all these intervals overlap.
    """
    table = paper_table(mode)
    mean, improvement = table["mean_s"], table["improvement_pct"] / 100
    step = PERCENT_HALF_STEP / 100
    lowest = (mean - MEAN_HALF_STEP) / (1 - (improvement - step).clip(lower=0))
    highest = (mean + MEAN_HALF_STEP) / (1 - (improvement + step))
    implied = mean / (1 - improvement)
    implied.index = table["label"] + " " + table["request"]
    fits = bool(lowest.max() <= highest.min())
    return BaselineCheck(mode, implied, fits, float(mean.max()))


@dataclass(frozen=True)
class RankAgreement:
    """This run's ranking of a mode beside the paper's: per request, the paper's order of its
    means and the verdict's order and ranks; the Spearman correlation of the two runs' times."""

    mode: str
    # label, stack, request, paper_mean_s, paper_rank (within its request), mean_s,
    # rank_mean_s (what the verdict orders by), rank (the verdict's: "2" or "1–3"), excluded
    rows: pd.DataFrame
    rho: float
    p_value: float
    compared: int

    def sentence(self) -> str:
        table = PAPER_TABLE_OF_MODE[self.mode]
        if self.compared < 3 or np.isnan(self.rho):
            return f"Too few comparable stacks ({self.compared}) to rank this run against {table}."
        strength = (
            "agrees with"
            if self.rho >= 0.7
            else "partly agrees with"
            if self.rho >= 0.3
            else "does not agree with"
        )
        return (
            f"This run's ranking of stacks {strength} the paper's {table}: Spearman ρ = "
            f"{self.rho:.2f} over {self.compared} stack × request pairs (p = {self.p_value:.3f})."
        )


def rank_agreement(summary: pd.DataFrame, mode: str) -> RankAgreement | None:
    """Set this run's ranking of ``mode`` (the verdict's: its ranks, and its order by
    ``rank_mean_s``) beside the paper's, or None if the paper has no table for the mode. Rows not
    ranked (the client the limit in every repetition) are shown but left out of the
    correlation: their time is the client's, not the server's."""
    paper = paper_table(mode)
    if paper.empty:
        return None
    columns = ["stack", "request", "mean_s", "rank_mean_s", "rank"]
    ours = summary.loc[summary["mode"] == mode, columns]
    rows = paper.merge(ours, on=["stack", "request"], how="left", suffixes=("_paper", ""))
    rows = rows.rename(columns={"mean_s_paper": "paper_mean_s"})
    rows["rank"] = rows["rank"].fillna("")
    rows["excluded"] = rows["rank"].eq("") | rows["rank_mean_s"].isna()
    rows["paper_rank"] = rows.groupby("request")["paper_mean_s"].rank(method="min").astype(int)
    kept = rows.loc[~rows["excluded"]]
    if len(kept) >= 3:
        result = scipy_stats.spearmanr(kept["paper_mean_s"], kept["rank_mean_s"])
        rho, p_value = float(result.statistic), float(result.pvalue)
    else:
        rho = p_value = float("nan")
    order = ["label", "stack", "request", "paper_mean_s", "paper_rank", "mean_s",
             "rank_mean_s", "rank", "excluded"]  # fmt: skip
    return RankAgreement(mode, rows[order], rho, p_value, len(kept))


DAPHNE_DUPLICATE_NOTE = (
    "The paper's Table 1 gives Django (Daphne) exactly Django's two means (0.02302 s and "
    "0.02317 s) with GET and POST swapped, yet improvements of 57% against 0-0.5% for Django: "
    "at least one of those rows cannot be right."
)
