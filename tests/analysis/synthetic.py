"""Write realistic synthetic results folders (manifest, CSVs, meta files) for tests and benchmarks.

Latencies are log-normal around a per-stack base, with a few slow spikes and a chosen share of
failures (empty time + Error, as bench_client writes them). Vectorised so a million rows is quick.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench_client.documents import Status
from bench_client.request import BUILTIN, leveled, measured_in
from bench_client.results_format import META_SCHEMA, sha256_file
from bench_client.settings import defaults
from orchestrator.host_facts import finalize
from orchestrator.manifest import Manifest
from orchestrator.plan import build_plan

STACKS = {  # base latency (s) in the constant mode; concurrent multiplies it
    "flask-dev": 0.0031,
    "flask-gunicorn": 0.0026,
    "flask-gunicorn-gevent": 0.0030,
    "django-gunicorn": 0.0027,
    "django-daphne": 0.0060,
    "fastapi-uvicorn": 0.0028,
}
MODE_FACTOR = {"constant": 1.0, "concurrent": 4.0, "keepalive": 0.6}
HEADER = ["Iteration", "Execution Time (seconds)", "Status", "Error", "Start (s)", "Worker"]


def host_facts(name: str, cpu: str) -> dict[str, object]:
    return {
        "name": name,
        "address": "10.0.0.1",
        "cpu_model": cpu,
        "cpu_count": 2,
        "ram_mb": 24000,
        "os": "Debian GNU/Linux 12 (bookworm)",
        "kernel": "6.1.0-27-amd64",
        "python": "3.11.2",
    }


def sample_times(rng: np.random.Generator, base: float, rows: int) -> np.ndarray:
    times = base * rng.lognormal(mean=0.0, sigma=0.15, size=rows)
    spikes = rng.random(rows) < 0.01
    times[spikes] *= rng.uniform(3, 8, size=int(spikes.sum()))
    return times


def httplab_frame(times: np.ndarray, failed: np.ndarray) -> pd.DataFrame:
    rows = len(times)
    return pd.DataFrame(
        {
            "Iteration": np.arange(1, rows + 1),
            "Execution Time (seconds)": np.where(failed, np.nan, times),
            "Status": np.where(failed, "", "200"),
            "Error": np.where(failed, "ConnectionResetError: reset by peer", ""),
            "Start (s)": np.cumsum(times + 0.005),
            "Worker": 0,
        }
    )


def write_run(
    root: Path,
    *,
    rows: int = 200,
    repetitions: int = 1,
    stacks: tuple[str, ...] = tuple(STACKS),
    modes: tuple[str, ...] = ("constant", "concurrent"),
    requests: tuple[str, ...] = ("GET", "POST"),
    failure_rate: dict[str, float] | None = None,
    speed: float = 1.0,
    seed: int = 1,
    cpu: str = "Intel(R) Xeon(R) CPU @ 2.20GHz",
    client_limited: set[tuple[str, str, str]] | None = None,
    manifest: bool = True,
    levels: tuple[int, ...] = (),
) -> Path:
    """A results folder as run_all.yml leaves it (``rows`` requests per repetition); returns
    ``root``. The manifest is made by the orchestrator's own code (plan, Manifest, finalize), so
    it has the keys where the orchestrator really writes them."""
    rng = np.random.default_rng(seed)
    known = {**BUILTIN, **leveled(levels)}  # the database workloads' levels: db-c64...
    failure_rate = failure_rate or {}
    client_limited = client_limited or set()
    settings = defaults() | {
        "stacks": list(stacks),
        "modes": list(modes),
        "requests": list(requests),
        "repetitions": repetitions,
        "iterations": rows,
        "warmup": 10,
        "seed": 7,
    }
    record = (
        Manifest.create(
            root,
            run_id=root.name,
            seed=7,
            git="0123456789abcdef",
            settings=settings,
            sources=dict.fromkeys(settings, "default"),
            requests={name: known[name].as_json() for name in requests if name in known},
            lab={"kind": "embedded", "notes": ["server pinned to CPU 0, client to CPU 1"]},
        )
        if manifest
        else None
    )
    measured = measured_in({name: known[name] for name in requests if name in known})
    cells = dict.fromkeys(stacks, requests)
    plan = build_plan(cells, modes, repetitions, 7, "sequential", measured)
    for planned in plan:
        mode, stack, request = planned.mode, planned.stack, planned.request
        base = STACKS.get(stack, 0.003) * MODE_FACTOR.get(mode, 1.0) * speed
        base *= (1.1 if request == "POST" else 1.0) * rng.normal(1.0, 0.02)  # run-to-run drift
        times = sample_times(rng, base, rows)
        failed = rng.random(rows) < failure_rate.get(stack, 0.0)
        csv_path, meta_path = root / planned.csv, root / planned.meta
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        httplab_frame(times, failed).to_csv(csv_path, index=False, float_format="%.9f")
        limited = (mode, stack, request) in client_limited
        meta_path.write_text(json.dumps(meta_document(mode, request, times, failed, cpu, limited)))
        if record is not None:
            record.record(
                planned,
                status=Status.COMPLETE,
                sha256_csv=sha256_file(csv_path),
                sha256_meta=sha256_file(meta_path),
            )
    if record is not None:
        finalize(
            record,
            host_facts("server", cpu),
            {"client": "10.0.0.2"},
            stack_facts(stacks),
            {"enabled": False},
        )
    return root


def meta_document(
    mode: str, request: str, times: np.ndarray, failed: np.ndarray, cpu: str, limited: bool
) -> dict[str, object]:
    """A meta file with every field bench_client writes that a reader checks."""
    duration = float(np.sum(times + 0.005))
    return {
        "schema": META_SCHEMA,
        "config": {
            "mode": mode,
            "request": BUILTIN.get(request, BUILTIN["GET"]).as_json() | {"name": request},
            "iterations": len(times),
            "concurrency": 16 if mode == "concurrent" else 1,
        },
        "client": host_facts("client", cpu),
        "started": "2026-11-29T10:00:00.000+00:00",
        "finished": "2026-11-29T10:00:01.000+00:00",
        "duration_s": duration,
        "interrupted": False,
        "requests": len(times),
        "successes": int((~failed).sum()),
        "failures": int(failed.sum()),
        "errors": {"ConnectionResetError: reset by peer": int(failed.sum())}
        if failed.any()
        else {},
        "mean_s": float(np.mean(times[~failed])) if (~failed).any() else None,
        "throughput_rps": float((~failed).sum() / duration),
        "client_overhead": {"mean_s": 0.0021 * MODE_FACTOR.get(mode, 1.0)},
        "client_limits": {
            "client_bottleneck": limited,
            "reasons": ["client process used 100% of a core"] if limited else [],
        },
    }


def stack_facts(stacks: tuple[str, ...]) -> list[dict[str, object]]:
    """What each stack's stack.json says about itself on the server."""
    return [
        {
            "name": stack,
            "framework": stack.split("-")[0],
            "server": stack.split("-", 1)[1],
            "url": f"http://10.0.0.1:{5000 + i}",
            "port": 5000 + i,
            "workers": 2,
            "versions": {"gunicorn": "27.0.1"},
        }
        for i, stack in enumerate(stacks)
    ]


def recollect(root: Path, relative: str, text: str) -> Path:
    """Replace a collected CSV and record its new sha256, as if the client had written it so."""
    path = root / relative
    path.write_text(text)
    manifest = Manifest.load(root)
    entry = next(e for e in manifest.data["measurements"] if e["csv"] == relative)
    entry["sha256"] = sha256_file(path)
    manifest.save()
    return path
