"""Noise and limits in one place: a line under the verdict, one section with the details of
each cell, and a badge on each affected row (the warnings themselves: analysis/guard.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.guard import CellNote, Key, cell_notes, run_warnings
from analysis.load import LoadedCsv, Run
from analysis.tables import Table

SECTION = "Noise and limits"


@dataclass(frozen=True)
class Noise:
    line: str  # the one line under the verdict
    warnings: list[str]  # about the run as a whole
    notes: dict[Key, list[CellNote]]  # about each cell

    def badges(self, key: Key) -> list[str]:
        return [note.badge for note in self.notes.get(key, [])]

    def table(self) -> Table | None:
        if not self.notes:
            return None
        rows = [
            ["/".join(key), ", ".join(n.badge for n in notes), " ".join(n.text for n in notes)]
            for key, notes in self.notes.items()
        ]
        return Table("Cell by cell", ["Cell", "Badges", "What was seen"], rows)


def noise_of(run: Run, summary: pd.DataFrame) -> Noise:
    """The run's noise and limits, from its measurements' meta files and its summary."""
    warnings = run_warnings(run, summary)
    notes = cell_notes(run, summary)
    return Noise(summary_line(run.measurements, warnings), warnings, notes)


def summary_line(measurements: list[LoadedCsv], warnings: list[str]) -> str:
    """ "65 of 120 measurements ran while the hosts were busy: hypervisor steal up to 35%, other
    processes up to 92% of a core; ... see Noise and limits." """
    total = len(measurements)
    busy = [m for m in measurements if m.host_busy]
    parts = [
        f"{len(busy)} of {total} measurements ran while the hosts were busy"
        if busy
        else f"None of the {total} measurements ran while the hosts were busy"
    ]
    steal, others = _peak(busy, "steal_percent"), _peak(busy, "others_cpu_cores")
    peaks = [f"hypervisor steal up to {steal:.0f}%" if steal else ""]
    peaks.append(f"other processes up to {others:.0%} of a core" if others else "")
    if any(peaks):
        parts[0] += ": " + ", ".join(p for p in peaks if p)
    limited = sum(1 for m in measurements if m.client_limit)
    if limited:
        parts.append(f"the client was the limit in {limited} of them")
    if warnings:
        parts.append(f"{len(warnings)} note(s) on the run as a whole")
    return "; ".join(parts) + f"; see {SECTION}."


def _peak(measurements: list[LoadedCsv], field: str) -> float:
    """The highest reading of ``field`` on either host over ``measurements`` (0 without one)."""
    values = [
        value
        for m in measurements
        for host in ("client", "server")
        if isinstance(value := _reading(m, host).get(field), int | float)
    ]
    return max(values, default=0.0)


def _reading(m: LoadedCsv, host: str) -> dict[str, Any]:
    noise = (m.meta.document.get("host_noise") if m.meta else None) or {}
    block = noise.get(host) if isinstance(noise, dict) else None
    return block if isinstance(block, dict) else {}
