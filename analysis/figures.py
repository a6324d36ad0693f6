"""The report's figures as PNG bytes: the paper's Fig. 6-11, percentiles, failures, rankings.

Every figure puts GET and POST side by side, shows latency in milliseconds and gives each stack
the same colour (analysis.naming). Long series are summarised, never silently thinned: a line plot
of more than MAX_LINE_POINTS requests shows bin medians with a 10-90th percentile band, and says so.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.naming import order_modes, order_requests, order_stacks, stack_colours
from analysis.paper import PAPER_TABLE_OF_MODE, RankAgreement, rank_agreement
from analysis.verdict import in_verdict_order

MS = 1000.0
MAX_LINE_POINTS = 2000  # above this a series is drawn as bins
LINE_BINS = 400
DPI = 110
PERCENTILES = np.concatenate([np.linspace(0, 0.9, 91), 1 - np.logspace(-1, -3, 41)[1:]])
PAPER_FIGURE = {
    ("means", "constant"): "paper Fig. 6",
    ("means", "concurrent"): "paper Fig. 7",
    ("iterations", "constant"): "paper Fig. 8",
    ("iterations", "concurrent"): "paper Fig. 9",
    ("boxplot", "constant"): "paper Fig. 10",
    ("boxplot", "concurrent"): "paper Fig. 11",
}
STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "font.size": 9.5,
    "axes.titlesize": 11,
    "figure.titlesize": 13,
    "legend.frameon": False,
}
ms_formatter = FuncFormatter(lambda value, _: f"{value:g}")


@dataclass(frozen=True)
class Figure:
    name: str  # file name, e.g. means_constant.png
    title: str
    caption: str
    png: bytes


def log_ms_axis(axis: Axis) -> None:
    """Log scale labelled 1, 2, 5, 10, 20, 50 ... ms instead of powers of ten."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ms_formatter)
    axis.set_minor_formatter(NullFormatter())


def to_png(figure: MplFigure) -> bytes:
    """One draw: the figures' constrained layout already fits titles, labels and outside
    legends into the figure (bbox_inches="tight" would draw every figure a second time)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def flag_label(row: pd.Series) -> str:
    """A short warning to print beside a stack's number."""
    flags = []
    if row.get("client_limited"):
        flags.append("client-limited")
    if row.get("nagle_suspect"):
        flags.append("~40 ms Nagle?")
    return "  [" + ", ".join(flags) + "]" if flags else ""


# Panels side by side at most: more requests (the workloads and their levels) wrap to rows.
PANELS_PER_ROW = 4


def panel_grid(
    count: int, width: float, height: float, **options: object
) -> tuple[MplFigure, list[Axes]]:
    """``count`` panels of ``width`` × ``height`` inches, side by side up to PANELS_PER_ROW
    and then in rows, in reading order; panels left over are not drawn."""
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // columns)
    figure, grid = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False,
        layout="constrained", **options,
    )  # fmt: skip
    axes = list(grid.flat)
    for spare in axes[count:]:
        spare.set_visible(False)
    return figure, axes[:count]


def request_axes(count: int, height: float) -> tuple[MplFigure, list[Axes]]:
    """One panel per request, side by side (in rows past PANELS_PER_ROW), sharing the y axis."""
    return panel_grid(count, 6.2, height, sharey=True)


def stack_rows(ax: Axes, stacks: list[str], title: str, xlabel: str) -> None:
    """Stacks as rows, the first on top, with the panel's title and x label."""
    ax.set_yticks(np.arange(len(stacks)), stacks)
    ax.set_ylim(len(stacks) - 0.5, -0.5)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)


FigureJob = Callable[[], Figure]  # picklable (functools.partial of a module function)


