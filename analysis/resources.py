"""What each stack cost the server: CPU per 1,000 requests, peak RSS, throughput, saturation.

The server resource sampler (orchestrator/resource_sampler.py) leaves
``<REQUEST>[.rep<k>].server.json`` beside a CSV: cumulative counters of the
stack's systemd unit every 100 ms. Each cell's figures are taken over its
timed requests only, the meta file's ``started``..``finished`` (the server's
clock; the counters are interpolated linearly at both ends), so the probe and
the warm-up before them do not count. docs/results.md defines every column.

With the database workloads and PostgreSQL on the server, its unit is sampled too
(``<REQUEST>[.rep<k>].database.json``): its CPU is the cell's own, not another process's,
and a saturated cell whose database used more CPU than the stack is **database-bound**.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import figures as fig
from analysis.load import LoadedCsv, Run
from analysis.naming import order_modes, order_requests, order_stacks, stack_colours
from analysis.problems import Problem
from analysis.tables import Table
from bench_client.documents import DocumentError, Meta, read_samples
from bench_client.noise import OTHERS_BUSY_CORES
from bench_client.results_format import sha256_file

# The stack's CPUs were busy (any process, the stack's included) at least this share of
# the measured window: the server, not the client, set the pace.
SATURATED = 0.90
# Other processes' share of the stack's CPUs above which a saturated cell is called crowded
# (the noise guard's OTHERS_BUSY_CORES, per CPU).
OTHERS_SHARE = OTHERS_BUSY_CORES
MIB = 1024**2
CELL_COLUMNS = (
    "mode", "stack", "request", "repetition", "requests", "duration_s", "throughput_rps",
    "cpu_user_s", "cpu_system_s", "cpu_per_1k_s", "stack_cpu_cores", "server_busy", "others_busy",
    "peak_rss_mib", "peak_threads", "peak_fds", "ctx_switches_per_request", "saturated",
    "database_cpu_cores", "database_bound",
)  # fmt: skip


def _unix(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def window_figures(document: dict[str, Any], started: float, finished: float) -> dict[str, Any]:
    """One samples document's figures over [started, finished] (Unix seconds)."""
    frame = pd.DataFrame(document["samples"], columns=document["columns"])
    times = frame["time_unix_s"].to_numpy(dtype=float)
    if len(frame) < 2 or started < times[0] or finished > times[-1]:
        raise ValueError(
            f"{len(frame)} samples do not cover the measured window (a clock offset between the "
            "client and the server, or a sampler stopped early)"
        )

    span = frame.loc[
        (times >= started - document["interval_s"]) & (times <= finished + document["interval_s"])
    ]
    if (span[["cpu_user_s", "cpu_system_s"]].diff() < 0).any(axis=None):
        raise ValueError("the stack restarted while it was measured (its CPU counters fell)")

    def change(column: str) -> float:
        values = frame[column].to_numpy(dtype=float)
        return float(np.interp(finished, times, values) - np.interp(started, times, values))

    # Samples inside the window, with the last one before it: a peak may fall between samples.
    inside = frame.loc[(times >= started - document["interval_s"]) & (times <= finished)]
    total = change("cpus_total_s")
    fds = inside["fds"]
    return {
        "cpu_user_s": change("cpu_user_s"),
        "cpu_system_s": change("cpu_system_s"),
        "server_busy": change("cpus_busy_s") / total if total > 0 else np.nan,
        "peak_rss_mib": inside["rss_bytes"].max() / MIB,
        "peak_threads": inside["threads"].max(),
        "peak_fds": np.nan if fds.isna().any() else fds.max(),
        "ctx_switches": change("ctx_voluntary") + change("ctx_involuntary"),
    }


def _entries(run: Run) -> dict[str, dict[str, Any]]:
    return {str(e.get("csv")): e for e in (run.manifest or {}).get("measurements") or []}


