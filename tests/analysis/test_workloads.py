"""The report's workloads: a workload × stack table per mode with the verdict's centre and the
failure rate, a figure per workload, the workloads a stack was not measured on with the check
it failed, and the database the run used; a GET/POST run has none of it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import build_report
from analysis.workloads import (
    database_table,
    not_measured_table,
    workload_of,
    workload_table,
)
from bench_client.documents import Status
from bench_client.results_format import Measurement
from orchestrator.manifest import Manifest
from tests.analysis.synthetic import write_run

STACKS = ("flask-gunicorn", "django-gunicorn", "fastapi-uvicorn")
FACTS = {
    "engine": "PostgreSQL", "version": "15.18", "cluster": "15/main", "on_server": True,
    "unit": "postgresql@15-main.service", "port": 5432,
    "settings": {"max_connections": "300", "synchronous_commit": "off"},
}  # fmt: skip


@pytest.fixture(scope="module")
def workload_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three stacks measured on json, db (its base, and db-c64) and io in two modes; django
    failed the fortunes verification; the database's facts and World's reseeds recorded."""
    root = write_run(
        tmp_path_factory.mktemp("workloads") / "run-w",
        rows=60, repetitions=2, stacks=STACKS, requests=("json", "db", "db-c64", "io"),
        failure_rate={"fastapi-uvicorn": 0.1}, levels=(64,),
    )  # fmt: skip
    manifest = Manifest.load(root)
    for mode, request in (("constant", "fortunes"), ("concurrent", "fortunes-c64")):
        for repetition in (1, 2):
            manifest.record(
                Measurement(mode, "django-gunicorn", request, repetition),
                status=Status.NOT_MEASURED,
                message="failed verification of fortunes: GET /fortunes -> sorted by message: "
                "not sorted",
            )
    manifest.data["verification"] = {
        "django-gunicorn": {
            "fortunes": {"test_type": "fortunes", "ok": False,
                         "failed": "GET /fortunes -> sorted by message", "detail": "not sorted"},
            "json": {"test_type": "json", "ok": True, "failed": None, "detail": ""},
        }
    }  # fmt: skip
    manifest.data["hosts"]["server"]["database"] = FACTS
    manifest.data["database"] = {"reseeds": [
        {"repetition": 1, "action": "reseeded", "ok": True, "world_rows": 10000,
         "world_sum": 50012345},
        {"repetition": 2, "action": "reseeded", "ok": False, "problem": "exit 2: psql: error"},
    ]}  # fmt: skip
    manifest.save()
    return root


@pytest.fixture(scope="module")
def report(workload_run: Path, tmp_path_factory: pytest.TempPathFactory):
    return build_report(workload_run, tmp_path_factory.mktemp("out"))


def test_a_request_names_its_workload() -> None:
    assert [workload_of(n) for n in ("db-c64", "db", "json", "GET", "mine-c64", "io")] == [
        "db", "db", "json", None, None, "io"
    ]  # fmt: skip


def test_each_mode_has_a_workload_by_stack_table_with_centre_and_failure_rate(report) -> None:
    summary = report.summary
    table = workload_table(summary, "concurrent", pd.DataFrame(
        columns=["mode", "stack", "request", "repetition", "message"]), set())  # fmt: skip
    assert table is not None
    assert table.headers == ["Stack", "json", "db-c64", "io"]  # db alone: constant mode only
    assert [row[0] for row in table.rows] == ["flask-gunicorn", "django-gunicorn",
                                              "fastapi-uvicorn"]  # fmt: skip
    row = summary.loc[
        (summary["mode"] == "concurrent") & (summary["stack"] == "fastapi-uvicorn")
        & (summary["request"] == "db-c64")
    ].iloc[0]  # fmt: skip
    cell = table.rows[2][2]
    assert cell == f"{row['rank_mean_s'] * 1000:.2f} ({row['failure_rate']:.1%})"
    assert row["failure_rate"] > 0


def test_the_report_has_the_workloads_section(report) -> None:
    markdown = (report.out / "tables.md").read_text()
    assert "## Workloads" in markdown
    assert "### Workloads — constant mode" in markdown
    assert "### Workloads — concurrent mode" in markdown
    assert "| django-gunicorn | " in markdown and "not measured" in markdown
    page = (report.out / "index.html").read_text()
    assert '">Workloads</h2>' in page and "alt='Workload db: /db'" in page


