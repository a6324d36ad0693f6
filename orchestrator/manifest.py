"""results/<run-id>/manifest.json: what a run is, what it measured, and the checksums that prove it.

Every write goes to a temporary file that replaces the old one, so a crash or
a full disk leaves the previous manifest intact, never half of a new one.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_client.documents import Status, read_manifest
from bench_client.results_format import MANIFEST_SCHEMA, Measurement, sha256_file, write_atomic

# Where an entry keeps each file's sha256: "sha256" is the CSV's (the manifest's original name).
# The server's samples are optional: an entry without them says why in "samples_problem".
CHECKSUM_KEYS = {
    "csv": "sha256",
    "meta": "sha256_meta",
    "samples": "sha256_samples",
    # The database's samples (PostgreSQL on the server, the database workloads), when taken.
    "database_samples": "sha256_database_samples",
}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit(repo: Path) -> str:
    """The commit the run was made with, marked ``-dirty`` when the tree had changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


class Manifest:
    """The manifest of one run folder."""

    def __init__(self, run_dir: Path, data: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.data = data

    @property
    def path(self) -> Path:
        return self.run_dir / "manifest.json"

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        """The run's manifest in the current schema (an older one is converted; the next
        save writes it so); DocumentError (a ValueError) names what is wrong."""
        return cls(run_dir, read_manifest(run_dir / "manifest.json"))

    @classmethod
    def create(
        cls,
        run_dir: Path,
        *,
        run_id: str,
        seed: int,
        git: str,
        settings: dict[str, Any],
        sources: dict[str, str],
        requests: dict[str, Any],
        lab: dict[str, Any],
        cells: dict[str, list[str]] | None = None,
    ) -> Manifest:
        """``settings``: every httplab_bench_* value by name (the seed's the one drawn),
        ``sources``: where each came from; ``requests``: each measured request's declaration;
        ``cells``: each stack measured and the requests it is measured on (None: every
        request on every stack)."""
        data = {
            "schema": MANIFEST_SCHEMA,
            "run_id": run_id,
            "started": utc_now(),
            "finished": None,
            "git_commit": git,
            "seed": seed,
            "hosts": {},
            "lab": lab,
            "stacks": [],
            "settings": settings,
            "setting_sources": sources,
            "requests": requests,
            "cells": cells,
            "measurements": [],
            "tuning": {"enabled": False},
        }
        manifest = cls(run_dir, data)
        manifest.save()
        return manifest

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=2) + "\n")

    def entry(self, measurement: Measurement) -> dict[str, Any] | None:
        for entry in self.data["measurements"]:
            if entry["csv"] == measurement.csv:
                return entry
        return None

    def is_collected(self, measurement: Measurement) -> bool:
        """Complete, and both files still on disk with the checksums recorded."""
        entry = self.entry(measurement)
        if entry is None or entry["status"] != Status.COMPLETE:
            return False
        return not self.checksum_problems(entry)

    def checksum_problems(self, entry: dict[str, Any]) -> list[str]:
        """Each file of the entry (and of each of its client hosts) missing or changed."""
        problems = []
        for files in (entry, *(entry.get("hosts") or {}).values()):
            for kind in CHECKSUM_KEYS:
                # A lost host has no files; a cell without server samples says why instead.
                if files.get(kind) is None:
                    continue
                path = self.run_dir / files[kind]
                if not path.is_file():
                    problems.append(f"{files[kind]}: missing")
                elif sha256_file(path) != files[CHECKSUM_KEYS[kind]]:
                    problems.append(f"{files[kind]}: sha256 differs from the manifest")
        return problems

    def record(
        self,
        measurement: Measurement,
        *,
        status: Status,
        message: str = "",
        sha256_csv: str | None = None,
        sha256_meta: str | None = None,
        client_ports: dict[str, Any] | None = None,
        hosts: dict[str, dict[str, Any]] | None = None,
        start: dict[str, Any] | None = None,
        sha256_samples: str | None = None,
        samples_problem: str = "",
        sha256_database_samples: str | None = None,
    ) -> dict[str, Any]:
        """Add or replace the entry of ``measurement`` and save the manifest.

        ``client_ports``: the client's port range and TIME_WAIT just before it.
        ``hosts``: measured by several client hosts, each one's files, sha256 (keys as
        CHECKSUM_KEYS), status and clock offset; ``start``: their agreed start and skew.
        ``sha256_samples``: of the server's resource samples, or None and
        ``samples_problem`` ("server samples missing: <cause>").
        """
        cell = asdict(measurement)
        del cell["host"]  # an entry is a whole cell; its hosts' shares are under "hosts"
        entry = {
            **cell,
            "csv": measurement.csv,
            "meta": measurement.meta,
            CHECKSUM_KEYS["csv"]: sha256_csv,
            CHECKSUM_KEYS["meta"]: sha256_meta,
            "status": Status(status).value,
            "message": message,
            "recorded": utc_now(),
            "client_ports": client_ports,
            "samples": measurement.samples if sha256_samples else None,
            CHECKSUM_KEYS["samples"]: sha256_samples,
            "samples_problem": samples_problem,
        }
        if sha256_database_samples is not None:
            entry["database_samples"] = measurement.database_samples
            entry[CHECKSUM_KEYS["database_samples"]] = sha256_database_samples
        if hosts is not None:
            entry["hosts"] = hosts
            entry["start"] = start
        entries = [e for e in self.data["measurements"] if e["csv"] != measurement.csv]
        self.data["measurements"] = [*entries, entry]
        self.save()
        return entry