def _cell(run: Run, loaded: LoadedCsv, entry: dict[str, Any] | None) -> dict[str, Any] | str:
    """The cell's row, or why it has none."""
    if entry is None or loaded.meta is None:
        return "no manifest entry or meta file"
    found = measured_figures(run.root, entry, loaded.meta)
    if isinstance(found, str):
        return found
    return {
        "mode": loaded.mode,
        "stack": loaded.stack,
        "request": loaded.request,
        "repetition": loaded.repetition,
        **found,
    }


def _figures(
    root: Path, entry: dict[str, Any], key: str, meta: Meta
) -> tuple[dict[str, Any], list[int]] | str:
    """The figures of the samples file ``entry[key]`` over the meta file's window and the
    CPUs it covers; or why there are none."""
    path = root / entry[key]
    if not path.is_file():
        return f"{entry[key]} is missing"
    if sha256_file(path) != entry.get(f"sha256_{key}"):
        return f"{entry[key]}: sha256 differs from manifest.json"
    try:
        document = read_samples(path)
        return window_figures(document, _unix(meta.started), _unix(meta.finished)), list(
            document["cpus"]
        )
    except DocumentError as error:
        return str(error)
    except (KeyError, ValueError, TypeError) as error:
        return f"{entry[key]}: {error}"


def measured_figures(root: Path, entry: dict[str, Any], meta: Meta) -> dict[str, Any] | str:
    """A measurement's resource figures over its meta file's window (CELL_COLUMNS from
    ``requests`` on), from the samples its manifest entry lists; or why there are none."""
    if not entry.get("samples"):
        return entry.get("samples_problem") or "no server samples recorded"
    read = _figures(root, entry, "samples", meta)
    if isinstance(read, str):
        return read
    found, cpus = read
    requests, duration = meta.requests, meta.duration_s
    cpu = found["cpu_user_s"] + found["cpu_system_s"]
    database = (
        _figures(root, entry, "database_samples", meta) if entry.get("database_samples") else None
    )
    database_cpu = (
        database[0]["cpu_user_s"] + database[0]["cpu_system_s"]
        if isinstance(database, tuple) and duration > 0
        else None
    )
    own = cpu + (database_cpu or 0.0)
    return {
        "requests": requests,
        "duration_s": duration,
        "throughput_rps": requests / duration if duration > 0 else np.nan,
        "cpu_user_s": found["cpu_user_s"],
        "cpu_system_s": found["cpu_system_s"],
        "cpu_per_1k_s": cpu / requests * 1000 if requests else np.nan,
        "stack_cpu_cores": cpu / duration if duration > 0 else np.nan,
        "server_busy": found["server_busy"],
        # What the stack (and its database) left of its CPUs' busy time: every other process's.
        "others_busy": max(0.0, found["server_busy"] - own / duration / len(cpus))
        if duration > 0
        else np.nan,
        "peak_rss_mib": found["peak_rss_mib"],
        "peak_threads": found["peak_threads"],
        "peak_fds": found["peak_fds"],
        "ctx_switches_per_request": found["ctx_switches"] / requests if requests else np.nan,
        "saturated": bool(found["server_busy"] >= SATURATED),
        "database_cpu_cores": np.nan if database_cpu is None else database_cpu / duration,
        # The server was the ceiling, and the database took more of it than the stack.
        "database_bound": bool(
            found["server_busy"] >= SATURATED and database_cpu is not None and database_cpu > cpu
        ),
    }


