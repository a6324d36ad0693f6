"""Warnings about how far a run's numbers can be trusted, in the spirit of pyperf's ``check``.

Each is a sentence for the report: CPUs not pinned, a frequency governor other than
``performance``, a spread between repetitions too large for the differences being ranked, a single
repetition (run-to-run noise not measured), measurements taken while the hosts were busy, and
CSVs left out (or kept) because the manifest does not vouch for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from analysis.intervals import BLOCK_BOOTSTRAP
from analysis.load import Run

# pyperf calls a benchmark unstable when its standard deviation exceeds 10% of its mean.
UNSTABLE_CV = 0.10
# Warn when more than this share of neighbouring ranks cannot be told apart.
TIED_NEIGHBOURS_SHARE = 0.5
PERFORMANCE = "performance"


def run_warnings(run: Run, summary: pd.DataFrame) -> list[str]:
    """Every warning for the report of ``run``, most fundamental first."""
    return [
        *left_out(run),
        *single_repetition(summary),
        *pinning(run.manifest),
        *governors(run.manifest),
        *spread(summary),
        *busy(summary),
    ]


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


def spread(summary: pd.DataFrame) -> list[str]:
    """Repetitions that disagree by more than pyperf tolerates, and rankings mostly tied."""
    ranked = summary.loc[summary["rank"].astype(bool)]
    lines = []
    cv = ranked["repetition_sd_s"] / ranked["mean_s"]
    unstable = ranked.loc[cv > UNSTABLE_CV]
    if not unstable.empty:
        cells = ", ".join(_cells(unstable))
        lines.append(
            f"Unstable: the means of the repetitions differ by more than {UNSTABLE_CV:.0%} of "
            f"the mean (standard deviation) in {cells}. Something else was changing the speed "
            "of the hosts; compare their numbers with care."
        )
    for mode, rows in ranked.groupby("mode", sort=False):
        ordered = rows.sort_values("mean_s")
        pairs = len(ordered) - 1
        tied = int(
            (ordered["ci95_low_s"].to_numpy()[1:] <= ordered["ci95_high_s"].to_numpy()[:-1]).sum()
        )
        if pairs > 0 and tied / pairs > TIED_NEIGHBOURS_SHARE:
            lines.append(
                f"{mode} mode: the spread is too large for the differences being ranked: "
                f"{tied} of {pairs} neighbouring rows have overlapping 95% intervals. More "
                "repetitions, or a quieter lab, would separate them."
            )
    return lines


def busy(summary: pd.DataFrame) -> list[str]:
    flagged = summary.loc[summary["host_busy"].astype(bool)]
    return [
        f"{row.mode}/{row.stack}/{row.request} was measured while the hosts were busy "
        f"({row.host_busy}): its numbers include that other work."
        for row in flagged.itertuples()
    ]


def _cells(rows: pd.DataFrame) -> Iterable[str]:
    return (f"{r.mode}/{r.stack}/{r.request}" for r in rows.itertuples())
