"""Write realistic synthetic results folders (manifest, CSVs, meta files) for tests and benchmarks.

Latencies are log-normal around a per-stack base, with a few slow spikes and a chosen share of
failures (empty time + Error, as bench_client writes them). Vectorised so a million rows is quick.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

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
    """A results folder like run_all.yml leaves it; returns ``root``."""
    rng = np.random.default_rng(seed)
    failure_rate = failure_rate or {}
    client_limited = client_limited or set()
    measurements = []
    for mode in modes:
        for stack in stacks:
            for method in methods:
                base = STACKS.get(stack, 0.003) * MODE_FACTOR.get(mode, 1.0) * speed
                times = sample_times(rng, base * (1.1 if method == "POST" else 1.0), rows)
                failed = rng.random(rows) < failure_rate.get(stack, 0.0)
                folder = root / mode / stack
                folder.mkdir(parents=True, exist_ok=True)
                csv_path = folder / f"{method}.csv"
                httplab_frame(times, failed).to_csv(csv_path, index=False, float_format="%.9f")
                limited = (mode, stack, method) in client_limited
                meta = {  # the shape bench_client writes
                    "config": {"mode": mode, "method": method, "iterations": rows},
                    "successes": int((~failed).sum()),
                    "failures": int(failed.sum()),
                    "client_overhead": {"mean_s": 0.0021 * MODE_FACTOR.get(mode, 1.0)},
                    "client_limits": {
                        "client_bottleneck": limited,
                        "reasons": ["client process used 100% of a core"] if limited else [],
                    },
                }
                (folder / f"{method}.meta.json").write_text(json.dumps(meta))
                measurements.append(
                    {
                        "mode": mode,
                        "stack": stack,
                        "method": method,
                        "repetition": 1,
                        "csv": f"{mode}/{stack}/{method}.csv",
                        "meta": f"{mode}/{stack}/{method}.meta.json",
                        "sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                        "status": "complete",
                        "message": "",
                    }
                )
    if manifest:
        write_manifest(root, stacks, modes, methods, rows, measurements, cpu)
    return root


def write_manifest(
    root: Path,
    stacks: tuple[str, ...],
    modes: tuple[str, ...],
    methods: tuple[str, ...],
    rows: int,
    measurements: list[dict[str, object]],
    cpu: str,
) -> None:
    document = {
        "schema": 1,
        "run_id": root.name,
        "started": "2026-11-27T01:00:00+00:00",
        "finished": "2026-11-27T01:20:00+00:00",
        "git_commit": "0123456789abcdef",
        "seed": 7,
        "hosts": {"server": host_facts("server", cpu), "client": host_facts("client", cpu)},
        "lab": {"kind": "embedded", "notes": ["server pinned to CPU 0, client to CPU 1"]},
        "stacks": [
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
        ],
        "client_settings": {
            "iterations": rows,
            "interval": 0.005,
            "timeout": 5,
            "concurrency": 16,
            "rate": None,
            "warmup": 10,
            "modes": list(modes),
            "methods": list(methods),
            "repetitions": 1,
        },
        "measurements": measurements,
        "tuning": {"enabled": False},
    }
    (root / "manifest.json").write_text(json.dumps(document, indent=2))