def test_a_figure_per_workload(report) -> None:
    names = {f.name for f in report.figures}
    assert {"workload_json.png", "workload_db.png", "workload_io.png"} <= names
    assert "workload_fortunes.png" not in names  # measured on no stack
    assert (report.out / "workload_db.png").read_bytes()[:4] == b"\x89PNG"


def test_the_workloads_not_measured_are_listed_with_the_failed_check(workload_run) -> None:
    manifest = json.loads((workload_run / "manifest.json").read_text())
    table = not_measured_table(manifest)
    assert table is not None
    assert table.rows == [[
        "django-gunicorn", "fortunes", "GET /fortunes -> sorted by message", "not sorted", "4"
    ]]  # fmt: skip


def test_not_measured_cells_are_no_missing_data(report) -> None:
    assert not [p for p in report.problems if "fortunes" in p.message]
    assert not [p for p in report.problems if "missing stack data" in p.message]


def test_the_database_is_described(workload_run) -> None:
    manifest = json.loads((workload_run / "manifest.json").read_text())
    table = database_table(manifest)
    assert table is not None
    shown = dict(map(tuple, table.rows))
    assert shown["version"] == "15.18" and shown["setting synchronous_commit"] == "off"
    assert shown["World, repetition 1"] == "reseeded: 10,000 rows, sum 50,012,345"
    assert shown["World, repetition 2"].startswith("reseeded: failed: exit 2")


def test_a_get_post_run_has_no_workloads_section(reported) -> None:
    root, status = reported
    assert status == 0
    markdown = (root / "report" / "tables.md").read_text()
    assert "## Workloads" not in markdown
    assert not list((root / "report").glob("workload_*.png"))


def _scaled(document: dict, factor: float) -> dict:
    """The same samples with the CPU counters ``factor`` times faster."""
    columns = document["columns"]
    user, system = columns.index("cpu_user_s"), columns.index("cpu_system_s")
    rows = [list(row) for row in document["samples"]]
    for row in rows:
        row[user] *= factor
        row[system] *= factor
    return {**document, "samples": rows}


def test_a_saturated_cell_whose_database_took_more_cpu_is_database_bound(tmp_path) -> None:
    """PostgreSQL's samples beside the stack's: its CPU is the cell's own (not others'), and
    where the server was saturated and the database used more than the stack, the cell is
    labelled database-bound."""
    from analysis.load import load_run
    from analysis.resources import cell_resources, resource_summary, saturation_sentence
    from bench_client.results_format import write_atomic
    from tests.analysis.samples import SYSTEM, USER, samples_document
    from tests.analysis.test_resources import add_samples

    root = write_run(tmp_path / "run-db", rows=40, stacks=("flask-gunicorn", "fastapi-uvicorn"),
                     modes=("concurrent",), requests=("db-c64",), levels=(64,))  # fmt: skip
    add_samples(root, {"flask-gunicorn": 0.97, "fastapi-uvicorn": 0.97})
    manifest = Manifest.load(root)
    for entry in list(manifest.data["measurements"]):
        cell = Measurement(entry["mode"], entry["stack"], entry["request"], entry["repetition"])
        factor = 3.0 if cell.stack == "flask-gunicorn" else 0.5
        text = json.dumps(_scaled(samples_document(busy=0.97), factor))
        manifest.record(
            cell, status=entry["status"], sha256_csv=entry["sha256"],
            sha256_meta=entry["sha256_meta"], sha256_samples=entry["sha256_samples"],
            sha256_database_samples=write_atomic(root / cell.database_samples, text),
        )  # fmt: skip
    cells, _ = cell_resources(load_run(root))
    by_stack = cells.set_index("stack")
    assert by_stack.loc["flask-gunicorn", "database_bound"]
    assert not by_stack.loc["fastapi-uvicorn", "database_bound"]
    assert by_stack.loc["flask-gunicorn", "database_cpu_cores"] == pytest.approx(
        3 * (USER + SYSTEM)
    )
    # The database's CPU is the cell's own: only what neither used counts as others'.
    assert by_stack.loc["flask-gunicorn", "others_busy"] == pytest.approx(
        max(0.0, 0.97 - 4 * (USER + SYSTEM))
    )
    sentence = saturation_sentence(resource_summary(cells))
    assert "Database-bound" in sentence and "concurrent/flask-gunicorn/db-c64" in sentence
