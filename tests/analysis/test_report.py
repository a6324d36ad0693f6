"""The command line end to end: report and compare on synthetic runs, exit statuses, outputs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench_client.results_format import ExitCode
from httplab.cli import main
from tests.analysis.synthetic import STACKS as STACK_NAMES
from tests.analysis.synthetic import recollect, write_run

FIGURES = [
    f"{kind}_{mode}.png"
    for mode in ("constant", "concurrent")
    for kind in ("means", "iterations", "boxplot", "percentiles")
] + ["failure_rate.png", "ranking_constant.png", "ranking_concurrent.png"]


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_report_writes_every_output(reported):
    run_dir, status = reported
    assert status == 0
    out = run_dir / "report"
    for name in FIGURES:
        assert is_png(out / name), name
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False)
    assert (
        (out / "summary.csv")
        .read_text()
        .splitlines()[0]
        .startswith(
            "mode,stack,method,requests,failures,failure_rate,mean_s,median_s,p95_s,p99_s,std_s,"
            "outliers,improvement_pct,"
        )
    )
    assert len(summary) == 24
    dev = summary.set_index(["mode", "stack", "request"]).loc[("constant", "flask-dev", "GET")]
    folder = run_dir / "constant" / "flask-dev"
    csv = pd.concat(pd.read_csv(folder / name) for name in ("GET.csv", "GET.rep2.csv"))
    assert dev["failures"] == csv["Error"].notna().sum() > 0
    assert dev["mean_s"] == pytest.approx(csv["Execution Time (seconds)"].mean(), rel=1e-12)
    html = (out / "index.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "src='http" not in html and 'src="http' not in html  # self-contained
    assert "Spearman" in html and "matches no single baseline" in html
    assert "server pinned to CPU 0, client to CPU 1" in html  # lab notes from the manifest
    tables = (out / "tables.md").read_text()
    assert (
        "### Device architecture" in tables and "Intel(R) Xeon(R) CPU @ 2.20GHz (2 CPUs)" in tables
    )
    assert "| 0.00333 | 93.82% | 61 |" in tables  # the paper's tables as printed
    assert "| 0.36074 | Baseline | 0 |" in tables
    # The client's own overhead from the meta files sits beside the stacks' numbers.
    assert "Client alone (ms)" in tables
    assert summary.loc[summary["mode"] == "constant", "client_overhead_s"].eq(0.0021).all()
    assert not list(out.glob(".*.tmp"))


def test_client_limited_row_is_flagged_and_not_ranked(reported):
    run_dir, _ = reported
    tables = (run_dir / "report" / "tables.md").read_text()
    line = next(row for row in tables.splitlines() if r"django-daphne - GET \[† client\]" in row)
    assert line.startswith("| — |")  # no rank
    html = (run_dir / "report" / "index.html").read_text()
    assert "client process used 100% of a core" in html
    assert (
        "Cannot tell which is fastest: the client was the limit for django-daphne." in html
    )  # the verdict of concurrent GET
    summary = pd.read_csv(run_dir / "report" / "summary.csv", keep_default_na=False)
    flagged = summary.loc[summary["client_limited"] != "", ["mode", "stack", "request"]]
    assert flagged.values.tolist() == [["concurrent", "django-daphne", "GET"]]


def test_nagle_signature_is_flagged(tmp_path):
    root = tmp_path / "ka"
    write_run(root, rows=100, modes=("keepalive",), stacks=("flask-gunicorn", "fastapi-uvicorn"))
    slow = "keepalive/fastapi-uvicorn/GET.csv"
    frame = pd.read_csv(root / slow)
    frame["Execution Time (seconds)"] = 0.0415 + frame.index * 1e-6
    recollect(root, slow, frame.to_csv(index=False))
    assert main(["report", str(root)]) == ExitCode.DONE
    summary = pd.read_csv(root / "report" / "summary.csv").set_index(["stack", "request"])
    assert summary.loc[("fastapi-uvicorn", "GET"), "nagle_suspect"]
    assert not summary.loc[("flask-gunicorn", "GET"), "nagle_suspect"]
    assert "Nagle" in (root / "report" / "tables.md").read_text()


def test_bad_input_reported_with_file_and_line_rest_analysed(run_dir, capsys):
    for name in ("POST.csv", "POST.rep2.csv"):
        (run_dir / "constant" / "flask-gunicorn" / name).write_text("x,y\n1,2\n")
    paper = run_dir / "concurrent" / "flask-dev" / "GET.csv"
    paper.write_text("Iteration,Execution Time (seconds)\n1,0.01\n2,0.0\n3,abc\n4,0.02\n")
    (paper.parent / "GET.rep2.csv").unlink()
    (run_dir / "manifest.json").unlink()
    assert main(["report", str(run_dir)]) == ExitCode.INPUT_SKIPPED
    err = capsys.readouterr().err
    assert (
        f"{run_dir / 'constant' / 'flask-gunicorn' / 'POST.csv'}:1: skipped: unexpected header"
        in err
    )
    assert f"{paper}:4: row skipped: non-numeric Execution Time 'abc'" in err
    assert f"{run_dir / 'manifest.json'}: missing" in err
    summary = pd.read_csv(run_dir / "report" / "summary.csv").set_index(
        ["mode", "stack", "request"]
    )
    assert len(summary) == 23
    dev = summary.loc[("concurrent", "flask-dev", "GET")]  # its one repetition, in paper format
    assert (dev["requests"], dev["failures"], dev["source_format"]) == (3, 1, "paper")
    assert dev["mean_s"] == 0.015
    tables = (run_dir / "report" / "tables.md").read_text()
    assert "Skipped or inconsistent input" in tables and "zero times counted as failures" in tables


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    help_text = subprocess.run(
        [sys.executable, "-m", "httplab", "report", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert help_text.startswith("usage: httplab report")
    assert "RESULTS_DIR" in help_text and "--out" in help_text
    wrong = subprocess.run(
        [sys.executable, "-m", "httplab", "frobnicate"], capture_output=True, text=True
    )
    assert wrong.returncode == 2


def test_an_empty_folder_is_bad_input_and_nothing_is_written(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == ExitCode.USAGE
    assert "no readable" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_compare_two_runs(tmp_path):
    stacks = ("flask-gunicorn", "django-gunicorn", "fastapi-uvicorn")
    first = write_run(tmp_path / "laptop", rows=100, repetitions=3, stacks=stacks, seed=3)
    second = write_run(
        tmp_path / "server", rows=100, repetitions=3, stacks=stacks, seed=4, cpu="AMD EPYC 7B13"
    )
    # Make one stack clearly slower on the second machine; everything else is the same distribution.
    for name in ("GET.csv", "GET.rep2.csv", "GET.rep3.csv"):
        slow = f"constant/django-gunicorn/{name}"
        frame = pd.read_csv(second / slow)
        frame["Execution Time (seconds)"] *= 2
        recollect(second, slow, frame.to_csv(index=False))
    out = tmp_path / "cmp"
    assert main(["compare", str(first), str(second), "--out", str(out)]) == 0
    assert is_png(out / "compare_constant.png") and is_png(out / "compare_concurrent.png")
    table = pd.read_csv(out / "compare.csv").set_index(["run", "mode", "stack", "request"])
    slower = table.loc[("server", "constant", "django-gunicorn", "GET")]
    assert slower["exceeds_ci"] and slower["diff_ci95_low_s"] > 0
    same = table.loc[("server", "constant", "flask-gunicorn", "GET")]
    assert same["diff_ci95_low_s"] < same["diff_s"] < same["diff_ci95_high_s"]
    markdown = (out / "compare.md").read_text()
    assert "AMD EPYC 7B13" in markdown and "Intel(R) Xeon(R)" in markdown
    # Literal text in Markdown: its brackets escaped.
    assert re.search(r"constant/django-gunicorn/GET: server is \d+\.\d% slower \\\[\\?\+", markdown)
    assert slower["verdict"].endswith("]") and "slower" in slower["verdict"]
    assert slower["diff_method"] == "Welch t on repetition means"
    # One family of cells: one level, between 95% and 1 − 5%/m, stated in the comparison.
    levels = table["diff_ci_level"].dropna().unique()
    assert len(levels) == 1 and 0.95 <= levels[0] < 1
    assert f"at the {levels[0]:.1%} level" in markdown
    assert (out / "index.html").read_text().count("data:image/png;base64,") == 2
    # Against the run-wide shift (six cells a mode): only the stack that changed moved beyond it.
    assert slower["beyond_shift"] and slower["beyond_shift_pct_ci95_low"] > 0
    assert "slower than the run-wide shift" in slower["shift_verdict"]
    assert not same["beyond_shift"] and same["shift_verdict"].startswith("in step with")
    assert "constant mode, server: a run-wide shift of" in markdown
    assert "Against the run-wide shift, 95% CI" in markdown


def test_compare_names_a_run_wide_shift_and_blames_no_stack(tmp_path):
    stacks = ("flask-gunicorn", "django-gunicorn", "fastapi-uvicorn")
    first = write_run(tmp_path / "monday", rows=100, repetitions=3, stacks=stacks, seed=3)
    second = write_run(tmp_path / "tuesday", rows=100, repetitions=3, stacks=stacks, seed=3)
    # The same draws, every request of the second run 30% slower: the machine, not a stack.
    for csv in second.glob("*/*/*.csv"):
        frame = pd.read_csv(csv)
        frame["Execution Time (seconds)"] *= 1.3
        recollect(second, str(csv.relative_to(second)), frame.to_csv(index=False))
    out = tmp_path / "cmp"
    assert main(["compare", str(first), str(second), "--out", str(out)]) == 0
    table = pd.read_csv(out / "compare.csv", keep_default_na=False)
    later = table.loc[table["run"] == "tuesday"]
    assert later["exceeds_ci"].all()  # every cell did get slower
    assert later["shift_pct"].astype(float).round(6).eq(30.0).all()
    assert not later["beyond_shift"].any()
    markdown = (out / "compare.md").read_text()
    for mode in ("constant", "concurrent"):
        assert f"{mode} mode, tuesday: a run-wide shift of +30.0%" in markdown
    assert markdown.count("0 of 6 cells moved beyond it") == 2


def test_repetitions_are_pooled_and_their_spread_shown(run_dir):
    frame = pd.read_csv(run_dir / "constant" / "flask-gunicorn" / "GET.csv")
    frame["Execution Time (seconds)"] += 0.001  # the second repetition is 1 ms slower throughout
    recollect(run_dir, "constant/flask-gunicorn/GET.rep2.csv", frame.to_csv(index=False))
    assert main(["report", str(run_dir)]) == 0
    summary = pd.read_csv(run_dir / "report" / "summary.csv").set_index(
        ["mode", "stack", "request"]
    )
    row = summary.loc[("constant", "flask-gunicorn", "GET")]
    assert (row["repetitions"], row["requests"]) == (2, 150)
    # Two means 1 ms apart: their standard deviation is 1 ms / sqrt(2).
    assert row["repetition_sd_s"] == pytest.approx(0.001 / 2**0.5, rel=1e-6)
    assert "Run-to-run SD (ms)" in (run_dir / "report" / "tables.md").read_text()


def test_a_mode_the_paper_lacks_with_a_stack_that_never_answered(tmp_path):
    header = "Iteration,Execution Time (seconds),Status,Error,Start (s),Worker\n"
    for stack, body in (("x-stack", "1,0.002,200,,0,0\n"), ("y-stack", "1,,,timeout,0,0\n")):
        (tmp_path / "rate" / stack).mkdir(parents=True)
        (tmp_path / "rate" / stack / "GET.csv").write_text(header + body)
    assert main(["report", str(tmp_path)]) == ExitCode.INPUT_SKIPPED  # no manifest
    summary = pd.read_csv(tmp_path / "report" / "summary.csv").set_index("stack")
    assert (
        summary.loc["x-stack", "mean_s"] == 0.002 and summary.loc["x-stack", "improvement_pct"] == 0
    )
    assert summary.loc["y-stack", "failure_rate"] == 1.0 and pd.isna(
        summary.loc["y-stack", "mean_s"]
    )
    for kind in ("means", "iterations", "boxplot", "percentiles"):
        assert is_png(tmp_path / "report" / f"{kind}_rate.png")


def test_the_verdict_leads_the_page_is_written_as_json_and_ends_the_run(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    said = capsys.readouterr().err.splitlines()
    start = said.index(
        "Verdict (fastest group; slowest as its time over the fastest's [interval]):"
    )
    lines = said[start + 1 : start + 6]
    assert [line.split(":")[0] for line in lines] == [
        "  constant GET", "  constant POST", "  concurrent GET", "  concurrent POST", "  Noise",
    ]  # fmt: skip
    assert said[-1].startswith("Report: ")
    document = json.loads((run_dir / "report" / "verdict.json").read_text())
    assert [(v["mode"], v["request"]) for v in document["verdicts"]] == [
        ("constant", "GET"), ("constant", "POST"), ("concurrent", "GET"), ("concurrent", "POST"),
    ]  # fmt: skip
    for verdict in document["verdicts"]:
        assert verdict["fastest"] and 0.95 <= verdict["confidence_level"] < 1
        assert {s["stack"] for s in verdict["stacks"]} == set(STACK_NAMES)
    html = (run_dir / "report" / "index.html").read_text()
    # The answer first: the verdict before any table, the warnings after the results.
    assert html.index('<h2 id="verdict">Verdict</h2>') < html.index("<table")
    assert html.index("<table") < html.index('<h2 id="noise">Noise and limits</h2>')
    assert str(run_dir.parent) not in html  # paths relative to the run's folder
