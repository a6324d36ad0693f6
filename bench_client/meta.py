"""The meta file beside each CSV: what was asked, what happened, and how far to trust it."""

from __future__ import annotations

import collections
import itertools
import statistics
from datetime import datetime, timezone
from typing import Any

from bench_client.config import RunConfig
from bench_client.modes import MODES
from bench_client.results_format import META_SCHEMA
from bench_client.timing import Sample

TIMING = (
    "time.perf_counter from just before connecting/sending to the last byte of the response "
    "(rate mode: from the scheduled start); body verification is not timed"
)
TIMEOUT = "a request fails after --timeout seconds without progress (connecting, or no byte read)"


def achieved_interval(samples: list[Sample]) -> float | None:
    """Mean pause between a response and the same worker's next request.

    This is what --interval asked for; sleeps overshoot, most on Windows. In the
    rate mode there is no such pause (see client_limits.achieved_send_rate).
    """
    by_worker: dict[int, list[Sample]] = collections.defaultdict(list)
    for sample in samples:
        by_worker[sample.worker].append(sample)
    gaps = []
    for worker_samples in by_worker.values():
        worker_samples.sort(key=lambda s: s.start)
        gaps += [b.start - a.end for a, b in itertools.pairwise(worker_samples)]
    return statistics.fmean(gaps) if gaps else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def build(
    config: RunConfig,
    samples: list[Sample],
    *,
    started: float,
    finished: float,
    interrupted: bool,
    client: dict[str, Any],
    versions: dict[str, str | None],
    overhead: dict[str, Any] | None,
    limits: dict[str, Any],
    host_noise: dict[str, Any],
    processes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`processes`: with --processes N, one summary each (process_summary); the
    counts and the throughput above them are over all of them and the common window."""
    failures = [s for s in samples if s.elapsed is None]
    times = [s.elapsed for s in samples if s.elapsed is not None]
    duration = finished - started
    mode = MODES[config.mode]
    document = {
        "schema": META_SCHEMA,
        "config": config.as_json(),
        "mode_definition": mode.definition,
        # paired: this stack shared its time window with others (config.paired says which)
        "design": "single" if config.paired is None else "paired",
        "engine": mode.engine,
        "timing": TIMING,
        "timeout": TIMEOUT,
        "client": client,
        "versions": versions,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(duration, 6),
        "interrupted": interrupted,
        "requests": len(samples),
        "successes": len(times),
        "failures": len(failures),
        "errors": dict(collections.Counter(s.error for s in failures).most_common()),
        "mean_s": statistics.fmean(times) if times else None,
        # Correct responses per second: a failure is not served work.
        "throughput_rps": len(times) / duration if duration > 0 and samples else None,
        "achieved_interval_s": None if config.mode == "rate" else achieved_interval(samples),
        "client_overhead": overhead,
        "client_limits": limits,
        "host_noise": host_noise,
    }
    if config.start_at is not None:
        # Several hosts began at one agreed time; how late this one was (ready only after it).
        document["start"] = {
            "agreed": _iso(config.start_at),
            "late_s": round(max(0.0, started - config.start_at), 6),
        }
    if processes is not None:
        document["processes"] = processes
    return document


def process_summary(measured: Any) -> dict[str, Any]:
    """One engine process of a --processes run (a pool.Measured): counts, window, limits."""
    samples = measured.samples
    successes = sum(1 for s in samples if s.elapsed is not None)
    duration = measured.finished - measured.started
    return {
        "process": measured.number,
        "started": _iso(measured.started),
        "finished": _iso(measured.finished),
        "duration_s": round(duration, 6),
        "requests": len(samples),
        "successes": successes,
        "failures": len(samples) - successes,
        "throughput_rps": successes / duration if duration > 0 and samples else None,
        "cpu_s": None if measured.cpu_s is None else round(measured.cpu_s, 3),
        "client_limits": measured.limits,
    }
