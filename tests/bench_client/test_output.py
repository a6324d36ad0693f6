"""The files: atomic writes, the CSV's format, everything the meta file promises."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from bench_client.output import csv_text, write_atomic
from bench_client.request import BUILTIN
from bench_client.results_format import META_SCHEMA
from bench_client.timing import Sample


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "GET.csv"
    target.write_text("old")
    digest = write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert digest == hashlib.sha256(b"new\n").hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["GET.csv"]


def test_a_failed_write_keeps_nothing_half_written(tmp_path):
    blocker = tmp_path / "GET.csv"
    blocker.mkdir()
    (blocker / "keep").write_text("x")  # a non-empty directory cannot be replaced
    with pytest.raises(OSError):
        write_atomic(blocker, "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GET.csv"]
    assert (blocker / "keep").read_text() == "x"


def test_csv_rows_failures_empty_never_zero():
    samples = [
        Sample(2, 1, 10.5, 10.6, None, 500, "HTTP 500"),
        Sample(1, 0, 10.0, 10.0025, 0.0025, 200, ""),
        Sample(3, 0, 11.0, 16.0, None, None, "timeout after 5 s"),
    ]
    assert csv_text(samples, origin=10.0).splitlines() == [
        "Iteration,Execution Time (seconds),Status,Error,Start (s),Worker",
        "1,0.002500000,200,,0.000000,0",
        "2,,500,HTTP 500,0.500000,1",
        "3,,,timeout after 5 s,1.000000,0",
    ]


def test_meta_file_contents(server, bench):
    result = bench(server, mode="keepalive", iterations=6, interval=0.01, warmup=2)
    meta = result.meta
    assert result.meta_path.name == "GET.meta.json"
    assert meta["schema"] == META_SCHEMA
    assert meta["config"] == {
        "base_url": server.url,
        "request": BUILTIN["GET"].as_json(),
        "mode": "keepalive",
        "iterations": 6,
        "interval": 0.01,
        "timeout": 5.0,
        "concurrency": 1,
        "rate": None,
        "warmup": 2,
        "out": str(result.out),
        "quiet": True,
        "calibration": "off",
        "url": f"{server.url}/get",
        "paired": None,
        "processes": 1,
        "start_at": None,
        "calibration_file": None,
        "sweep": None,
    }
    assert meta["design"] == "single"
    assert "kept-alive connection" in meta["mode_definition"]
    assert meta["engine"] == "raw socket, blocking"
    client = meta["client"]
    for key in ("name", "os", "cpu_model", "cpu_count", "ram_mb", "python", "sleep_granularity_s"):
        assert client[key], key
    assert meta["versions"]["requests"]
    assert meta["versions"]["psutil"]
    started = datetime.fromisoformat(meta["started"])
    finished = datetime.fromisoformat(meta["finished"])
    assert 0 < (finished - started).total_seconds() < 30
    assert (meta["requests"], meta["successes"], meta["failures"], meta["errors"]) == (6, 6, 0, {})
    assert 0.01 <= meta["achieved_interval_s"] < 0.01 + 0.25
    assert meta["interrupted"] is False
    assert meta["client_limits"]["client_bottleneck"] is False
    assert meta["csv"] == "GET.csv"
    assert meta["csv_sha256"] == hashlib.sha256(result.out.read_bytes()).hexdigest()


def test_the_meta_file_records_the_clients_text_encodings(server, bench):
    pages = bench(server, iterations=1).meta["client"]["code_pages"]
    assert pages["preferred_encoding"]  # and on Windows: ansi, oem, console_output
