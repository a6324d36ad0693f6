"""The report's warnings: pinning, frequency governor, spread, one repetition, busy hosts, the
calibration's concurrency, suspect CSVs."""

import json

import pandas as pd

from analysis import guard
from analysis.load import load_run
from analysis.report import build_report
from analysis.stats import annotate, summarise
from tests.analysis.synthetic import write_run

PINNED = {"lab": {"notes": ["server pinned to CPU 0, client to CPU 1"]}}


def test_unpinned_cpus_and_a_governor_other_than_performance_are_warned_about():
    assert guard.pinning(PINNED) == []
    assert "pinned" in guard.pinning({"lab": {"kind": "real", "notes": []}})[0]
    tuning = {"server": {"governors": ["powersave"]}, "client": {"governors": ["performance"]}}
    (line,) = guard.governors({"tuning": tuning})
    assert "server: powersave" in line
    assert guard.governors({"tuning": {"server": {"governors": []}}}) == []  # none to read


def summary_of(means_by_stack: dict[str, list[float]]) -> pd.DataFrame:
    """Three repetitions of two requests per stack; each repetition at the mean given."""
    frames = []
    for stack, means in means_by_stack.items():
        times = [m + d for m in means for d in (-0.0001, 0.0001)]
        frame = pd.DataFrame({"time_s": times, "repetition": [1, 1, 2, 2, 3, 3]})
        frames.append(frame.assign(mode="constant", stack=stack, request="GET", ok=True))
    return annotate(summarise(pd.concat(frames)), [])


def test_a_spread_too_large_for_the_ranking_is_warned_about():
    steady = summary_of({"a": [0.010] * 3, "b": [0.020] * 3, "c": [0.030] * 3})
    assert guard.spread(steady) == []
    noisy = summary_of(
        {"a": [0.008, 0.010, 0.013], "b": [0.009, 0.011, 0.014], "c": [0.010, 0.012, 0.015]}
    )
    lines = guard.spread(noisy)
    assert any(line.startswith("Unstable") and "constant/a/GET" in line for line in lines)
    assert any("2 of 2 neighbouring rows have overlapping" in line for line in lines)


def test_report_warns_about_busy_hosts_one_repetition_and_the_calibrations_concurrency(tmp_path):
    root = write_run(tmp_path / "r", rows=40, stacks=("flask-gunicorn", "fastapi-uvicorn"))
    meta_path = root / "constant" / "fastapi-uvicorn" / "GET.meta.json"
    meta = json.loads(meta_path.read_text())
    meta["host_noise"] = {"busy": True, "reasons": ["another process used 80% of a CPU"]}
    meta_path.write_text(json.dumps(meta))
    report = build_report(root, root / "report")
    tables = (root / "report" / "tables.md").read_text()
    assert "constant/fastapi-uvicorn/GET was measured while the hosts were busy" in tables
    assert "another process used 80% of a CPU" in tables
    assert "single repetition: run-to-run noise was not measured" in tables
    assert "ranking is provisional" in tables
    # bench_client calibrated the concurrent mode one request at a time; the run used 16.
    assert "§ (1 vs 16)" in tables and "calibrated at another concurrency" in tables
    busy = report.summary.set_index(["mode", "stack", "request"])["host_busy"]
    assert busy[("constant", "fastapi-uvicorn", "GET")].startswith("rep 1: another process")


def test_left_out_csvs_are_named_in_the_report(run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["measurements"][0]["status"] = "interrupted"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    lines = guard.left_out(load_run(run_dir))
    assert lines == [
        f"Left out of the statistics: {manifest['measurements'][0]['csv']}: manifest status "
        "'interrupted'. Keep it with --include-suspect."
    ]
    kept = guard.left_out(load_run(run_dir, include_suspect=True))
    assert kept[0].startswith("Kept by --include-suspect although manifest status 'interrupted'")
