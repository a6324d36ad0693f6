"""One ranking: pairwise comparisons blocked by repetition, the verdict built on them, and the
summary, tables and paper comparison that take their order and ranks from it."""

import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.load import LoadedCsv
from analysis.pairwise import CellMeans, paired_ratio
from analysis.paper import rank_agreement
from analysis.ranking import ranked_summary
from analysis.tables import mode_table
from analysis.verdict import in_verdict_order

PASSES = np.array([1.0, 1.3, 0.8, 1.6, 1.1])  # each pass over the matrix: its own conditions


def cell_samples(
    stack: str,
    level: float,
    mode: str = "constant",
    request: str = "GET",
    passes: np.ndarray = PASSES,
    wobble: float = 0.01,
) -> pd.DataFrame:
    """Four requests in each repetition, the repetition's mean ``level`` × its pass's factor."""
    rng = np.random.default_rng(zlib.crc32(f"{stack} {mode} {request}".encode()))
    rows = []
    for repetition, factor in enumerate(passes, start=1):
        mean = level * factor * rng.normal(1.0, wobble)
        rows += [(repetition, mean * d) for d in (0.98, 1.0, 1.0, 1.02)]
    frame = pd.DataFrame(rows, columns=["repetition", "time_s"])
    return frame.assign(mode=mode, stack=stack, request=request, ok=True)


def loaded(samples: pd.DataFrame, limited: dict[tuple[str, int], str] | None = None):
    limited = limited or {}
    cells = samples[["mode", "stack", "request", "repetition"]].drop_duplicates()
    measurements = []
    for cell in cells.itertuples():
        m = LoadedCsv(cell.mode, cell.stack, cell.request, cell.repetition, Path("x.csv"),
                      "httplab", 4)  # fmt: skip
        m.client_limit = limited.get((cell.stack, cell.repetition))
        m.client_overhead_s = 0.001
        m.client_overhead_concurrency = m.concurrency = 1
        measurements.append(m)
    return measurements


def test_blocking_by_repetition_takes_out_what_a_pass_does_to_every_stack():
    """Passes that differ by up to 2× hide a 1.5× difference from a comparison of the two sets
    of means; compared repetition by repetition, it is plain."""
    fast = CellMeans(dict(enumerate(0.002 * PASSES, start=1)))
    slow = CellMeans(dict(enumerate(0.003 * PASSES * [1.01, 0.99, 1.0, 1.02, 0.98], start=1)))
    ratio = paired_ratio(slow, fast)
    assert ratio.ratio == pytest.approx(1.5, rel=0.01)
    assert ratio.called and 1.45 < ratio.low < 1.5 < ratio.high < 1.55
    assert ratio.pairs == 5 and ratio.method.startswith("paired t")
    assert ratio.inverse().ratio == pytest.approx(1 / ratio.ratio)
    # Only the repetitions both have are paired; one in common is no spread to judge by.
    assert paired_ratio(slow, CellMeans({1: 0.002})) is None


def test_the_verdict_names_the_fastest_group_and_each_slower_stack_with_its_ratio():
    samples = pd.concat(
        [
            cell_samples("quick", 0.0020),
            cell_samples("also-quick", 0.0020),
            cell_samples("slow", 0.0034),
        ]
    )
    summary, (verdict,) = ranked_summary(samples, loaded(samples))
    assert sorted(verdict.fastest) == ["also-quick", "quick"]
    assert verdict.headline().startswith("Fastest, cannot be told apart: ")
    (line,) = verdict.slower()
    assert re.fullmatch(r"slow: 1\.(6|7)\d× \[1\.\d\d, 1\.\d\d\] slower than the fastest", line)
    ranks = summary.set_index("stack")["rank"].to_dict()
    assert ranks == {"quick": "1–2", "also-quick": "1–2", "slow": "3"}
    # The client's 1 ms of the stacks' times, in words: its share of the slowest and fastest.
    low, high, fastest, slowest = verdict.client_share()
    assert (low, high) == pytest.approx((0.001 / slowest, 0.001 / fastest))
    assert verdict.client_words() == (
        f"The client alone takes 1.00 ms a request ({low:.0%}–{high:.0%} of the stacks' "
        f"{fastest * 1e3:.2f}–{slowest * 1e3:.2f} ms)."
    )
    assert verdict.compact().startswith("constant GET: fastest ")
    assert "slowest slow 1." in verdict.compact()
    slow = summary.set_index("stack").loc["slow"]
    assert slow["vs_fastest_low"] > 1 and slow["vs_fastest"] == pytest.approx(1.7, rel=0.02)


def test_a_stack_the_client_limited_in_some_repetitions_is_ranked_on_the_others():
    samples = pd.concat([cell_samples("quick", 0.002), cell_samples("slow", 0.004)])
    limits = {("quick", 3): "client process used 97% of a core"}
    summary, (verdict,) = ranked_summary(samples, loaded(samples, limits))
    quick = next(s for s in verdict.standings if s.stack == "quick")
    assert (quick.repetitions, quick.limited, quick.rank) == (4, (3,), "1")
    assert (
        verdict.notes()[0] == "Ranked on the repetitions the client kept up with: quick on 4 of 5."
    )
    assert summary.set_index("stack").loc["quick", "ranked_repetitions"] == 4


