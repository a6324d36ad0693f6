"""The latency-throughput sweep in the report: one row per step, a curve per stack, the knees.

bench_client's sweep mode (bench_client/sweep.py) writes each step as
sweep/<stack>/<REQUEST>[.rep<k>].step<n>.csv with a meta file whose "sweep"
block holds the rate offered, the verdict of the stop rule and, on the last
step, why the sweep stopped. Here the latencies come from the CSVs themselves
(successful requests), the throughput from the meta file.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import figures as fig
from analysis import sanitize
from analysis.load import read_csv
from analysis.naming import order_requests, order_stacks, stack_colours
from analysis.problems import Problem
from analysis.resources import measured_figures
from analysis.tables import CLIENT_MARK, Table, ms
from bench_client.documents import DocumentError, Meta, StopReason, read_meta
from bench_client.results_format import SWEEP_MODE, Measurement, meta_path_for

RESOURCE_COLUMNS = ("cpu_per_1k_s", "stack_cpu_cores", "server_busy", "peak_rss_mib")
STEP_COLUMNS = (
    "stack",
    "request",
    "repetition",
    "step",
    "offered_rps",
    "throughput_rps",
    "requests",
    "failures",
    "p50_s",
    "p99_s",
    "client_limited",
    "verdict",
    "why",
    "stopped",
    # The server's resource use over the step (analysis/resources.py; empty without samples).
    *RESOURCE_COLUMNS,
)
FIGURE_NAME = "sweep.png"
STEPS_CSV = "sweep_steps.csv"  # in the report folder: one row per step (STEP_COLUMNS)
TABLE_NOTE = (
    "Sustained: the highest step within the stop rule (p99 within the factor of step 1's, "
    "throughput within the shortfall of the rate offered, failures within the share allowed, "
    "the client not the limit; docs/method.md). Latency from the scheduled send time, so "
    "queueing shows (no coordinated omission). "
    f"{CLIENT_MARK} stopped because the client was the limit: the server sustained at least "
    "this; its knee is higher and was not measured."
)


def load_steps(
    root: Path,
    problems: list[Problem],
    manifest: dict[str, Any] | None = None,
    without_figures: list[Problem] | None = None,
) -> pd.DataFrame:
    """Every sweep step under ``root`` (results/<run-id>); unreadable ones go to ``problems``.

    A step's resource figures come from the server samples its ``manifest`` entry lists;
    a step without them goes to ``without_figures`` (resources.missing_note counts them).
    """
    without_figures = [] if without_figures is None else without_figures
    entries = {e.get("csv"): e for e in (manifest or {}).get("measurements") or []}
    rows = []
    for path in sorted((root / SWEEP_MODE).glob("*/*.csv")):
        if sanitize.leaves(root, path):
            problems.append(Problem(path, None, sanitize.LEAVES_FOLDER))
            continue
        try:
            cell = Measurement.from_csv_path(PurePath(path.relative_to(root)))
        except ValueError as error:
            problems.append(Problem(path, None, f"skipped: {error}"))
            continue
        loaded = _step_row(root, path, cell, problems)
        if loaded is not None:
            row, meta = loaded
            found = _step_resources(root, cell, meta, entries.get(cell.csv), without_figures)
            rows.append(row | found)
    frame = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    return frame.sort_values(["stack", "request", "repetition", "step"], ignore_index=True)


def _step_row(
    root: Path, path: Path, cell: Measurement, problems: list[Problem]
) -> tuple[dict[str, Any], Meta] | None:
    """The step's row of STEP_COLUMNS (without the resource columns), and its meta file."""
    meta_path = root / meta_path_for(path.relative_to(root))
    try:
        meta = read_meta(meta_path)
        parsed = read_csv(path)
    except (DocumentError, OSError) as error:
        problems.append(Problem(path, None, f"skipped: no readable sweep meta file ({error})"))
        return None
    block = meta.sweep
    if block is None:
        problems.append(Problem(meta_path, None, "skipped: a sweep step without its sweep block"))
        return None
    problems.extend(parsed.problems)
    if parsed.frame is None:
        return None
    times = parsed.frame["time_s"].dropna()  # a failure has no time
    row = {
        "stack": cell.stack,
        "request": cell.request,
        "repetition": cell.repetition,
        "step": cell.step,
        "offered_rps": block.offered_rps,
        "throughput_rps": meta.throughput_rps,
        "requests": len(parsed.frame),
        "failures": int(parsed.frame["time_s"].isna().sum()),
        "p50_s": times.quantile(0.50) if len(times) else np.nan,
        "p99_s": times.quantile(0.99) if len(times) else np.nan,
        "client_limited": meta.client_bottleneck,
        "verdict": block.verdict.value,
        "why": block.why,
        "stopped": "" if block.stopped is None else block.stopped.value,
    }
    return row, meta


