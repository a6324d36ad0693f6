"""The report's warnings: pinning, frequency governor, tied ranks, unstable repetitions, one
repetition, busy hosts, the calibration's concurrency, suspect CSVs; all in one place."""

import json

import pandas as pd

from analysis import guard
from analysis.load import load_run
from analysis.ranking import ranked_summary
from analysis.report import build_report
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
    return ranked_summary(pd.concat(frames), [])[0]


def test_repetitions_that_disagree_and_a_ranking_mostly_tied_are_warned_about():
    steady = summary_of({"a": [0.010] * 3, "b": [0.020] * 3, "c": [0.030] * 3})
    assert guard.tied(steady) == []
    assert all(guard.unstable(row) == [] for _, row in steady.iterrows())
    noisy = summary_of(
        {"a": [0.008, 0.012, 0.010], "b": [0.009, 0.011, 0.014], "c": [0.011, 0.010, 0.015]}
    )
    (line,) = guard.tied(noisy)
    assert (
        line.startswith("constant GET: the spread is too large") and "2 of 2 neighbouring" in line
    )
    (note,) = guard.unstable(noisy.set_index("stack").loc["a"])
    assert note.badge == "unstable" and note.text.startswith("unstable: the means of its rep")


def test_busy_hosts_one_repetition_and_the_calibrations_concurrency_are_all_in_the_report(
    tmp_path,
):
    root = write_run(tmp_path / "r", rows=40, stacks=("flask-gunicorn", "fastapi-uvicorn"))
    meta_path = root / "constant" / "fastapi-uvicorn" / "GET.meta.json"
    meta = json.loads(meta_path.read_text())
    meta["host_noise"] = {
        "busy": True,
        "reasons": ["server: other processes used 80% of a core"],
        "server": {"others_cpu_cores": 0.8, "steal_percent": 3.5},
    }
    meta_path.write_text(json.dumps(meta))
    report = build_report(root, root / "report")
    tables = (root / "report" / "tables.md").read_text()
    # One line under the verdict, the details in one section, a badge on the row.
    assert (
        "1 of 8 measurements ran while the hosts were busy: hypervisor steal up to 4%, other "
        "processes up to 80% of a core" in tables
    )
    assert (
        tables.index("## Verdict")
        < tables.index("1 of 8 measurements")
        < tables.index("## Noise and limits")
    )
    assert (
        "| constant/fastapi-uvicorn/GET | busy 1/1 | measured while the hosts were busy" in tables
    )
    assert "server: other processes used 80% of a core" in tables
    assert r"fastapi-uvicorn - GET \[busy 1/1\]" in tables
    assert "single repetition: run-to-run noise was not measured" in tables
    assert "ranking is provisional" in tables
    # bench_client calibrated the concurrent mode one request at a time; the run used 16.
    assert "§ (1 vs 16)" in tables and "calibrated at another concurrency" in tables
    busy = report.summary.set_index(["mode", "stack", "request"])["host_busy"]
    assert busy[("constant", "fastapi-uvicorn", "GET")].startswith("rep 1: server: other")
    html = (root / "report" / "index.html").read_text()
    assert "<span class='badge'>busy 1/1</span>" in html
    assert html.index("Verdict") < html.index("class='noise'") < html.index('id="noise"')


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
