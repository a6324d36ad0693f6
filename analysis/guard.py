"""Warnings about how far a run's numbers can be trusted, in the spirit of pyperf's ``check``.

About the run as a whole, a sentence each: CSVs left out (or kept) because the manifest does not
vouch for them, a single repetition (run-to-run noise not measured), CPUs not pinned, a frequency
governor other than ``performance``, rankings mostly tied. About each mode × stack × request, a
badge for its row and a sentence: the client the limit, busy hosts, repetitions that disagree
(unstable), a time at the client's own floor, the Nagle signature. analysis/noise.py puts them in
one place in the report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.intervals import BLOCK_BOOTSTRAP
from analysis.load import LoadedCsv, Run

Key = tuple[str, str, str]  # mode, stack, request
CLIENT_MARK = "†"
NAGLE_MARK = "‡"

# pyperf calls a benchmark unstable when its standard deviation exceeds 10% of its mean.
UNSTABLE_CV = 0.10
# Warn when more than this share of neighbouring ranks cannot be told apart.
TIED_NEIGHBOURS_SHARE = 0.5
PERFORMANCE = "performance"


def run_warnings(run: Run, summary: pd.DataFrame) -> list[str]:
    """Every warning about the run as a whole, most fundamental first."""
    return [
        *left_out(run),
        *single_repetition(summary),
        *pinning(run.manifest),
        *governors(run.manifest),
        *tied(summary),
    ]


@dataclass(frozen=True)
class CellNote:
    """A warning about one mode × stack × request: a badge for its row, a sentence for the
    report's Noise and limits section."""

    badge: str
    text: str


def cell_notes(run: Run, summary: pd.DataFrame) -> dict[Key, list[CellNote]]:
    """Every cell's warnings: the client the limit, busy hosts, unstable repetitions, the
    client's own floor, the Nagle signature."""
    by_cell: dict[Key, list[LoadedCsv]] = defaultdict(list)
    for m in run.measurements:
        by_cell[(m.mode, m.stack, m.request)].append(m)
    notes: dict[Key, list[CellNote]] = {}
    for _, row in summary.iterrows():
        key = (row["mode"], row["stack"], row["request"])
        found = [
            *client_limit(by_cell[key]),
            *busy(by_cell[key]),
            *unstable(row),
            *floor(row),
            *nagle(row),
        ]
        if found:
            notes[key] = found
    return notes


def left_out(run: Run) -> list[str]:
    kept = [m for m in run.measurements if m.suspect]
    lines = [
        f"Left out of the statistics: {line}. Keep it with --include-suspect."
        for line in run.left_out
    ]
    lines.extend(
        f"Kept by --include-suspect although {m.suspect}: {m.csv.relative_to(run.root)}."
        for m in kept
    )
    return lines


def single_repetition(summary: pd.DataFrame) -> list[str]:
    once = summary.loc[summary["ci_method"] == BLOCK_BOOTSTRAP]
    if once.empty:
        return []
    return [
        f"{len(once)} of {len(summary)} cells were measured in a single repetition: run-to-run "
        "noise was not measured. Their 95% intervals come from a block bootstrap within the one "
        "repetition and are narrower than a second run would show, so their ranking is "
        "provisional. Measure with repetitions=5 (the default) to settle it."
    ]


def pinning(manifest: dict[str, Any] | None) -> list[str]:
    """The embedded lab pins server and client to their own CPUs and says so in its notes."""
    notes = ((manifest or {}).get("lab") or {}).get("notes") or []
    if any("pinned" in str(note) for note in notes):
        return []
    return [
        "No record that the server's and the client's CPUs were pinned (isolated from each "
        "other and from other work): the scheduler may move them, which adds noise. The "
        "embedded lab pins them; on a real lab, give each host its own machine or CPUs."
    ]