def cell_resources(run: Run) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per cell with usable samples (CELL_COLUMNS); a problem for each cell without."""
    entries = _entries(run)
    rows, problems = [], []
    for loaded in run.measurements:
        relative = loaded.csv.relative_to(run.root).as_posix()
        result = _cell(run, loaded, entries.get(relative))
        if isinstance(result, str):
            problems.append(Problem(loaded.csv, None, f"no resource figures: {result}"))
        else:
            rows.append(result)
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS)), problems


def resource_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per mode × stack × request: means over the repetitions, peaks over all, saturated count."""
    if cells.empty:
        return cells
    grouped = cells.groupby(["mode", "stack", "request"], sort=False)
    summary = grouped.agg(
        repetitions=("repetition", "count"),
        requests=("requests", "sum"),
        throughput_rps=("throughput_rps", "mean"),
        cpu_per_1k_s=("cpu_per_1k_s", "mean"),
        stack_cpu_cores=("stack_cpu_cores", "mean"),
        server_busy=("server_busy", "mean"),
        others_busy=("others_busy", "mean"),
        peak_rss_mib=("peak_rss_mib", "max"),
        peak_threads=("peak_threads", "max"),
        peak_fds=("peak_fds", "max"),
        ctx_switches_per_request=("ctx_switches_per_request", "mean"),
        saturated=("saturated", "sum"),
        database_cpu_cores=("database_cpu_cores", "mean"),
        database_bound=("database_bound", "sum"),
    ).reset_index()
    return summary


def resource_table(summary: pd.DataFrame) -> Table:
    table = Table(
        "Server resource use per stack",
        [
            "Mode", "Framework & Method", "Throughput (req/s)", "CPU per 1k requests (s)",
            "Stack CPU (cores)", "Server CPU busy", "Others' share", "Peak RSS (MiB)",
            "Peak threads", "Peak fds", "Ctx switches / request", "Saturated",
        ],
        [],
        notes=[
            "Over each cell's timed requests (meta started..finished), from the server resource "
            "sampler's 100 ms samples; means over the repetitions, peaks over all of them. "
            f"Saturated: repetitions in which the stack's CPUs were at least {SATURATED:.0%} "
            "busy, so the server, not the client, was the ceiling (docs/results.md)."
        ],
    )  # fmt: skip
    for mode in order_modes(summary["mode"].unique()):
        rows = summary.loc[summary["mode"] == mode]
        for stack in order_stacks(rows["stack"].unique()):
            for request in order_requests(rows.loc[rows["stack"] == stack, "request"].unique()):
                row = rows.loc[(rows["stack"] == stack) & (rows["request"] == request)].iloc[0]
                table.rows.append(
                    [
                        mode,
                        f"{stack} {request}",
                        f"{row['throughput_rps']:,.0f}",
                        f"{row['cpu_per_1k_s']:.3f}",
                        f"{row['stack_cpu_cores']:.2f}",
                        f"{row['server_busy']:.0%}",
                        f"{row['others_busy']:.0%}",
                        f"{row['peak_rss_mib']:,.1f}",
                        f"{row['peak_threads']:.0f}",
                        "—" if pd.isna(row["peak_fds"]) else f"{row['peak_fds']:.0f}",
                        f"{row['ctx_switches_per_request']:.1f}",
                        f"{int(row['saturated'])}/{int(row['repetitions'])}"
                        + (
                            f", database-bound {int(row['database_bound'])}"
                            if row.get("database_bound", 0) > 0
                            else ""
                        ),
                    ]
                )
    return table


