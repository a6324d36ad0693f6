"""analysis/resources.py against samples with a known truth: counters that grow at set rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.load import load_run
from analysis.resources import SATURATED, cell_resources, resource_summary, window_figures
from bench_client.results_format import Measurement, write_atomic
from httplab.cli import main
from orchestrator.manifest import Manifest
from orchestrator.resource_sampler import COLUMNS
from tests.analysis.samples import RSS_BASE, RSS_PEAK, START, SYSTEM, USER, iso, samples_document
from tests.analysis.synthetic import write_run


def test_a_window_between_samples_is_interpolated() -> None:
    started, finished = START + 1.05, START + 6.05  # 5 s, neither end on a sample
    found = window_figures(samples_document(busy=0.5), started, finished)
    assert found["cpu_user_s"] == pytest.approx(USER * 5)
    assert found["cpu_system_s"] == pytest.approx(SYSTEM * 5)
    assert found["server_busy"] == pytest.approx(0.5)
    assert found["peak_rss_mib"] == RSS_PEAK / 1024**2
    assert found["ctx_switches"] == pytest.approx(110 * 5)
    # The peak lies outside a window that ends before it.
    early = window_figures(samples_document(busy=0.5), START + 1.0, START + 3.0)
    assert early["peak_rss_mib"] == RSS_BASE / 1024**2


def test_a_window_the_samples_do_not_cover_is_refused() -> None:
    with pytest.raises(ValueError, match="do not cover the measured window"):
        window_figures(samples_document(busy=0.5), START - 1.0, START + 2.0)


def test_a_stack_restarted_in_the_window_is_refused() -> None:
    """systemd gives a restarted unit a new cgroup: its CPU counters start again from 0."""
    document = samples_document(busy=0.5)
    user = list(COLUMNS).index("cpu_user_s")
    for row in document["samples"][30:]:  # type: ignore[index]
        row[user] -= USER * 3.0
    with pytest.raises(ValueError, match="restarted"):
        window_figures(document, START + 1.0, START + 5.0)
    assert window_figures(document, START + 3.5, START + 5.0)["cpu_user_s"] == pytest.approx(
        USER * 1.5
    )


def add_samples(root: Path, busy_of: dict[str, float]) -> None:
    """Give every cell a window in its meta file and, for the stacks in ``busy_of``, samples."""
    manifest = Manifest.load(root)
    for entry in list(manifest.data["measurements"]):
        meta_path = root / entry["meta"]
        meta = json.loads(meta_path.read_text())
        requests = meta["successes"] + meta["failures"]
        meta |= {"started": iso(START + 1), "finished": iso(START + 5)}
        meta |= {"requests": requests, "duration_s": 4.0}
        sha256_meta = write_atomic(meta_path, json.dumps(meta))
        cell = Measurement(entry["mode"], entry["stack"], entry["request"], entry["repetition"])
        sha256_samples, problem = None, "server samples missing: the sampler failed: test"
        if cell.stack in busy_of:
            text = json.dumps(samples_document(busy=busy_of[cell.stack]))
            sha256_samples, problem = write_atomic(root / cell.samples, text), ""
        manifest.record(
            cell, status=entry["status"], sha256_csv=entry["sha256"], sha256_meta=sha256_meta,
            sha256_samples=sha256_samples, samples_problem=problem,
        )  # fmt: skip


@pytest.fixture
def sampled_run(tmp_path: Path) -> Path:
    root = write_run(
        tmp_path / "run-s", rows=80, stacks=("flask-gunicorn", "fastapi-uvicorn", "flask-dev")
    )
    add_samples(root, {"flask-gunicorn": 0.97, "fastapi-uvicorn": 0.40})
    return root


def test_cells_get_cpu_per_1k_requests_from_their_samples(sampled_run: Path) -> None:
    cells, problems = cell_resources(load_run(sampled_run))
    assert len(cells) == 2 * 2 * 2  # two stacks with samples × two modes × two methods
    assert set(cells["stack"]) == {"flask-gunicorn", "fastapi-uvicorn"}
    cpu = (USER + SYSTEM) * 4.0
    assert cells["cpu_per_1k_s"].to_numpy() == pytest.approx(cpu / 80 * 1000)
    assert cells["throughput_rps"].to_numpy() == pytest.approx(80 / 4.0)
    assert cells["stack_cpu_cores"].to_numpy() == pytest.approx(USER + SYSTEM)
    others = cells.groupby("stack")["others_busy"].mean()
    assert others.to_dict() == pytest.approx(
        {"flask-gunicorn": 0.97 - (USER + SYSTEM), "fastapi-uvicorn": 0.40 - (USER + SYSTEM)}
    )
    saturated = cells.groupby("stack")["saturated"].agg(set).to_dict()
    assert saturated == {"flask-gunicorn": {SATURATED <= 0.97}, "fastapi-uvicorn": {False}}
    assert len(problems) == 4  # flask-dev's cells, each with the manifest's cause
    assert all("server samples missing: the sampler failed: test" in p.message for p in problems)
    summary = resource_summary(cells)
    assert len(summary) == 8 and set(summary["repetitions"]) == {1}


def test_a_samples_file_changed_after_collection_is_not_used(sampled_run: Path) -> None:
    changed = sampled_run / "constant" / "flask-gunicorn" / "GET.server.json"
    changed.write_text(changed.read_text().replace('"interval_s": 0.1', '"interval_s": 0.2'))
    cells, problems = cell_resources(load_run(sampled_run))
    assert len(cells) == 7
    assert any("sha256 differs from manifest.json" in p.message for p in problems)


def test_the_report_shows_resource_use_and_saturation(sampled_run: Path) -> None:
    assert main(["report", str(sampled_run)]) == 0
    report = sampled_run / "report"
    tables = (report / "tables.md").read_text()
    assert "### Server resource use per stack" in tables
    assert "saturated (at least 90% busy) in 4 of 8 rows" in tables
    assert "4 cell(s) have no server resource figures" in tables
    assert "In 4 of the saturated rows other processes took more than 10%" in tables
    assert (report / "resources.png").stat().st_size > 10_000
    assert "Server resource use" in (report / "index.html").read_text()
    assert len((report / "resources.csv").read_text().splitlines()) == 1 + 8
