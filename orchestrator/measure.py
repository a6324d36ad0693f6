"""Measure one mode × stack × method on the client host and record the outcome in the manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from orchestrator.manifest import Manifest
from orchestrator.plan import MODES, Measurement
from orchestrator.remote import (
    Measurement as Fetched,
)
from orchestrator.remote import (
    MeasurementInterrupted,
    MeasurementSpec,
    RemoteError,
    measure,
    open_session,
    read_client,
)

# Manifest client settings -> bench_client flag, and the modes the flag applies
# to (bench_client refuses a flag that means nothing in the mode at hand).
ALL_MODES = frozenset(MODES)
_FLAGS = {
    "iterations": ("--iterations", ALL_MODES),
    "interval": ("--interval", ALL_MODES - {"rate"}),
    "timeout": ("--timeout", ALL_MODES),
    "concurrency": ("--concurrency", frozenset({"concurrent", "rate"})),
    "rate": ("--rate", frozenset({"rate"})),
    "warmup": ("--warmup", ALL_MODES),
}


def client_args(settings: dict[str, Any], mode: str) -> tuple[str, ...]:
    """The run's client settings as bench_client flags for one mode."""
    args: list[str] = []
    for key, (flag, modes) in _FLAGS.items():
        if mode in modes and settings.get(key) is not None:
            args += [flag, str(settings[key])]
    return tuple(args)


def run_measurement(args: argparse.Namespace) -> dict[str, Any]:
    """Measure, fetch with checksums, record; a failure is recorded too, then re-raised."""
    manifest = Manifest.load(args.run_dir)
    wanted = Measurement(args.mode, args.stack, args.method, args.repetition)
    spec = MeasurementSpec(
        stack=args.stack,
        url=args.url,
        mode=args.mode,
        method=args.method,
        out_dir=args.run_dir,
        repetition=args.repetition,
        client_args=client_args(manifest.data["client_settings"], args.mode),
    )
    try:
        with open_session(read_client(args.inventory)) as session:
            result = measure(session, spec)
    except MeasurementInterrupted as error:
        # What was measured before the interruption is fetched and verified: keep it.
        if error.measurement is None:
            manifest.record(wanted, status="failed", message=str(error))
        else:
            _record(manifest, wanted, error.measurement)
        raise
    except RemoteError as error:
        manifest.record(wanted, status="failed", message=str(error))
        raise
    _record(manifest, wanted, result)
    return {"csv": result.csv, "summary": summary(args.run_dir / result.meta, wanted)}


def _record(manifest: Manifest, wanted: Measurement, result: Fetched) -> None:
    manifest.record(
        wanted,
        status=result.status,
        message=result.message,
        sha256_csv=result.sha256,
        sha256_meta=result.meta_sha256,
    )


def summary(meta_path: Path, measurement: Measurement) -> str:
    """One line a person reads in the playbook's output."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    mean = f"{meta['mean_s'] * 1000:.2f} ms mean" if meta.get("mean_s") else "no successes"
    return f"{measurement.stem}: {meta['successes']} ok, {meta['failures']} failed, {mean}" + (
        f" (errors: {meta['errors']})" if meta.get("errors") else ""
    )
