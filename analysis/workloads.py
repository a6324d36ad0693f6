"""The standard workloads in a report: a workload × stack table per mode, a figure per
workload, the workloads a stack was not measured on (it failed their verification) and the
database the run used.

A workload is a built-in test type (bench_client/request.py: json, plaintext, db, queries,
fortunes, updates, io); a database workload measured at a level of connections is a request
of its own (``db-c64``), a column of its own. Each number is the verdict's centre (the
geometric mean of the repetitions' means: what the ranking compares, analysis/verdict.py),
with the share of failed requests beside it. A run without a workload has none of this.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis import figures as fig
from analysis.naming import order_modes, order_requests, order_stacks
from analysis.tables import Table
from bench_client.documents import Status
from bench_client.request import DATABASE_TYPES, WORKLOADS

CENTRE_NOTE = (
    "Each cell: the verdict's centre, the geometric mean of the repetitions' mean latencies (ms; "
    "what the ranking compares), then the share of failed requests. † the client was the limit "
    "in every repetition: the plain mean, not ranked. A column -cN is a database workload at N "
    "connections. 'not measured': the stack failed that workload's verification before timing "
    "(the check is named below). Database-bound: the server's CPU was saturated and PostgreSQL "
    "used more of it than the stack."
)


def workload_of(request: str) -> str | None:
    """The workload a request name measures (``db`` for ``db-c64``), or None."""
    head, _, level = request.rpartition("-c")
    if head in DATABASE_TYPES and level.isdigit():
        return head
    return request if request in WORKLOADS else None


def not_measured(manifest: dict[str, Any] | None) -> pd.DataFrame:
    """The cells recorded not measured: mode, stack, request, repetition, message."""
    rows = [
        {key: entry.get(key) for key in ("mode", "stack", "request", "repetition", "message")}
        for entry in (manifest or {}).get("measurements") or []
        if isinstance(entry, dict) and entry.get("status") == Status.NOT_MEASURED
    ]
    return pd.DataFrame(rows, columns=["mode", "stack", "request", "repetition", "message"])


def has_workloads(summary: pd.DataFrame, manifest: dict[str, Any] | None) -> bool:
    requests = [] if summary.empty else list(summary["request"].unique())
    requests += list(not_measured(manifest)["request"])
    return any(workload_of(str(request)) for request in requests)


def _bound(resources: pd.DataFrame) -> set[tuple[str, str, str]]:
    if resources.empty or "database_bound" not in resources:
        return set()
    rows = resources.loc[resources["database_bound"] > 0]
    return set(zip(rows["mode"], rows["stack"], rows["request"], strict=True))


def _centre(row: pd.Series) -> tuple[float, bool]:
    """The verdict's centre (s), and whether it is the plain mean of a row not ranked."""
    if pd.notna(row.get("rank_mean_s")):
        return float(row["rank_mean_s"]), False
    return float(row["mean_s"]), True


def workload_table(
    summary: pd.DataFrame, mode: str, skipped: pd.DataFrame, bound: set[tuple[str, str, str]]
) -> Table | None:
    """One mode's workload × stack table: stacks as rows (analysis/naming.py's order), each
    workload (and level) a column."""
    rows = summary.loc[(summary["mode"] == mode) & summary["request"].map(workload_of).notna()]
    gaps = skipped.loc[skipped["mode"] == mode]
    requests = order_requests({*rows["request"], *gaps["request"]})
    if not requests:
        return None
    stacks = order_stacks({*rows["stack"], *gaps["stack"]})
    by_key = {(r.stack, r.request): r for _, r in rows.iterrows()}
    checks = {(r.stack, r.request): r.message for r in gaps.itertuples()}
    table = Table(f"Workloads — {mode} mode", ["Stack", *requests], [], [CENTRE_NOTE],
                  label_column=0, numbers=True)  # fmt: skip
    for stack in stacks:
        cells = []
        for request in requests:
            row = by_key.get((stack, request))
            if row is None:
                cells.append("not measured" if (stack, request) in checks else "—")
                continue
            centre, plain = _centre(row)
            text = "—" if np.isnan(centre) else f"{centre * 1000:.2f}{'†' if plain else ''}"
            text += f" ({row['failure_rate']:.1%})"
            if (mode, stack, request) in bound:
                text += " database-bound"
            cells.append(text)
        table.rows.append([stack, *cells])
    return table


def not_measured_table(manifest: dict[str, Any] | None) -> Table | None:
    """Each stack × workload not measured, with the check it failed and how many cells."""
    skipped = not_measured(manifest)
    if skipped.empty:
        return None
    verified = (manifest or {}).get("verification") or {}
    skipped["workload"] = skipped["request"].map(lambda r: workload_of(str(r)) or str(r))
    rows = []
    for (stack, workload), cells in skipped.groupby(["stack", "workload"], sort=False):
        verdict = (verified.get(stack) or {}).get(workload) or {}
        check = verdict.get("failed") or "—"
        detail = verdict.get("detail") or str(cells["message"].iloc[0])
        rows.append([str(stack), str(workload), str(check), detail, str(len(cells))])
    order = {name: i for i, name in enumerate(order_stacks(skipped["stack"].unique()))}
    rows.sort(key=lambda row: (order[row[0]], list(WORKLOADS).index(row[1])
                               if row[1] in WORKLOADS else len(WORKLOADS)))  # fmt: skip
    return Table(
        "Workloads not measured: failed verification before timing",
        ["Stack", "Workload", "Failed check", "Detail", "Cells not measured"],
        rows,
        ["Verified once per stack and run, on the server, by the workload's own rules "
         "(apps/probe.py); a resume verifies again and measures what then passes."],
        label_column=0,
    )  # fmt: skip