def report_figure_jobs(samples: pd.DataFrame, summary: pd.DataFrame) -> list[FigureJob]:
    """Every figure of a report, in reading order, to be drawn by ``draw``."""
    colours = stack_colours(summary["stack"].unique())
    jobs: list[FigureJob] = []
    for mode in order_modes(summary["mode"].unique()):
        rows = summary.loc[summary["mode"] == mode]
        in_mode = samples.loc[samples["mode"] == mode]
        ok = in_mode.loc[in_mode["ok"]]
        jobs.append(partial(means_figure, mode, rows, colours))
        jobs.append(partial(iterations_figure, mode, in_mode, colours))
        jobs.append(partial(boxplot_figure, mode, ok, rows, colours))
        jobs.append(partial(percentiles_figure, mode, ok, colours))
    jobs.append(partial(failures_figure, summary, colours))
    for mode in PAPER_TABLE_OF_MODE:
        agreement = rank_agreement(summary, mode)
        if agreement is not None and mode in set(summary["mode"]):
            jobs.append(partial(ranking_figure, agreement, colours))
    return jobs


def render_report(samples: pd.DataFrame, summary: pd.DataFrame) -> list[Figure]:
    """Every figure of a report, in reading order."""
    return draw(report_figure_jobs(samples, summary))


def _styled(job: FigureJob) -> Figure:
    with plt.rc_context(STYLE):
        return job()