def _step_resources(
    root: Path,
    cell: Measurement,
    meta: Meta,
    entry: dict[str, Any] | None,
    problems: list[Problem],
) -> dict[str, Any]:
    """The server's CPU and memory over the step, or NaN and a problem saying why."""
    found = "no manifest entry" if entry is None else measured_figures(root, entry, meta)
    if isinstance(found, str):
        problems.append(Problem(root / cell.csv, None, f"no resource figures: {found}"))
        return dict.fromkeys(RESOURCE_COLUMNS, np.nan)
    return {column: found[column] for column in RESOURCE_COLUMNS}


def sustained(steps: pd.DataFrame) -> pd.DataFrame:
    """Per stack, request and repetition: the last step within the rule, and why the sweep ended."""
    rows = []
    for (stack, request, repetition), group in steps.groupby(
        ["stack", "request", "repetition"], sort=False
    ):
        within = group.loc[group["verdict"] == StopReason.WITHIN]
        last = group.iloc[-1]
        best = within.iloc[-1] if len(within) else None
        stopping = last if last["verdict"] != StopReason.WITHIN else None
        rows.append(
            {
                "stack": stack,
                "request": request,
                "repetition": repetition,
                "steps": len(group),
                "sustained_step": None if best is None else int(best["step"]),
                "sustained_rps": np.nan if best is None else best["throughput_rps"],
                "offered_rps": np.nan if best is None else best["offered_rps"],
                "p50_s": np.nan if best is None else best["p50_s"],
                "p99_s": np.nan if best is None else best["p99_s"],
                "stopped": last["stopped"],
                "why": "" if stopping is None else stopping["why"],
            }
        )
    return pd.DataFrame(rows)


def sweep_table(steps: pd.DataFrame) -> Table:
    rows = []
    knees = sustained(steps)
    for stack in order_stacks(knees["stack"].unique()):
        for request in order_requests(knees.loc[knees["stack"] == stack, "request"].unique()):
            chosen = knees.loc[(knees["stack"] == stack) & (knees["request"] == request)]
            for _, row in chosen.iterrows():
                mark = CLIENT_MARK if row["stopped"] == StopReason.CLIENT_LIMITED else ""
                rate = "none" if pd.isna(row["sustained_rps"]) else f"{row['sustained_rps']:.0f}"
                rows.append(
                    [
                        f"{stack} - {request}"
                        + (f" rep {row['repetition']}" if row["repetition"] > 1 else ""),
                        f"{rate}{mark}",
                        "—" if pd.isna(row["offered_rps"]) else f"{row['offered_rps']:.0f}",
                        ms(row["p50_s"]),
                        ms(row["p99_s"]),
                        str(row["steps"]),
                        f"{row['stopped']}: {row['why']}" if row["why"] else row["stopped"],
                    ]
                )
    return Table(
        "Latency–throughput sweep: highest rate sustained within the stop rule",
        [
            "Stack - request",
            "Sustained (responses/s)",
            "Offered there (/s)",
            "p50 there (ms)",
            "p99 there (ms)",
            "Steps",
            "Stopped by",
        ],
        rows,
        [TABLE_NOTE],
    )


STEP_RESOURCES_NOTE = (
    "The server's resource use over each step's timed window, from the samples the "
    "server's sampler took through the whole sweep (each step keeps its own window's): "
    "CPU seconds per 1,000 requests, cores the stack kept busy, the busy share of its "
    "CPUs (all processes) and its peak RSS. docs/results.md defines each."
)