def governors(manifest: dict[str, Any] | None) -> list[str]:
    """A governor other than performance changes the clock speed during a measurement."""
    tuning = (manifest or {}).get("tuning") or {}
    lines = []
    for host in ("server", "client"):
        record = tuning.get(host)
        found = record.get("governors") if isinstance(record, dict) else None
        others = sorted({str(g) for g in found or []} - {PERFORMANCE})
        if others:
            lines.append(
                f"CPU frequency governor on the {host}: {', '.join(others)}, not "
                f"'{PERFORMANCE}': the clock speed may change during a measurement. Set "
                "httplab_tuning_enabled (governor 'performance') for steadier numbers."
            )
    return lines


def tied(summary: pd.DataFrame) -> list[str]:
    """Rankings mostly tied: more than half of the neighbouring ranked stacks of a mode ×
    request cannot be told apart."""
    lines = []
    ranked = summary.loc[summary["rank"].astype(bool)]
    for (mode, request), rows in ranked.groupby(["mode", "request"], sort=False):
        ordered = rows.sort_values("rank_mean_s")
        pairs = len(ordered) - 1
        worst, best = ordered["rank_worst"].to_numpy()[:-1], ordered["rank_best"].to_numpy()[1:]
        overlapping = int((worst >= best).sum())
        if pairs > 0 and overlapping / pairs > TIED_NEIGHBOURS_SHARE:
            lines.append(
                f"{mode} {request}: the spread is too large for the differences being ranked: "
                f"{overlapping} of {pairs} neighbouring stacks cannot be told apart. More "
                "repetitions, or a quieter lab, would separate them."
            )
    return lines


def client_limit(cell: list[LoadedCsv]) -> list[CellNote]:
    limited = sorted(m.repetition for m in cell if m.client_limit)
    if not limited:
        return []
    why = next(m.client_limit for m in cell if m.client_limit)
    if len(limited) == len(cell):
        return [
            CellNote(
                f"{CLIENT_MARK} client",
                f"the client was the limit in every repetition ({why}): this row measures "
                "the client, and is not ranked.",
            )
        ]
    reps = ", ".join(map(str, limited))
    return [
        CellNote(
            f"{CLIENT_MARK} client {len(limited)}/{len(cell)}",
            f"the client was the limit in repetition {reps} of {len(cell)} ({why}): ranked on "
            f"the other {len(cell) - len(limited)}.",
        )
    ]


def busy(cell: list[LoadedCsv]) -> list[CellNote]:
    flagged = sorted((m for m in cell if m.host_busy), key=lambda m: m.repetition)
    if not flagged:
        return []
    reasons = "; ".join(f"rep {m.repetition}: {m.host_busy}" for m in flagged)
    return [
        CellNote(
            f"busy {len(flagged)}/{len(cell)}",
            f"measured while the hosts were busy in {len(flagged)} of {len(cell)} repetitions "
            f"({reasons}): its numbers include that other work.",
        )
    ]


def unstable(row: pd.Series) -> list[CellNote]:
    """pyperf calls a benchmark unstable when its standard deviation exceeds 10% of its mean."""
    cv = row["repetition_sd_s"] / row["mean_s"] if row["mean_s"] else float("nan")
    if not (cv > UNSTABLE_CV):
        return []
    return [
        CellNote(
            "unstable",
            f"unstable: the means of its repetitions differ by {cv:.0%} of the mean (standard "
            f"deviation; pyperf's limit is {UNSTABLE_CV:.0%}): something else was changing the "
            "speed of the hosts; compare its numbers with care.",
        )
    ]


def floor(row: pd.Series) -> list[CellNote]:
    at_floor = (
        f"at the client's own floor: its mean less the client's own "
        f"{row['client_overhead_s'] * 1e3:.2f} ms is within the run-to-run noise of 0, so it "
        "measures the client more than the stack."
    )
    return [CellNote("client floor", at_floor)] if row["at_client_floor"] else []


def nagle(row: pd.Series) -> list[CellNote]:
    signature = (
        f"median {row['median_s'] * 1000:.1f} ms on kept-alive connections: the ~40 ms "
        "Nagle/delayed-ACK signature (TCP_NODELAY off, docs/traps.md)."
    )
    return [CellNote(f"{NAGLE_MARK} Nagle?", signature)] if row["nagle_suspect"] else []
