"""The paper's numbers as data: the label mapping, the Improvement-column check, rank agreement."""

import pandas as pd
import pytest

from analysis.paper import PAPER_LABELS, check_improvement_baseline, paper_table, rank_agreement


def test_labels_map_to_design_stack_names():
    assert PAPER_LABELS == {
        "flask (Gevent)": "flask-gunicorn-gevent",
        "Flask": "flask-gunicorn",
        "Django": "django-gunicorn",
        "Django (Daphne)": "django-daphne",
        "FastAPI": "fastapi-uvicorn",
    }
    for mode in ("constant", "concurrent"):
        table = paper_table(mode)
        assert len(table) == 10 and table["stack"].notna().all()
        assert sorted(table["request"].value_counts().tolist()) == [5, 5]


def test_table_2_follows_the_slowest_mean_rule():
    table = paper_table("concurrent")
    slowest = table["mean_s"].max()  # Django (Daphne) GET, 0.36074 s, printed "Baseline"
    recomputed = (slowest - table["mean_s"]) / slowest * 100
    assert (recomputed - table["improvement_pct"]).abs().max() < 0.02
    assert check_improvement_baseline("concurrent").single_baseline


def test_table_1_matches_no_single_baseline():
    table = paper_table("constant").set_index(["label", "request"])
    # Its own slowest mean (Django POST, 0.02317 s) would give flask (Gevent) GET 85.6%, not 93.82%.
    slowest = table["mean_s"].max()
    assert (slowest - 0.00333) / slowest * 100 == pytest.approx(85.63, abs=0.01)
    assert table.loc[("flask (Gevent)", "GET"), "improvement_pct"] == 93.82
    # The baseline each row implies, b = mean / (1 - improvement), differs by more than rounding:
    implied_gevent = 0.00333 / (1 - 0.9382)  # ~53.9 ms
    implied_fastapi = 0.01026 / (1 - 0.6844)  # ~32.5 ms
    assert implied_gevent / implied_fastapi > 1.6
    check = check_improvement_baseline("constant")
    assert not check.single_baseline
    assert "matches no single baseline" in check.sentence()


def summary_like(means: dict[tuple[str, str], float], limited: set[tuple[str, str]] = frozenset()):
    """A summary's rows as the verdict leaves them: ranked by their means, within each request."""
    frame = pd.DataFrame(
        [
            {"mode": "concurrent", "stack": s, "request": m, "mean_s": v, "rank_mean_s": v}
            for (s, m), v in means.items()
        ]
    )
    excluded = [(s, m) in limited for s, m in zip(frame["stack"], frame["request"], strict=True)]
    frame.loc[excluded, "rank_mean_s"] = float("nan")
    frame["rank"] = (
        frame.groupby("request")["rank_mean_s"]
        .rank(method="min")
        .map(lambda r: "" if pd.isna(r) else str(int(r)))
    )
    return frame


def test_rank_agreement_perfect_and_reversed():
    paper = paper_table("concurrent")
    same = {(r.stack, r.request): r.mean_s * 0.1 for r in paper.itertuples()}
    reverse = {(r.stack, r.request): 1 / r.mean_s for r in paper.itertuples()}
    assert rank_agreement(summary_like(same), "concurrent").rho == pytest.approx(1.0)
    assert rank_agreement(summary_like(reverse), "concurrent").rho == pytest.approx(-1.0)
    assert rank_agreement(summary_like(same), "keepalive") is None
    rows = rank_agreement(summary_like(same), "concurrent").rows
    # Ranks within each request, the paper's and this run's (the verdict's) alike.
    assert (rows["paper_rank"].astype(str) == rows["rank"]).all()
    assert sorted(rows.loc[rows["request"] == "GET", "paper_rank"]) == [1, 2, 3, 4, 5]


def test_rows_not_ranked_are_left_out_of_the_ranking():
    paper = paper_table("concurrent")
    means = {(r.stack, r.request): r.mean_s for r in paper.itertuples()}
    means[("flask-gunicorn-gevent", "GET")] = 99.0  # the client's ceiling, not the server's
    result = rank_agreement(summary_like(means, {("flask-gunicorn-gevent", "GET")}), "concurrent")
    assert result.compared == 9 and result.rho == pytest.approx(1.0)
    excluded = result.rows.set_index(["stack", "request"]).loc[("flask-gunicorn-gevent", "GET")]
    assert bool(excluded["excluded"]) and excluded["rank"] == ""