def step_resources_table(steps: pd.DataFrame) -> Table | None:
    """Per step: the rate offered and achieved beside what the server spent on it."""
    measured = steps.dropna(subset=["cpu_per_1k_s"])
    if measured.empty:
        return None
    rows = []
    for stack in order_stacks(measured["stack"].unique()):
        for request in order_requests(measured.loc[measured["stack"] == stack, "request"].unique()):
            chosen = measured.loc[(measured["stack"] == stack) & (measured["request"] == request)]
            for _, row in chosen.iterrows():
                rows.append([
                    f"{stack} - {request}"
                    + (f" rep {row['repetition']}" if row["repetition"] > 1 else ""),
                    str(row["step"]), f"{row['offered_rps']:.0f}",
                    "—" if pd.isna(row["throughput_rps"]) else f"{row['throughput_rps']:.0f}",
                    f"{row['cpu_per_1k_s']:.3f}", f"{row['stack_cpu_cores']:.2f}",
                    f"{row['server_busy']:.0%}", f"{row['peak_rss_mib']:.1f}",
                ])  # fmt: skip
    headers = ["Stack - request", "Step", "Offered (/s)", "Achieved (/s)", "CPU s / 1k req",
               "Stack cores", "Server busy", "Peak RSS (MiB)"]  # fmt: skip
    return Table("Sweep steps: server resource use", headers, rows, [STEP_RESOURCES_NOTE])


def sweep_figure(steps: pd.DataFrame) -> fig.Figure:
    """Achieved throughput against p50 (dashed) and p99 (solid) latency, per stack and request."""
    requests = order_requests(steps["request"].unique())
    colours = stack_colours(steps["stack"].unique())
    knees = sustained(steps)
    with plt.rc_context(fig.STYLE):
        figure, axes = fig.request_axes(len(requests), 4.6)
        for ax, request in zip(axes, requests, strict=True):
            for stack in order_stacks(steps["stack"].unique()):
                for repetition, curve in steps.loc[
                    (steps["stack"] == stack) & (steps["request"] == request)
                ].groupby("repetition"):
                    _curve(ax, curve, colours[stack], stack if repetition == 1 else None)
            chosen = knees.loc[knees["request"] == request].dropna(subset=["sustained_rps"])
            for _, knee in chosen.iterrows():
                ax.scatter(knee["sustained_rps"], knee["p99_s"] * fig.MS, marker="*", s=160,
                           color=colours[knee["stack"]], edgecolor="black", zorder=4)  # fmt: skip
            ax.set_yscale("log")
            fig.log_ms_axis(ax.yaxis)
            ax.set_title(request)
            ax.set_xlabel("achieved throughput (responses/s)")
            ax.set_ylabel("latency (ms): p99 solid, p50 dashed")
            # A curve read against zero load, not a zoomed-in corner.
            top = steps["throughput_rps"].astype(float).max()
            ax.set_xlim(0, 1.08 * top if top > 0 else 1.0)
            ax.legend(fontsize=8, loc="best")
        figure.suptitle("Latency–throughput curves (sweep mode)")
        png = fig.to_png(figure)
    return fig.Figure(
        FIGURE_NAME,
        "Latency–throughput curves",
        "Each point is one step of the sweep (the rate mode at a rate offered); ★ the highest "
        "step sustained within the stop rule (the knee); × a step where the client was the "
        "limit (not the server's). Latency from the scheduled send time.",
        png,
    )


def _curve(ax: Any, curve: pd.DataFrame, colour: str, label: str | None) -> None:
    x = curve["throughput_rps"].astype(float)
    ax.plot(x, curve["p99_s"] * fig.MS, "-o", color=colour, markersize=3.5, label=label)
    ax.plot(x, curve["p50_s"] * fig.MS, "--", color=colour, linewidth=1, alpha=0.8)
    limited = curve.loc[curve["client_limited"]]
    ax.scatter(limited["throughput_rps"], limited["p99_s"] * fig.MS, marker="x", s=60,
               color="black", zorder=5)  # fmt: skip
