"""Measure one mode × stack × method on the client host and record the outcome in the manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench_client.results_format import Measurement, client_flags
from orchestrator.manifest import Manifest
from orchestrator.remote import (
    Fetched,
    MeasurementInterrupted,
    MeasurementSpec,
    RemoteError,
    measure,
    open_session,
)
from orchestrator.server_noise import ServerWatch, add_to_meta, lab_hosts


def run_measurement(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, fetch with checksums, record; a failure is recorded too, then re-raised."""
    manifest = Manifest.load(args.run_dir)
    wanted = Measurement(args.mode, args.stack, args.method, args.repetition)
    spec = MeasurementSpec(
        wanted,
        url=args.url,
        out_dir=args.run_dir,
        client_args=client_flags(manifest.data["client_settings"], args.mode),
    )
    client, server = lab_hosts(args.inventory)
    watch = ServerWatch(server, args.stack)  # what else the server did meanwhile
    watch.start()
    try:
        with open_session(client) as session:
            fetched = measure(session, spec)
    except MeasurementInterrupted as error:
        # What was measured before the interruption is fetched and verified: keep it.
        if error.fetched is None:
            watch.stop()
            manifest.record(wanted, status="failed", message=str(error))
        else:
            _record(manifest, error.fetched, args.run_dir, watch)
        raise
    except RemoteError as error:
        watch.stop()
        manifest.record(wanted, status="failed", message=str(error))
        raise
    _record(manifest, fetched, args.run_dir, watch)
    return {"csv": wanted.csv, "summary": summary(args.run_dir / wanted.meta, wanted)}


def _record(manifest: Manifest, fetched: Fetched, run_dir: Path, watch: ServerWatch) -> None:
    """Record a fetched measurement, its meta file completed with the server's noise."""
    server = watch.stop()
    manifest.record(
        fetched.measurement,
        status=fetched.status,
        message=fetched.message,
        sha256_csv=fetched.sha256_csv,
        sha256_meta=add_to_meta(run_dir / fetched.measurement.meta, server, watch.problem),
    )


def summary(meta_path: Path, measurement: Measurement) -> str:
    """One line a person reads in the playbook's output."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    mean = f"{meta['mean_s'] * 1000:.2f} ms mean" if meta.get("mean_s") else "no successes"
    return f"{measurement.label}: {meta['successes']} ok, {meta['failures']} failed, {mean}" + (
        f" (errors: {meta['errors']})" if meta.get("errors") else ""
    )
