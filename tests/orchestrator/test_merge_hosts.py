"""Merging the files of a cell measured by several client hosts, and the report's table."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analysis.load import load_run
from analysis.tables import client_hosts_table
from bench_client.results_format import CSV_HEADER, META_SCHEMA, Measurement, write_atomic
from bench_client.settings import SettingError, resolve
from orchestrator.benchmark import check_hosts
from orchestrator.merge_hosts import HostFiles, merge

AGREED = 1_800_000_000.0
CELL = Measurement("concurrent", "flask-gunicorn", "GET")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def _host(run_dir: Path, name: str, offset: float, late: float, rows: list[tuple]) -> HostFiles:
    """A host's files as bench_client writes them, its times on its own (offset) clock."""
    share = CELL.on_host(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(rows)
    write_atomic(run_dir / share.csv, buffer.getvalue())
    times = [float(r[1]) for r in rows if r[1]]
    started = AGREED + late + offset
    meta = {
        "schema": META_SCHEMA,
        "config": {
            "mode": CELL.mode,
            "request": {"name": "GET", "method": "GET"},
            "concurrency": 2,
            "iterations": len(rows),
        },
        "started": _iso(started),
        "finished": _iso(started + 1.0),
        "duration_s": 1.0,
        "requests": len(rows),
        "successes": len(times),
        "failures": len(rows) - len(times),
        "mean_s": sum(times) / len(times),
        "throughput_rps": len(times) / 1.0,
        "client_limits": {
            "client_bottleneck": name == "b",
            "reasons": ["cpu"] if name == "b" else [],
        },
        "host_noise": {"busy": False, "reasons": []},
        "interrupted": False,
    }
    write_atomic(run_dir / share.meta, json.dumps(meta))
    return HostFiles(name, share, offset, 0.002)


def test_merged_counts_are_the_hosts_sums_on_the_control_clock(tmp_path):
    a = _host(tmp_path, "a", offset=1.0, late=0.010, rows=[
        (1, "0.010000000", 200, "", "0.000000", "0"), (2, "0.020000000", 200, "", "0.500000", "1"),
    ])  # fmt: skip
    b = _host(tmp_path, "b", offset=-0.5, late=0.030, rows=[
        (1, "0.015000000", 200, "", "0.000000", "p1w0"), (2, "", "", "timeout", "0.200000", "p1w1"),
        (3, "0.012000000", 200, "", "0.400000", "p1w0"),
    ])  # fmt: skip
    merge(tmp_path, CELL, [a, b], AGREED)
    with (tmp_path / CELL.csv).open(newline="") as handle:
        merged = list(csv.DictReader(handle))
    # Each host's Start is shifted by when it began after the agreed start (offsets taken out).
    assert [(r["Iteration"], r["Worker"], r["Start (s)"]) for r in merged] == [
        ("1", "a/0", "0.010000"),
        ("2", "b/p1w0", "0.030000"),
        ("3", "b/p1w1", "0.230000"),
        ("4", "b/p1w0", "0.430000"),
        ("5", "a/1", "0.510000"),
    ]
    meta = json.loads((tmp_path / CELL.meta).read_text())
    assert (meta["requests"], meta["successes"], meta["failures"]) == (5, 4, 1)
    assert meta["errors"] == {"timeout": 1}
    assert meta["start_skew_s"] == pytest.approx(0.020)
    assert meta["client_limits"] == {"client_bottleneck": True, "reasons": ["b: cpu"]}
    hosts = {h["host"]: h for h in meta["hosts"]}
    assert hosts["a"]["start_after_agreed_s"] == pytest.approx(0.010)
    assert hosts["b"]["clock_offset_s"] == -0.5
    # Common window: 0.030 .. 1.010 after the agreed start; all 4 successes end inside it
    # except a's first (ends at 0.020).
    window = meta["common_window"]
    assert window["duration_s"] == pytest.approx(0.98)
    assert window["successes"] == 3

    run = load_run(tmp_path)
    assert [m.csv.name for m in run.measurements] == ["GET.csv"], "host files are not cells"
    table = client_hosts_table(run.measurements)
    assert [row[1] for row in table.rows] == ["a", "b", "all 2 hosts"]
    assert table.rows[-1][2] == "5" and table.rows[-1][6] == "skew 20.00"


def test_the_sweep_on_several_clients_is_refused_before_anything_runs():
    with pytest.raises(SettingError) as refused:
        check_hosts(resolve({"modes": "constant,sweep"}), 2)
    assert "runs on one client host" in str(refused.value)
    assert "inventory lists 2 client hosts" in str(refused.value)
    assert "LAB_CLIENTS=1" in str(refused.value)
    check_hosts(resolve({"modes": "sweep"}), 1)
