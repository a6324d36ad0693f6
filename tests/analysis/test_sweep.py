"""The sweep in the report: steps written by bench_client's own code, read back, curves, knees."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import sweep as report_sweep
from analysis.problems import Problem
from analysis.report import build_report
from bench_client import config, meta, output, sweep
from bench_client.documents import StopReason
from bench_client.request import BUILTIN
from bench_client.results_format import SWEEP_MODE, Measurement, sha256_bytes, write_atomic
from bench_client.timing import Sample
from orchestrator.manifest import Manifest
from orchestrator.server_sampler import MARGIN_S, ServerSampler
from tests.analysis.samples import START, SYSTEM, USER, iso, samples_document
from tests.analysis.synthetic import write_run

RULE = config.Sweep(50.0, 2.0, 5, 1.0, 5.0, 0.1, 0.01)


def write_steps(
    root: Path, stack: str, request: str, curve: list[tuple[float, float, bool]]
) -> None:
    """One sweep as bench_client leaves it: per step (latency s, achieved share of the rate
    offered, client-limited), a CSV and meta file (output.write_results, meta.build), then the
    stop rule's verdict (sweep.judge via sweep.mark_step) exactly as the client adds it."""
    steps: list[sweep.Step] = []
    for number, (latency, share, limited) in enumerate(curve, start=1):
        rate = RULE.rate(number)
        count = RULE.iterations(number)
        samples = [
            Sample(i, 0, i / rate, i / rate + latency * (1 + i % 3), latency * (1 + i % 3), 200, "")
            for i in range(1, count + 1)
        ]
        settings = config.build(
            base_url="http://10.0.0.5:5001", request=BUILTIN[request], mode="rate",
            iterations=count, timeout=5, rate=rate, warmup=0, out="x.csv", quiet=True,
            calibration="off", processes=1,
        )  # fmt: skip
        reasons = ["client process used 97% of a core"] if limited else []
        document = meta.build(
            settings, samples, started=0.0, finished=count / (rate * share), interrupted=False,
            client={}, versions={}, overhead=None, host_noise={},
            limits={"client_bottleneck": limited, "reasons": reasons},
        )  # fmt: skip
        path = root / Measurement(SWEEP_MODE, stack, request, step=number).csv
        output.write_results(path, samples, 0.0, document)
        steps.append(sweep.Step.read(number, rate, path))
        verdict, why = sweep.judge(RULE, steps[0], steps[-1])
        last = verdict != StopReason.WITHIN or number == len(curve)
        stop = (
            (verdict if verdict != StopReason.WITHIN else StopReason.LADDER_END, why)
            if last
            else None
        )
        sweep.mark_step(RULE, steps[-1], steps[0], path, stop)
        if verdict != StopReason.WITHIN:
            return


