"""Measure one mode × stack × method on the client host and record the outcome in the manifest."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from bench_client.results_format import Measurement, client_flags
from orchestrator.manifest import Manifest
from orchestrator.measure_hosts import run_on_hosts
from orchestrator.remote import (
    Fetched,
    MeasurementInterrupted,
    MeasurementSpec,
    RemoteError,
    open_session,
)
from orchestrator.remote.inventory import read_clients, read_server
from orchestrator.remote.measure import measure_together
from orchestrator.server_noise import ServerWatch, add_to_meta, lab_hosts


def run_measurement(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, fetch with checksums, record; a failure is recorded too, then re-raised.

    Several --stack/--url pairs: the paired design, one cell of each stack measured
    together in one time window (bench_client --paired).
    """
    manifest = Manifest.load(args.run_dir)
    if len(args.stack) != len(args.url):
        raise ValueError("give one --url for each --stack")
    settings = manifest.data["client_settings"]
    flags = client_flags(settings, args.mode)
    if len(args.stack) > 1:
        flags += ("--block", str(settings["block"]), "--seed", str(_block_seed(manifest, args)))
    specs = [
        MeasurementSpec(
            Measurement(args.mode, stack, args.method, args.repetition),
            url=url,
            out_dir=args.run_dir,
            client_args=flags,
        )
        for stack, url in zip(args.stack, args.url, strict=True)
    ]
    wanted = [spec.measurement for spec in specs]
    clients = read_clients(args.inventory)
    if len(clients) > 1:  # they share the load, starting together (orchestrator.measure_hosts)
        watch = ServerWatch(read_server(args.inventory), args.stack)
        run_on_hosts(manifest, specs, clients, watch, args.run_dir)
        return _result(args.run_dir, wanted)
    client, server = lab_hosts(args.inventory)
    watch = ServerWatch(server, args.stack)  # what else the server did meanwhile
    watch.start()
    try:
        with open_session(client) as session:
            fetched = measure_together(session, specs)
    except MeasurementInterrupted as error:
        # What was measured before the interruption is fetched and verified: keep it.
        if error.fetched is None:
            _failed(manifest, wanted, error, watch)
        else:
            _record(manifest, [error.fetched, *error.others], args.run_dir, watch)
        raise
    except RemoteError as error:
        _failed(manifest, wanted, error, watch)
        raise
    _record(manifest, fetched, args.run_dir, watch)
    return _result(args.run_dir, wanted)


def _result(run_dir: Path, wanted: list[Measurement]) -> dict[str, Any]:
    return {
        "csv": [cell.csv for cell in wanted],
        "summary": "; ".join(summary(run_dir / cell.meta, cell) for cell in wanted),
    }


def _block_seed(manifest: Manifest, args: argparse.Namespace) -> int:
    """The order of the blocks: from the run's seed and the cell, so a rerun repeats it."""
    key = f"{manifest.data['seed']} {args.mode} {args.method} {args.repetition}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def _failed(
    manifest: Manifest, wanted: list[Measurement], error: RemoteError, watch: ServerWatch
) -> None:
    watch.stop()
    for cell in wanted:
        manifest.record(cell, status="failed", message=str(error))


def _record(manifest: Manifest, fetched: list[Fetched], run_dir: Path, watch: ServerWatch) -> None:
    """Record fetched measurements, their meta files completed with the server's noise."""
    server = watch.stop()
    for one in fetched:
        samples, samples_problem = watch.save_samples(
            one.measurement.stack, run_dir / one.measurement.samples
        )
        manifest.record(
            one.measurement,
            status=one.status,
            message=one.message,
            sha256_csv=one.sha256_csv,
            sha256_meta=add_to_meta(run_dir / one.measurement.meta, server, watch.problem),
            client_ports=one.client_ports,
            sha256_samples=samples,
            samples_problem=samples_problem,
        )


def summary(meta_path: Path, measurement: Measurement) -> str:
    """One line a person reads in the playbook's output."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    mean = f"{meta['mean_s'] * 1000:.2f} ms mean" if meta.get("mean_s") else "no successes"
    return f"{measurement.label}: {meta['successes']} ok, {meta['failures']} failed, {mean}" + (
        f" (errors: {meta['errors']})" if meta.get("errors") else ""
    )