def draw(jobs: list[FigureJob]) -> list[Figure]:
    """The figures of ``jobs`` in their order. Drawing is most of a report's time and is
    CPU-bound Python (threads would take turns), so each core draws some in its own process
    where the platform forks them by default (Linux): a forked worker inherits the imported
    matplotlib at no cost, where a spawned one would import it again."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2 or multiprocessing.get_start_method() != "fork":
        return [_styled(job) for job in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_styled, jobs))


def _title(kind: str, mode: str, text: str) -> str:
    paper = PAPER_FIGURE.get((kind, mode))
    return f"{text} — {mode} mode" + (f" ({paper})" if paper else "")


def means_figure(mode: str, rows: pd.DataFrame, colours: dict[str, str]) -> Figure:
    """Mean latency per stack with its 95% confidence interval (paper Fig. 6/7), each request's
    stacks in the verdict's order (fastest on top) with their rank."""
    requests = order_requests(rows["request"].unique())
    tallest = int(rows.groupby("request", observed=True).size().max())
    figure, grid = panel_grid(len(requests), 6.2, 0.55 * tallest + 1.6)
    right = (rows["ci95_high_s"].fillna(rows["mean_s"]).max() or 0) * MS
    for ax, request in zip(grid, requests, strict=True):
        part = in_verdict_order(rows.loc[rows["request"] == request]).set_index("stack")
        stacks = list(part.index)
        mean = part["mean_s"] * MS
        error = np.vstack([mean - part["ci95_low_s"] * MS, part["ci95_high_s"] * MS - mean])
        error = np.clip(np.nan_to_num(error), 0, None)  # a bootstrap interval may miss the mean
        ax.barh(
            np.arange(len(stacks)),
            mean.fillna(0),
            color=[colours[s] for s in stacks],
            xerr=error,
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
        for index, stack in enumerate(stacks):
            row = part.loc[stack]
            if row["client_limited"]:
                ax.patches[index].set_hatch("//")
            if pd.isna(mean[stack]):
                label, end = "no successful request", 0.0
            else:
                rank = f"  rank {row['rank']}" if row["rank"] else ""
                label = f"{mean[stack]:.2f} ms{rank}" + flag_label(row)
                end = mean[stack] + error[1][index]
            ax.text(end + right * 0.02, index, label, va="center", fontsize=8.5)
        ax.set_xlim(0, right * 1.6)
        stack_rows(ax, stacks, request, "mean latency per request (ms); whisker = 95% CI")
    figure.suptitle(_title("means", mode, "Mean latency"))
    caption = (
        "Mean over successful requests; error bars are 95% intervals of the mean from the "
        "repetitions (a block bootstrap within a run of one repetition; docs/results.md). Each "
        "request's stacks in the verdict's order, fastest on top, with the verdict's rank. "
        "Hatched bars: the client, not the server, was the bottleneck."
    )
    return Figure(f"means_{mode}.png", figure.get_suptitle(), caption, to_png(figure))


def _binned(series: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Median and 10-90th percentile band of consecutive requests, per stack and request."""
    width = max(1, int(np.ceil(series["iteration"].max() / LINE_BINS)))
    binned = series.assign(bin=(series["iteration"] - 1) // width)
    grouped = binned.groupby(["stack", "request", "bin"], observed=True)["time_s"]
    table = grouped.quantile([0.1, 0.5, 0.9]).unstack()
    table.columns = ["p10", "p50", "p90"]
    table = table.reset_index()
    table["iteration"] = table["bin"] * width + (width + 1) / 2
    return table, width


def iterations_figure(mode: str, samples: pd.DataFrame, colours: dict[str, str]) -> Figure:
    """Latency of each request in order, one small panel per stack and request (paper Fig. 8/9)."""
    first = samples.loc[samples["repetition"] == 1]
    stacks = order_stacks(first["stack"].unique())
    requests = order_requests(first["request"].unique())
    ok = first.loc[first["ok"]]
    longest = int(first.groupby(["stack", "request"], observed=True).size().max())
    binned = longest > MAX_LINE_POINTS
    figure, grid = plt.subplots(
        len(stacks),
        len(requests),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
        figsize=(6.2 * len(requests), 1.25 * len(stacks) + 1.3),
    )
    if binned:
        lines, width = _binned(ok)
        top = float(lines["p90"].max()) * MS * 1.2 if len(lines) else 1.0
        note = (
            f"{longest:,} requests per series: line = median of each {width} consecutive "
            f"requests, band = their 10th-90th percentile"
        )
    else:
        lines = ok
        top = float(ok["time_s"].quantile(0.995)) * MS * 1.25 if len(ok) else 1.0
        note = f"every request shown; y axis cut at {top:.1f} ms (99.5th percentile + 25%)"
    failures = first.loc[~first["ok"], ["stack", "request", "iteration"]]
    for row, stack in enumerate(stacks):
        for column, request in enumerate(requests):
            ax = grid[row][column]
            part = lines.loc[(lines["stack"] == stack) & (lines["request"] == request)]
            colour = colours[stack]
            if binned:
                ax.fill_between(
                    part["iteration"],
                    part["p10"] * MS,
                    part["p90"] * MS,
                    color=colour,
                    alpha=0.3,
                    linewidth=0,
                )
                ax.plot(part["iteration"], part["p50"] * MS, color=colour, linewidth=1.2)
            else:
                ax.plot(part["iteration"], part["time_s"] * MS, color=colour, linewidth=0.7)
            lost = failures.loc[(failures["stack"] == stack) & (failures["request"] == request)]
            if len(lost):
                ax.plot(
                    lost["iteration"],
                    np.full(len(lost), top * 0.97),
                    "|",
                    color="#c00000",
                    markersize=4,
                    alpha=0.5,
                )
                ax.text(
                    1.0,
                    1.0,
                    f"{len(lost):,} failed (red ticks)",
                    transform=ax.transAxes,
                    ha="right",
                    va="bottom",
                    fontsize=8,
                    color="#c00000",
                )
            ax.set_ylim(0, top)
            if row == 0:
                ax.set_title(request, loc="left", fontweight="bold")
            if column == 0:
                ax.set_ylabel(
                    stack, rotation=0, ha="right", va="center", color=colour, fontweight="bold"
                )
    figure.suptitle(_title("iterations", mode, "Latency of each request in order (ms)"))
    figure.supxlabel(f"request number\n{note}", fontsize=9)
    caption = "Per-request latency in ms over the run (repetition 1). " + note + "."
    return Figure(f"iterations_{mode}.png", figure.get_suptitle(), caption, to_png(figure))


def boxplot_figure(
    mode: str, ok: pd.DataFrame, rows: pd.DataFrame, colours: dict[str, str]
) -> Figure:
    """Distribution per stack: box = quartiles, whiskers = 1.5·IQR, dots = outliers (Fig. 10/11)."""
    stacks = order_stacks(rows["stack"].unique())
    requests = order_requests(rows["request"].unique())
    figure, axes = request_axes(len(requests), 0.55 * len(stacks) + 1.6)
    groups = {
        key: part.to_numpy() * MS
        for key, part in ok.groupby(["stack", "request"], observed=True)["time_s"]
    }
    for ax, request in zip(axes, requests, strict=True):
        present = [s for s in stacks if (s, request) in groups]
        data = [groups[(s, request)] for s in present]
        if data:
            boxes = ax.boxplot(
                data,
                positions=[stacks.index(s) for s in present],
                orientation="horizontal",
                whis=1.5,
                widths=0.6,
                patch_artist=True,
                medianprops={"color": "black"},
                flierprops={"marker": ".", "markersize": 2, "alpha": 0.3},
            )
            for patch, stack in zip(boxes["boxes"], present, strict=True):
                patch.set_facecolor(colours[stack])
                patch.set_alpha(0.85)
        ax.set_xscale("log")
        log_ms_axis(ax.xaxis)
        stack_rows(ax, stacks, request, "latency per request (ms, log scale)")
    figure.suptitle(_title("boxplot", mode, "Latency distribution"))
    caption = (
        "Box: quartiles and median; whiskers reach the furthest sample within 1.5·IQR; dots are "
        "the outliers counted in the tables. Successful requests only."
    )
    return Figure(f"boxplot_{mode}.png", figure.get_suptitle(), caption, to_png(figure))


def _nines(p: np.ndarray) -> np.ndarray:
    """Position on a 'nines' axis: 90% -> 1, 99% -> 2, 99.9% -> 3."""
    return -np.log10(1 - np.minimum(p, 0.99999))


def percentiles_figure(mode: str, ok: pd.DataFrame, colours: dict[str, str]) -> Figure:
    """Latency at each percentile, tail stretched (90th, 99th, 99.9th equally spaced)."""
    requests = order_requests(ok["request"].unique()) or ["GET"]
    figure, axes = request_axes(len(requests), 4.2)
    grouped = ok.groupby(["stack", "request"], observed=True)["time_s"]
    curves = grouped.quantile(PERCENTILES).rename("time_s").reset_index()
    curves = curves.rename(columns={curves.columns[2]: "p"})
    sizes = grouped.size()
    for ax, request in zip(axes, requests, strict=True):
        for stack in order_stacks(ok["stack"].unique()):
            if (stack, request) not in sizes.index:
                continue
            # A percentile beyond 1 - 1/n is not measured by n samples; do not draw it.
            part = curves.loc[
                (curves["stack"] == stack)
                & (curves["request"] == request)
                & (curves["p"] <= 1 - 1 / sizes[(stack, request)])
            ]
            ax.plot(
                _nines(part["p"].to_numpy()),
                part["time_s"] * MS,
                color=colours[stack],
                linewidth=1.6,
                label=stack,
            )
        ticks = np.array([0, 0.5, 0.9, 0.99, 0.999])
        ax.set_xticks(_nines(ticks), ["0", "50", "90", "99", "99.9"])
        ax.set_yscale("log")
        log_ms_axis(ax.yaxis)
        ax.set_title(request)
        ax.set_xlabel("percentile (%)")
    axes[0].set_ylabel("latency (ms, log scale)")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"Latency by percentile — {mode} mode")
    caption = (
        "Latency (log scale) at each percentile of successful requests; the tail is stretched so "
        "that the 90th, 99th and 99.9th percentiles are equally spaced."
    )
    return Figure(f"percentiles_{mode}.png", figure.get_suptitle(), caption, to_png(figure))


HATCHES = ("", "///", "xxx", "...", "\\\\\\", "+++")


def request_bars(requests: list[str], band: float = 0.76) -> list[tuple[float, str, str]]:
    """(offset, request, hatch) of each request's bar in a stack's band of ``band``: solid for
    the first request (the paper's GET), hatched for the others."""
    height = band / max(len(requests), 1)
    return [
        ((index + 0.5) * height - band / 2, request, HATCHES[index % len(HATCHES)])
        for index, request in enumerate(requests)
    ]


def request_legend(requests: list[str]) -> list[Patch]:
    return [
        Patch(facecolor="#888888", hatch=hatch, edgecolor="white", label=request)
        for _, request, hatch in request_bars(requests)
    ]


def failures_figure(summary: pd.DataFrame, colours: dict[str, str]) -> Figure:
    """Share of failed requests per stack, each request side by side, one panel per mode."""
    modes = order_modes(summary["mode"].unique())
    stacks = order_stacks(summary["stack"].unique())
    figure, axes = plt.subplots(
        1,
        len(modes),
        figsize=(5.2 * len(modes), 0.55 * len(stacks) + 1.8),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    requests = order_requests(summary["request"].unique())
    height = 0.76 / len(requests)
    top = max(float(summary["failure_rate"].max() * 100), 1.0)
    for ax, mode in zip(axes[0], modes, strict=True):
        rows = summary.loc[summary["mode"] == mode]
        for offset, request, hatch in request_bars(requests):
            part = rows.loc[rows["request"] == request].set_index("stack").reindex(stacks)
            rate = part["failure_rate"].fillna(0) * 100
            y = np.arange(len(stacks)) + offset
            ax.barh(
                y,
                rate,
                height=height,
                color=[colours[s] for s in stacks],
                hatch=hatch,
                edgecolor="white",
            )
            for yy, stack in zip(y, stacks, strict=True):
                if pd.notna(part.loc[stack, "requests"]):
                    ax.text(
                        rate[stack] + top * 0.02,
                        yy,
                        f"{request} {int(part.loc[stack, 'failures']):,}"
                        f"/{int(part.loc[stack, 'requests']):,}",
                        va="center",
                        fontsize=7.5,
                    )
        ax.set_xlim(0, top * 1.5)
        stack_rows(ax, stacks, f"{mode} mode", "failed requests (%)")
    legend = request_legend(requests)
    axes[0][-1].legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    total = int(summary["failures"].sum())
    figure.suptitle("Failed requests" + ("" if total else " — none in this run"))
    caption = (
        "Timeouts, refused or reset connections, non-2xx answers and, in paper-format CSVs, "
        "0 s entries, as a share of all requests; labels give failed/total."
    )
    return Figure("failure_rate.png", figure.get_suptitle(), caption, to_png(figure))


def ranking_figure(agreement: RankAgreement, colours: dict[str, str]) -> Figure:
    """The paper's ranking (left) against this run's (right), one panel per request, one line
    per stack: the verdict's order and ranks, as in the mode's table."""
    requests = order_requests(agreement.rows["request"].unique())
    tallest = int(agreement.rows.groupby("request").size().max())
    figure, grid = plt.subplots(
        1,
        len(requests),
        figsize=(8.2 * len(requests), 0.42 * tallest + 1.8),
        squeeze=False,
        layout="constrained",
    )
    for ax, request in zip(grid[0], requests, strict=True):
        rows = agreement.rows.loc[agreement.rows["request"] == request].copy()
        # Tied ranks get the order in which the paper printed them, so that no two labels overlap.
        rows["left"] = rows["paper_mean_s"].rank(method="first")
        rows["right"] = rows["rank_mean_s"].where(~rows["excluded"]).rank(method="first")
        for row in rows.itertuples():
            colour = colours.get(row.stack, "#555555")
            ax.text(
                -0.03,
                row.left,
                f"{row.stack}  {row.paper_mean_s * MS:.2f} ms",
                ha="right",
                va="center",
                color=colour,
                fontsize=8.5,
            )
            if pd.isna(row.right):
                why = "client-limited, not ranked" if pd.notna(row.mean_s) else "not in this run"
                ax.text(0.03, row.left, f"({why})", va="center", fontsize=7.5, color="#777777")
                continue
            ax.plot([0, 1], [row.left, row.right], color=colour, linewidth=1.8, marker="o")
            ax.text(
                1.03,
                row.right,
                f"{row.rank}  {row.stack}  {row.mean_s * MS:.2f} ms",
                va="center",
                color=colour,
                fontsize=8.5,
            )
        ax.set_xlim(-1.0, 2.0)
        ax.set_ylim(len(rows) + 0.5, 0.5)
        ax.set_xticks([0, 1], [f"the paper ({PAPER_TABLE_OF_MODE[agreement.mode]})", "this run"])
        ax.xaxis.tick_top()
        ax.set_yticks([])
        ax.set_title(request, loc="left", fontweight="bold")
        ax.grid(False)
        for side in ("left", "bottom", "top"):
            ax.spines[side].set_visible(False)
    figure.suptitle(f"Ranking by mean latency, fastest on top — {agreement.mode} mode")
    note = "  This run: the verdict's order and rank (as in the table)."
    figure.supxlabel(agreement.sentence() + note, fontsize=8.5, wrap=True)
    name = f"ranking_{agreement.mode}.png"
    return Figure(name, figure.get_suptitle(), agreement.sentence() + note, to_png(figure))
