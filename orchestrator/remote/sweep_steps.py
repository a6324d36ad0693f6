"""A sweep's steps on the client: one bench_client run writes a CSV and meta file per step.

bench_client --mode sweep --out X.csv writes X.step1.csv, X.step2.csv, ... for
the steps it reaches (bench_client/sweep.py); each is fetched, verified and
recorded as a cell of its own (results_format.Measurement with its step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from bench_client.results_format import Measurement, meta_path_for, step_csv_path
from bench_client.settings import SETTINGS

Files = list[tuple[PurePath, PurePath]]  # (CSV, meta) on the client, one pair per cell


def candidates(
    cell: Measurement, out: PurePath, settings: Mapping[str, Any]
) -> tuple[list[Measurement], Files]:
    """Every step the sweep may write, for the steps its settings allow."""
    steps = settings.get("sweep_steps") or SETTINGS["sweep_steps"].default
    cells = [replace(cell, step=n) for n in range(1, steps + 1)]
    files = [
        (step_csv_path(out, n), meta_path_for(step_csv_path(out, n)))
        for n in range(1, len(cells) + 1)
    ]
    return cells, files


def reached(
    cells: list[Measurement], files: Files, present: Mapping[str, str]
) -> tuple[list[Measurement], Files]:
    """The steps written, 1..n: the sweep stops at its first step past the rule."""
    count = next((i for i, (csv, _) in enumerate(files) if str(csv) not in present), len(files))
    return cells[: max(count, 1)], files[: max(count, 1)]