def resource_figure(summary: pd.DataFrame) -> fig.Figure:
    """Per mode: CPU per 1,000 requests and peak RSS per stack, saturated cells marked."""
    modes = order_modes(summary["mode"].unique())
    stacks = order_stacks(summary["stack"].unique())
    colours = stack_colours(stacks)
    requests = order_requests(summary["request"].unique())
    height = 0.76 / len(requests)
    with plt.rc_context(fig.STYLE):
        figure, axes = plt.subplots(
            len(modes), 2, figsize=(11, (0.6 * len(stacks) + 1.2) * len(modes)),
            squeeze=False, layout="constrained",
        )  # fmt: skip
        for (cpu_ax, rss_ax), mode in zip(axes, modes, strict=True):
            rows = summary.loc[summary["mode"] == mode]
            for offset, request, hatch in fig.request_bars(requests):
                part = rows.loc[rows["request"] == request].set_index("stack").reindex(stacks)
                y = np.arange(len(stacks)) + offset
                bar = {"height": height, "hatch": hatch, "edgecolor": "white"}
                bar["color"] = [colours[s] for s in stacks]
                cpu_ax.barh(y, part["cpu_per_1k_s"].fillna(0), **bar)
                rss_ax.barh(y, part["peak_rss_mib"].fillna(0), **bar)
                for yy, stack in zip(y, stacks, strict=True):
                    if pd.notna(part.loc[stack, "cpu_per_1k_s"]):
                        saturated = part.loc[stack, "saturated"] > 0
                        label = f" {request} {part.loc[stack, 'throughput_rps']:,.0f} req/s"
                        cpu_ax.text(
                            part.loc[stack, "cpu_per_1k_s"], yy,
                            label + ("  ● saturated" if saturated else ""),
                            va="center", fontsize=7.5,
                            fontweight="bold" if saturated else "normal",
                        )  # fmt: skip
            fig.stack_rows(cpu_ax, stacks, f"{mode} mode", "CPU seconds per 1,000 requests")
            fig.stack_rows(rss_ax, stacks, f"{mode} mode", "peak RSS (MiB, all processes)")
            cpu_ax.set_xlim(0, float(rows["cpu_per_1k_s"].max()) * 1.8 or 1)
        figure.suptitle("Server resource use per stack")
        png = fig.to_png(figure)
    caption = (
        "Left: the stack's user+system CPU seconds per 1,000 timed requests (solid the first "
        "request, hatched the others), labelled with the throughput; '● saturated' marks "
        "cells whose CPUs were at least "
        f"{SATURATED:.0%} busy, where the server was the ceiling. Right: the highest summed RSS "
        "of the stack's processes (a page shared by several processes counts in each)."
    )
    return fig.Figure("resources.png", figure.get_suptitle(), caption, png)


def saturation_sentence(summary: pd.DataFrame) -> str:
    """Which rows were server-bound: the evidence that the client was not the ceiling there."""
    bound = summary.loc[summary["saturated"] > 0]
    names = ", ".join(f"{r.mode}/{r.stack}/{r.request}" for r in bound.itertuples())
    crowded = bound.loc[bound["others_busy"] > OTHERS_SHARE]
    return (
        f"The server's CPU was saturated (at least {SATURATED:.0%} busy) in {len(bound)} of "
        f"{len(summary)} rows with resource samples{': ' + names if names else ''}. There the "
        "server was the ceiling; elsewhere it had CPU to spare, so the pace may have been set by "
        "the client, the network or the requests' interval."
        + (
            f" In {len(crowded)} of the saturated rows other processes took more than "
            f"{OTHERS_SHARE:.0%} of the stack's CPUs: the CPU was full, but not with the stack "
            "alone (a shared or busy server)."
            if len(crowded)
            else ""
        )
        + database_sentence(summary)
    )


def database_sentence(summary: pd.DataFrame) -> str:
    """The database-bound rows, when the database was sampled."""
    if "database_bound" not in summary or summary["database_cpu_cores"].isna().all():
        return ""
    bound = summary.loc[summary["database_bound"] > 0]
    names = ", ".join(f"{r.mode}/{r.stack}/{r.request}" for r in bound.itertuples())
    return (
        f" Database-bound (saturated, and PostgreSQL used more of the server's CPU than the "
        f"stack): {len(bound)} row(s){': ' + names if names else ''}."
    )


def missing_note(problems: list[Problem], what: str = "cell(s)") -> str | None:
    """One line for the cells (or ``what``) without resource figures, grouped by cause."""
    if not problems:
        return None
    causes = pd.Series([p.message.removeprefix("no resource figures: ") for p in problems])
    counted = "; ".join(f"{cause} ({count})" for cause, count in causes.value_counts().items())
    return f"{len(problems)} {what} have no server resource figures: {counted}"