@pytest.fixture
def swept(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    # Bends at step 3: p99 ten times step 1's.
    bends = [(0.001, 1.0, False), (0.0012, 1.0, False), (0.010, 1.0, False), (0.02, 1.0, False)]
    write_steps(root, "flask-gunicorn", "GET", bends)
    # The client gives out at step 2: the server sustained at least step 1.
    write_steps(root, "fastapi-uvicorn", "GET", [(0.001, 1.0, False), (0.001, 1.0, True)])
    # Falls 30% short of the rate at step 4.
    short = [(0.001, 1.0, False), (0.001, 1.0, False), (0.001, 0.98, False), (0.002, 0.7, False)]
    write_steps(root, "fastapi-uvicorn", "POST", short)
    return root


def test_every_step_is_read_with_its_verdict(swept: Path) -> None:
    problems: list[Problem] = []
    steps = report_sweep.load_steps(swept, problems)
    assert problems == []
    counts = steps.groupby(["stack", "request"])["step"].agg(list).to_dict()
    assert counts == {
        ("fastapi-uvicorn", "GET"): [1, 2],
        ("fastapi-uvicorn", "POST"): [1, 2, 3, 4],
        ("flask-gunicorn", "GET"): [1, 2, 3],
    }
    assert steps["offered_rps"].tolist()[:2] == [50.0, 100.0]
    assert steps.loc[steps["client_limited"], "stack"].tolist() == ["fastapi-uvicorn"]


def test_the_sustained_rate_is_the_last_step_within_the_rule(swept: Path) -> None:
    knees = report_sweep.sustained(report_sweep.load_steps(swept, [])).set_index(
        ["stack", "request"]
    )
    assert knees.loc[("flask-gunicorn", "GET"), "sustained_step"] == 2
    assert knees.loc[("flask-gunicorn", "GET"), "stopped"] == StopReason.LATENCY
    assert knees.loc[("fastapi-uvicorn", "GET"), "sustained_step"] == 1
    assert knees.loc[("fastapi-uvicorn", "GET"), "stopped"] == StopReason.CLIENT_LIMITED
    assert knees.loc[("fastapi-uvicorn", "POST"), "sustained_step"] == 3
    assert knees.loc[("fastapi-uvicorn", "POST"), "stopped"] == StopReason.SHORTFALL
    # The throughput there is the meta file's: responses per second of the step's window.
    assert knees.loc[("fastapi-uvicorn", "POST"), "sustained_rps"] == pytest.approx(200 * 0.98)


def test_the_table_marks_a_client_limited_stop_as_a_lower_bound(swept: Path) -> None:
    table = report_sweep.sweep_table(report_sweep.load_steps(swept, []))
    rows = {row[0]: row for row in table.rows}
    assert rows["fastapi-uvicorn - GET"][1] == "50†"
    assert rows["flask-gunicorn - GET"][1] == "100"
    assert rows["flask-gunicorn - GET"][6].startswith("latency: p99")


def test_a_sweep_alone_makes_a_report_with_its_curves(swept: Path, tmp_path: Path) -> None:
    report = build_report(swept, tmp_path / "report")
    page = (tmp_path / "report/index.html").read_text()
    assert "Latency–throughput sweep" in page
    assert (tmp_path / "report" / report_sweep.FIGURE_NAME).read_bytes().startswith(b"\x89PNG")
    written = pd.read_csv(tmp_path / "report" / report_sweep.STEPS_CSV)
    assert len(written) == len(report.sweep_steps) == 9
    assert "| fastapi-uvicorn - GET | 50† |" in (tmp_path / "report/tables.md").read_text()


def test_a_sweep_beside_the_other_modes_keeps_their_report(tmp_path: Path) -> None:
    root = write_run(tmp_path / "run", stacks=("flask-gunicorn",), modes=("constant",), rows=50)
    write_steps(root, "flask-gunicorn", "GET", [(0.001, 1.0, False), (0.01, 1.0, False)])
    report = build_report(root, tmp_path / "report")
    assert set(report.summary["mode"]) == {"constant"}  # the steps are not a mode's cells
    names = [f.name for f in report.figures]
    assert "means_constant.png" in names and report_sweep.FIGURE_NAME in names
    assert not any("step" in p.message for p in report.problems)


def test_a_step_without_its_sweep_block_is_named_and_skipped(swept: Path) -> None:
    extra = swept / Measurement(SWEEP_MODE, "flask-dev", "GET").csv
    extra.parent.mkdir(parents=True)
    extra.write_text("Iteration,Execution Time (seconds)\n1,0.001\n")
    problems: list[Problem] = []
    steps = report_sweep.load_steps(swept, problems)
    assert "flask-dev" not in set(steps["stack"])
    assert [p.file for p in problems] == [extra]


def test_each_step_keeps_its_window_of_the_sweeps_samples_and_shows_its_cpu(
    tmp_path: Path,
) -> None:
    """One sampler runs through the whole sweep; each step's file is its own window's share
    (orchestrator.server_sampler.covering), and the report reads CPU and RSS per step."""
    root = tmp_path / "run"
    write_steps(root, "flask-gunicorn", "GET", [(0.001, 1.0, False)] * 3)
    # The steps lie more than MARGIN_S inside the samples, as inside a group's sampler.
    lead = MARGIN_S + 1
    text = json.dumps(samples_document(busy=0.5, seconds=8 + 2 * lead), separators=(",", ":"))
    text += "\n"
    sampler = ServerSampler(None, "unused")  # type: ignore[arg-type]  # its answer, as stop() reads it
    sampler.files = {"unit": {"text": text, "sha256": sha256_bytes(text.encode())}}
    manifest = Manifest.create(root, run_id="run", seed=1, git="x", settings={},
                               sources={}, requests={}, lab={})  # fmt: skip
    for number in (1, 2):  # step 3 was recorded without samples
        cell = Measurement(SWEEP_MODE, "flask-gunicorn", "GET", step=number)
        started, finished = START + lead + 2.5 * number - 1.05, START + lead + 2.5 * number + 0.45
        document = json.loads((root / cell.meta).read_text())
        document |= {"started": iso(started), "finished": iso(finished), "duration_s": 1.5}
        write_atomic(root / cell.meta, json.dumps(document))
        sha256, problem = sampler.save("unit", root / cell.samples, (started, finished))
        assert problem == "" and sha256 is not None
        times = [row[0] for row in json.loads((root / cell.samples).read_text())["samples"]]
        # The samples within MARGIN_S of the window and one more on each side: no more.
        early, late = started - MARGIN_S, finished + MARGIN_S
        assert times[0] <= early < times[1] and times[-2] < late <= times[-1]
        manifest.record(cell, status="complete", sha256_samples=sha256)
    without: list[Problem] = []
    steps = report_sweep.load_steps(root, [], manifest.data, without)
    measured = steps.dropna(subset=["cpu_per_1k_s"])
    assert measured["step"].tolist() == [1, 2]
    assert measured["stack_cpu_cores"].tolist() == pytest.approx([USER + SYSTEM] * 2)
    assert measured["server_busy"].tolist() == pytest.approx([0.5, 0.5])
    expected = [(USER + SYSTEM) * 1.5 / n * 1000 for n in measured["requests"]]
    assert measured["cpu_per_1k_s"].tolist() == pytest.approx(expected)
    assert [p.message for p in without] == ["no resource figures: no manifest entry"]
    table = report_sweep.step_resources_table(steps)
    assert table is not None and [row[1] for row in table.rows] == ["1", "2"]
