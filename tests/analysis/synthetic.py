"""Write realistic synthetic results folders (manifest, CSVs, meta files) for tests and benchmarks.

Latencies are log-normal around a per-stack base, with a few slow spikes and a chosen share of
failures (empty time + Error, as bench_client writes them). Vectorised so a million rows is quick.
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd

from bench_client.results_format import sha256_file
from orchestrator.cli import finalize
from orchestrator.manifest import COMPLETE, Manifest
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
CLIENT_SETTINGS = {
    "iterations": 200,
    "interval": 0.005,
    "timeout": 5.0,
    "concurrency": 16,
    "rate": None,
    "warmup": 10,
}
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
    methods: tuple[str, ...] = ("GET", "POST"),
    failure_rate: dict[str, float] | None = None,
    speed: float = 1.0,
    seed: int = 1,
    cpu: str = "Intel(R) Xeon(R) CPU @ 2.20GHz",
    client_limited: set[tuple[str, str, str]] | None = None,
    manifest: bool = True,
) -> Path:
    """A results folder as run_all.yml leaves it (``rows`` requests per repetition); returns
    ``root``. The manifest is made by the orchestrator's own code (plan, Manifest, finalize), so
    it has the keys where the orchestrator really writes them."""
    rng = np.random.default_rng(seed)
    failure_rate = failure_rate or {}
    client_limited = client_limited or set()
    selection = {
        "stacks": list(stacks),
        "modes": list(modes),
        "methods": list(methods),
        "repetitions": repetitions,
    }
    record = (
        Manifest.create(
            root,
            run_id=root.name,
            seed=7,
            git="0123456789abcdef",
            selection=selection,
            client_settings=CLIENT_SETTINGS | {"iterations": rows},
            lab={"kind": "embedded", "notes": ["server pinned to CPU 0, client to CPU 1"]},
        )
        if manifest
        else None
    )
    for planned in build_plan(stacks, modes, methods, repetitions, seed=7):
        mode, stack, method = planned.mode, planned.stack, planned.method
        base = STACKS.get(stack, 0.003) * MODE_FACTOR.get(mode, 1.0) * speed
        base *= (1.1 if method == "POST" else 1.0) * rng.normal(1.0, 0.02)  # run-to-run drift
        times = sample_times(rng, base, rows)
        failed = rng.random(rows) < failure_rate.get(stack, 0.0)
        csv_path, meta_path = root / planned.csv, root / planned.meta
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        httplab_frame(times, failed).to_csv(csv_path, index=False, float_format="%.9f")
        limited = (mode, stack, method) in client_limited
        meta = {  # the shape bench_client writes
            "config": {
                "mode": mode,
                "method": method,
                "iterations": rows,
                "concurrency": 16 if mode == "concurrent" else None,
            },
            "client": host_facts("client", cpu),
            "successes": int((~failed).sum()),
            "failures": int(failed.sum()),
            "client_overhead": {"mean_s": 0.0021 * MODE_FACTOR.get(mode, 1.0)},
            "client_limits": {
                "client_bottleneck": limited,
                "reasons": ["client process used 100% of a core"] if limited else [],
            },
        }
        meta_path.write_text(json.dumps(meta))
        if record is not None:
            record.record(
                planned,
                status=COMPLETE,
                sha256_csv=sha256_file(csv_path),
                sha256_meta=sha256_file(meta_path),
            )
    if record is not None:
        finalize(
            Namespace(
                run_dir=root,
                server_facts=host_facts("server", cpu),
                clients={"client": "10.0.0.2"},
                stacks_info=stack_facts(stacks),
                tuning={"enabled": False},
            )
        )
    return root


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