def test_a_stack_the_client_limited_in_every_repetition_leaves_the_fastest_untold():
    samples = pd.concat([cell_samples("quick", 0.002), cell_samples("slow", 0.004)])
    limits = {("quick", k): "client process used 97% of a core" for k in range(1, 6)}
    summary, (verdict,) = ranked_summary(samples, loaded(samples, limits))
    assert verdict.headline() == (
        "Cannot tell which is fastest: the client was the limit for quick. Among the others: "
        "fastest: slow."
    )
    assert summary.set_index("stack")["rank"].to_dict() == {"quick": "", "slow": "1"}
    assert pd.isna(summary.set_index("stack").loc["quick", "improvement_pct"])
    every = {(s, k): "client CPU" for s in ("quick", "slow") for k in range(1, 6)}
    _, (nothing,) = ranked_summary(samples, loaded(samples, every))
    assert nothing.headline() == "Cannot tell: the client was the limit for every stack."
    assert nothing.compact() == "constant GET: cannot tell, the client was the limit"


def test_a_stack_at_the_clients_own_floor_is_marked():
    samples = pd.concat([cell_samples("quick", 0.00101, wobble=0.05), cell_samples("slow", 0.004)])
    summary, (verdict,) = ranked_summary(samples, loaded(samples))
    assert summary.set_index("stack")["at_client_floor"].to_dict() == {
        "quick": True,
        "slow": False,
    }
    assert "At the client's own floor" in verdict.notes()[0]


def test_the_comparisons_of_a_mode_are_one_family_over_its_requests():
    samples = pd.concat(
        [
            cell_samples(stack, level, request=request)
            for request in ("GET", "POST")
            for stack, level in (("a", 0.002), ("b", 0.0021), ("c", 0.003))
        ]
    )
    _, verdicts = ranked_summary(samples, loaded(samples))
    levels = {v.level for v in verdicts}
    assert len(levels) == 1  # 6 comparisons, one level
    assert 0.95 <= levels.pop() < 1


def test_improvement_has_an_interval_and_the_slowest_is_its_baseline():
    samples = pd.concat([cell_samples("quick", 0.002), cell_samples("slow", 0.004)])
    summary, _ = ranked_summary(samples, loaded(samples))
    rows = summary.set_index("stack")
    assert rows.loc["slow", ["improvement_pct", "improvement_pct_ci95_low"]].tolist() == [0, 0]
    quick = rows.loc["quick"]
    assert quick["improvement_pct_ci95_low"] < quick["improvement_pct"]
    assert quick["improvement_pct"] < quick["improvement_pct_ci95_high"]
    assert quick["improvement_pct"] == pytest.approx(50, abs=2)


def test_table_and_paper_comparison_follow_the_verdicts_order():
    levels = {  # the paper's five stacks, an order unlike the paper's
        "fastapi-uvicorn": 0.0020,
        "django-gunicorn": 0.0027,
        "flask-gunicorn": 0.0030,
        "flask-gunicorn-gevent": 0.0035,
        "django-daphne": 0.0050,
    }
    samples = pd.concat(
        cell_samples(stack, level * (1.1 if request == "POST" else 1.0), request=request)
        for stack, level in levels.items()
        for request in ("GET", "POST")
    )
    summary, verdicts = ranked_summary(samples, loaded(samples))
    for verdict in verdicts:
        order = [s.stack for s in verdict.ranked]
        assert order == list(levels)
        rows = in_verdict_order(summary.loc[summary["request"] == verdict.request])
        assert rows["stack"].tolist() == order
    table = mode_table(summary, "constant", lambda key: [])
    assert [row[1] for row in table.rows][:5] == [f"{s} - GET" for s in levels]
    agreement = rank_agreement(summary, "constant")
    ours = in_verdict_order(agreement.rows)
    assert ours.loc[ours["request"] == "GET", "stack"].tolist() == list(levels)
    assert ours["rank"].tolist()[:5] == ["1", "2", "3", "4", "5"]


def test_the_terminal_line_names_the_slowest_stack_told_apart_or_the_spread():
    # A noisy stack that cannot be told from the fastest, though its mean is the largest, and
    # a steady one that is called slower: the line names the one called slower.
    noisy = cell_samples("noisy", 0.0020, passes=PASSES * np.array([0.8, 2.4, 0.9, 2.6, 1.0]))
    samples = pd.concat([cell_samples("quick", 0.0020), cell_samples("steady", 0.0026), noisy])
    _, (verdict,) = ranked_summary(samples, loaded(samples))
    assert "noisy" in verdict.fastest and "steady" not in verdict.fastest
    assert verdict.ranked[-1].stack == "noisy"
    assert "slowest told apart steady 1." in verdict.compact()
    # All of them in the fastest group: the spread to the slowest.
    alike = pd.concat([cell_samples("quick", 0.0020), noisy])
    _, (verdict,) = ranked_summary(alike, loaded(alike))
    assert "all 2 cannot be told apart; spread to the slowest noisy 1." in verdict.compact()
