"""Server resource samples with a known truth, for the tests of analysis/resources.py and
of the sweep: counters that grow at set rates."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from bench_client.results_format import SAMPLES_SCHEMA
from orchestrator.resource_sampler import COLUMNS

START = 1_800_000_000.0  # Unix seconds of the first sample
USER, SYSTEM = 0.30, 0.10  # the stack's CPU, cores
RSS_PEAK_AT, RSS_BASE, RSS_PEAK = 4.0, 40 * 1024**2, 75 * 1024**2


def samples_document(busy: float, seconds: float = 8.0) -> dict[str, object]:
    """10 Hz samples: CPU counters growing at USER/SYSTEM cores, the CPUs ``busy``, one RSS peak."""
    rows = []
    for t in np.arange(0.0, seconds + 1e-9, 0.1):
        rss = RSS_PEAK if abs(t - RSS_PEAK_AT) < 1e-9 else RSS_BASE
        values = {
            "time_unix_s": START + t, "cpu_user_s": USER * t, "cpu_system_s": SYSTEM * t,
            "rss_bytes": rss, "processes": 3, "threads": 5, "fds": 20,
            "ctx_voluntary": 100 * t, "ctx_involuntary": 10 * t,
            "cpus_busy_s": busy * t, "cpus_total_s": t,
        }  # fmt: skip
        rows.append([values[column] for column in COLUMNS])
    return {
        "schema": SAMPLES_SCHEMA, "interval_s": 0.1, "cpus": [0], "columns": list(COLUMNS),
        "samples": rows,
    }  # fmt: skip


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds")
