"""One cell measured by several client hosts: merge their files into the cell's CSV and meta.

Each host wrote ``<METHOD>.hosts/<host>.csv`` and its meta file (results_format). The
cell's own ``<METHOD>.csv`` holds every host's requests on one clock, the control
node's: a host's Start (s) counts from its own start, which its meta file gives on its
own clock; the host's measured clock offset brings that onto the control node's, and
the merged Start (s) counts from the start the hosts agreed on. Iterations are
renumbered 1..n in order of start; Worker becomes ``<host>/<worker>``.

The merged meta file sums the counts, and gives two throughputs: over the whole span
(first start to last finish) and over the common window (the latest start to the
earliest finish, when all hosts were sending), where responses completed inside the
window are summed over hosts. ``hosts`` keeps each host's own figures, its clock offset
and how late it started; ``start_skew_s`` is the spread of the hosts' starts.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_client.documents import read_meta
from bench_client.results_format import CSV_HEADER, Measurement, write_atomic

_ITERATION, _TIME, _STATUS, _ERROR, _START, _WORKER = CSV_HEADER


@dataclass(frozen=True)
class HostFiles:
    """One host's fetched share of a cell, and its clock offset to the control node."""

    host: str
    measurement: Measurement  # the cell on this host (Measurement.on_host)
    clock_offset_s: float
    clock_uncertainty_s: float


@dataclass(frozen=True)
class _Share:
    files: HostFiles
    meta: dict[str, Any]
    rows: list[dict[str, str]]
    started: float  # on the control node's clock
    finished: float


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def _read(run_dir: Path, files: HostFiles) -> _Share:
    cell = files.measurement
    meta = dict(read_meta(run_dir / cell.meta).document)  # checked: a client host wrote it
    with (run_dir / cell.csv).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    offset = files.clock_offset_s
    return _Share(
        files,
        meta,
        rows,
        _timestamp(meta["started"]) - offset,
        _timestamp(meta["finished"]) - offset,
    )


def merge(run_dir: Path, cell: Measurement, hosts: list[HostFiles], agreed_start: float) -> str:
    """Write the cell's merged CSV and meta file from the hosts' files; return the CSV's sha256.

    ``agreed_start``: the common start on the control node's clock (merged Start (s) is 0 there).
    """
    shares = [_read(run_dir, files) for files in hosts]
    samples = []
    for share in shares:
        shift = share.started - agreed_start
        for row in share.rows:
            start = float(row[_START]) + shift
            samples.append((start, share.files.host, row))
    samples.sort(key=lambda sample: (sample[0], sample[1], int(sample[2][_ITERATION])))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for number, (start, host, row) in enumerate(samples, start=1):
        writer.writerow(
            (
                number,
                row[_TIME],
                row[_STATUS],
                row[_ERROR],
                f"{start:.6f}",
                f"{host}/{row[_WORKER]}",
            )
        )
    digest = write_atomic(run_dir / cell.csv, buffer.getvalue())
    meta = merged_meta(shares, samples, agreed_start)
    write_atomic(
        run_dir / cell.meta,
        json.dumps({**meta, "csv": Path(cell.csv).name, "csv_sha256": digest}, indent=2) + "\n",
    )
    return digest


def merged_meta(
    shares: list[_Share], samples: list[tuple[float, str, dict[str, str]]], agreed_start: float
) -> dict[str, Any]:
    """The cell's meta file: the first host's settings, every count over all hosts."""
    times = [float(row[_TIME]) for _, _, row in samples if row[_TIME]]
    errors = collections.Counter(row[_ERROR] for _, _, row in samples if not row[_TIME])
    started = min(share.started for share in shares)
    finished = max(share.finished for share in shares)
    window = (max(share.started for share in shares), min(share.finished for share in shares))
    in_window = sum(
        1
        for start, _, row in samples
        if row[_TIME] and window[0] <= agreed_start + start + float(row[_TIME]) <= window[1]
    )
    window_s = window[1] - window[0]
    reasons = [
        f"{share.files.host}: {reason}"
        for share in shares
        for reason in share.meta.get("client_limits", {}).get("reasons", [])
    ]
    first = shares[0].meta
    configs = [share.meta.get("config", {}) for share in shares]
    config = {**configs[0], "iterations": sum(c.get("iterations") or 0 for c in configs)}
    if configs[0].get("rate") is not None:  # the rate was divided between the hosts
        config["rate"] = sum(c["rate"] for c in configs)
    return {
        **first,
        # The cell's settings; concurrency, processes and warm-up are each host's.
        "config": config,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(finished - started, 6),
        "interrupted": any(share.meta.get("interrupted") for share in shares),
        "requests": len(samples),
        "successes": len(times),
        "failures": len(samples) - len(times),
        "errors": dict(errors.most_common()),
        "mean_s": statistics.fmean(times) if times else None,
        "throughput_rps": len(times) / (finished - started) if finished > started else None,
        "common_window": {
            "started": _iso(window[0]),
            "finished": _iso(window[1]),
            "duration_s": round(window_s, 6),
            # Responses completed inside the window, summed over the hosts.
            "successes": in_window if window_s > 0 else 0,
            "throughput_rps": in_window / window_s if window_s > 0 else None,
        },
        "client_limits": {
            "client_bottleneck": any(
                share.meta.get("client_limits", {}).get("client_bottleneck") for share in shares
            ),
            "reasons": reasons,
        },
        "host_noise": {
            "busy": any(share.meta.get("host_noise", {}).get("busy") for share in shares),
            "reasons": [
                f"{share.files.host}: {reason}"
                for share in shares
                for reason in share.meta.get("host_noise", {}).get("reasons", [])
            ],
        },
        "start": {"agreed": _iso(agreed_start)},
        "start_skew_s": round(max(s.started for s in shares) - started, 6),
        "hosts": [host_summary(share, agreed_start) for share in shares],
    }


def host_summary(share: _Share, agreed_start: float) -> dict[str, Any]:
    """One host's own figures in the merged meta file (times on the control node's clock)."""
    meta, files = share.meta, share.files
    return {
        "host": files.host,
        "csv": files.measurement.csv,
        "requests": meta["requests"],
        "successes": meta["successes"],
        "failures": meta["failures"],
        "mean_s": meta["mean_s"],
        "throughput_rps": meta["throughput_rps"],
        "started": _iso(share.started),
        "finished": _iso(share.finished),
        "start_after_agreed_s": round(share.started - agreed_start, 6),
        "clock_offset_s": round(files.clock_offset_s, 6),
        "clock_uncertainty_s": round(files.clock_uncertainty_s, 6),
        "client_bottleneck": bool(meta.get("client_limits", {}).get("client_bottleneck")),
        "interrupted": bool(meta.get("interrupted")),
    }
