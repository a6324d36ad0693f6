"""How long each phase of a run took, those before its run folder existed included.

`make run` times each step it takes before the playbook (lab up, venv, wheelhouse) and the
playbook times each of its phases (plugins/callback/httplab_phases.py, by the file each play
comes from: provision, verify, benchmark…). Both append one line per timed step to one file,
``NAME START END`` (seconds since the epoch, separated by blanks). `httplab phases RUN_DIR
FILE` records them in the run's manifest ("phases") and prints one line per phase: its
seconds and when it started, so phases that overlapped (lab up beside the venv) show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.manifest import Manifest

# A phase timed twice (a playbook phase imported again later) counts both times.
MANIFEST_KEY = "phases"


class PhasesError(ValueError):
    """The phases file is not what `make run` and the playbook write."""


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # seconds since the epoch
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def parse_phases(text: str) -> list[Phase]:
    """Each timed step of a phases file, in the file's order; PhasesError names a bad line."""
    phases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            name, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise PhasesError(f"line {number}: {line!r} is not NAME START END") from None
        if len(fields) != 3 or end < start:
            raise PhasesError(f"line {number}: {line!r} is not NAME START END (END >= START)")
        phases.append(Phase(name, start, end))
    return phases


def breakdown(phases: list[Phase]) -> dict[str, Any]:
    """What the manifest records: each phase (its steps summed) in the order it started, its
    seconds and its start after the first step's; the wall time from first start to last end."""
    if not phases:
        return {"wall_s": 0.0, "phases": []}
    first = min(p.start for p in phases)
    named: dict[str, dict[str, Any]] = {}
    for phase in sorted(phases, key=lambda p: p.start):
        entry = named.setdefault(
            phase.name, {"name": phase.name, "seconds": 0.0, "from_s": phase.start - first}
        )
        entry["seconds"] += phase.seconds
    for entry in named.values():
        entry["seconds"] = round(entry["seconds"], 1)
        entry["from_s"] = round(entry["from_s"], 1)
    return {"wall_s": round(max(p.end for p in phases) - first, 1), "phases": list(named.values())}


def record(manifest: Manifest, phases: list[Phase]) -> dict[str, Any]:
    """Record the breakdown in the manifest (replacing an earlier one) and return it."""
    manifest.data[MANIFEST_KEY] = breakdown(phases)
    manifest.save()
    return manifest.data[MANIFEST_KEY]


def phase_lines(recorded: dict[str, Any] | None) -> list[str]:
    """One line per phase with its seconds, after a line with the wall time."""
    if not recorded or not recorded.get("phases"):
        return []
    width = max(len(entry["name"]) for entry in recorded["phases"])
    lines = [f"Time by phase: {recorded['wall_s']:.1f} s from first start to last end"]
    lines += [
        f"  {entry['name']:<{width}}  {entry['seconds']:7.1f} s  (from {entry['from_s']:.1f} s)"
        for entry in recorded["phases"]
    ]
    return lines