def database_table(manifest: dict[str, Any] | None) -> Table | None:
    """The run's database: what PostgreSQL recorded about itself (version, settings, where it
    ran) and World's state at each repetition."""
    data = manifest or {}
    facts = ((data.get("hosts") or {}).get("server") or {}).get("database")
    reseeds = (data.get("database") or {}).get("reseeds") or []
    if not facts and not reseeds:
        return None
    rows = []
    if isinstance(facts, dict):
        for key in ("engine", "version", "package", "cluster", "host", "on_server", "port"):
            if key in facts:
                rows.append([key, str(facts[key])])
        for name, value in sorted((facts.get("settings") or {}).items()):
            rows.append([f"setting {name}", str(value)])
    else:
        rows.append(["facts", "none recorded (no postgres.json on the server)"])
    for entry in reseeds:
        state = (
            f"{entry.get('world_rows'):,} rows, sum {entry.get('world_sum'):,}"
            if entry.get("ok")
            else f"failed: {entry.get('problem')}"
        )
        rows.append([f"World, repetition {entry.get('repetition')}", f"{entry['action']}: {state}"])
    return Table("Database", ["What", "Value"], rows, label_column=0)


def workload_figure_jobs(
    summary: pd.DataFrame,
    manifest: dict[str, Any] | None,
    resources: pd.DataFrame,
    colours: dict[str, str],
) -> list[fig.FigureJob]:
    """One figure per workload measured, in the workloads' order."""
    if summary.empty:
        return []
    present = {workload_of(str(r)) for r in summary["request"].unique()} - {None}
    skipped, bound = not_measured(manifest), _bound(resources)
    return [
        partial(workload_figure, name, summary, skipped, bound, colours)
        for name in WORKLOADS
        if name in present
    ]


def workload_figure(
    workload: str,
    summary: pd.DataFrame,
    skipped: pd.DataFrame,
    bound: set[tuple[str, str, str]],
    colours: dict[str, str],
) -> fig.Figure:
    """A panel per mode (and level) of one workload: each stack's centre as a bar, stacks in
    naming.py's order, labelled with the failure rate; 'not measured' where it failed its
    verification."""
    rows = summary.loc[summary["request"].map(workload_of) == workload]
    gaps = skipped.loc[skipped["request"].map(lambda r: workload_of(str(r))) == workload]
    panels = [
        (mode, request)
        for mode in order_modes({*rows["mode"], *gaps["mode"]})
        for request in order_requests(
            {*rows.loc[rows["mode"] == mode, "request"], *gaps.loc[gaps["mode"] == mode, "request"]}
        )
    ]
    stacks = order_stacks({*rows["stack"], *gaps["stack"]})
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 0.5 * len(stacks) + 1.8),
        sharey=True, squeeze=False, layout="constrained",
    )  # fmt: skip
    for ax, (mode, request) in zip(axes[0], panels, strict=True):
        top = 0.0
        part = rows.loc[(rows["mode"] == mode) & (rows["request"] == request)].set_index("stack")
        missing = set(gaps.loc[(gaps["mode"] == mode) & (gaps["request"] == request), "stack"])
        for index, stack in enumerate(stacks):
            if stack not in part.index:
                why = "not measured (failed verification)" if stack in missing else "—"
                ax.text(0, index, f"  {why}", va="center", fontsize=8, color="#777777")
                continue
            row = part.loc[stack]
            centre, plain = _centre(row)
            value = 0.0 if np.isnan(centre) else centre * fig.MS
            top = max(top, value)
            ax.barh(index, value, color=colours.get(stack, "#555555"),
                    hatch="//" if plain else "")  # fmt: skip
            label = f"  {value:.2f} ms, {row['failure_rate']:.1%} failed"
            if (mode, stack, request) in bound:
                label += ", database-bound"
            ax.text(value, index, label, va="center", fontsize=8)
        fig.stack_rows(ax, stacks, f"{mode} · {request}", "latency, the verdict's centre (ms)")
        ax.set_xlim(0, (top or 1.0) * 1.9)
    figure.suptitle(f"Workload {workload}: {WORKLOADS[workload].path}")
    caption = (
        f"The {workload} workload ({WORKLOADS[workload].path}) per mode and level of "
        "connections: each stack's verdict centre (geometric mean of the repetitions' means), "
        "labelled with its share of failed requests; hatched: the client was the limit (plain "
        "mean, not ranked)."
    )
    return fig.Figure(
        f"workload_{workload}.png", figure.get_suptitle(), caption, fig.to_png(figure)
    )


def workload_tables(
    summary: pd.DataFrame, manifest: dict[str, Any] | None, resources: pd.DataFrame
) -> list[Table]:
    """The report's workload section: each mode's table, the workloads not measured, the
    database."""
    if not has_workloads(summary, manifest):
        return []
    skipped, bound = not_measured(manifest), _bound(resources)
    modes = order_modes({*([] if summary.empty else summary["mode"]), *skipped["mode"]})
    found = [workload_table(summary, mode, skipped, bound) for mode in modes]
    extra = [not_measured_table(manifest), database_table(manifest)]
    return [t for t in [*found, *extra] if t is not None]
