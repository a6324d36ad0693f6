"""benchmarks/io_bound.py: each stack at 64 connections on /io?ms=10 against the bound its
concurrency model sets (docs/method.md, "The I/O bound")."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from bench_client.results_format import write_atomic
from orchestrator.manifest import Manifest
from tests.analysis.synthetic import write_run

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import io_bound  # noqa: E402


def test_only_a_sync_worker_is_synchronous_single_threaded() -> None:
    kinds = yaml.safe_load((ROOT / "roles/httplab/vars/main.yml").read_text())
    synchronous = {
        name
        for name, kind in kinds["httplab_stack_servers"].items()
        if io_bound.synchronous(str(kind["threads"]))
    }
    assert synchronous == {"gunicorn"}


@pytest.mark.parametrize(
    ("threads", "workers", "rps", "passed", "why"),
    [
        ("one request at a time (sync worker)", 2, 195.0, True, "within 10%"),
        ("one request at a time (sync worker)", 2, 200.0, True, "within 10%"),
        ("one request at a time (sync worker)", 2, 179.0, False, "more than 10% below"),
        ("one request at a time (sync worker)", 2, 230.0, False, "cannot be single-threaded"),
        ("one event loop (uvloop)", 2, 401.0, True, "above 2 × W × 100"),
        ("one event loop (uvloop)", 2, 399.0, False, "not above"),
        ("a thread per connection", 1, 900.0, True, "above"),
        ("up to 1000 greenlets (--worker-connections)", 2, None, False, "not measured"),
    ],
)
def test_the_bound_and_the_verdict(threads, workers, rps, passed, why) -> None:
    judged = io_bound.judge("s", workers, threads, rps)
    assert judged.passed is passed and why in judged.why
    assert judged.bound == workers * 100 * (1 if judged.synchronous else 2)


@pytest.mark.parametrize(
    ("rps", "passed", "why"),
    [
        # W = 1 and 1.33 ms of CPU per request: at most 1 / 11.33 ms = 88.3 requests/s.
        (86.0, True, "97% of W / (10 ms + 1.33 ms)"),
        (78.0, False, "more than 10% below its most"),
        (100.5, False, "cannot be single-threaded"),
    ],
)
def test_a_sync_worker_is_held_to_its_cpu_per_request_too(rps, passed, why) -> None:
    judged = io_bound.judge("s", 1, "one request at a time (sync worker)", rps, cpu_s=0.00133)
    assert judged.passed is passed and why in judged.why
    assert judged.bound == 100 and judged.expected == pytest.approx(1 / 0.01133)


def test_a_run_is_judged_from_its_manifest_and_meta_files(tmp_path) -> None:
    stacks = ("flask-gunicorn", "fastapi-uvicorn", "flask-dev")
    root = write_run(tmp_path / "run-io", rows=30, stacks=stacks, modes=("concurrent",),
                     requests=("io",))  # fmt: skip
    manifest = Manifest.load(root)
    threads = {"flask-gunicorn": "one request at a time (sync worker)",
               "fastapi-uvicorn": "one event loop per worker (uvloop)",
               "flask-dev": "a thread per connection"}  # fmt: skip
    rps = {"flask-gunicorn": 196.0, "fastapi-uvicorn": 1500.0, "flask-dev": 150.0}
    for record in manifest.data["stacks"]:
        record["threads"] = threads[record["name"]]
        record["workers"] = 1 if record["name"] == "flask-dev" else 2
    for entry in manifest.data["measurements"]:
        meta_path = root / entry["meta"]
        meta = json.loads(meta_path.read_text()) | {"throughput_rps": rps[entry["stack"]]}
        write_atomic(meta_path, json.dumps(meta))
    manifest.save()
    judged = {j.stack: j for j in io_bound.judge_run(root)}
    assert judged["flask-gunicorn"].passed and judged["fastapi-uvicorn"].passed
    assert not judged["flask-dev"].passed  # 150 is not above 2 × 1 × 100
    printed = io_bound.table(list(judged.values()))
    assert "2 of 3 stacks within the I/O bound" in printed
    assert io_bound.main(["--run-dir", str(root)]) == 1
