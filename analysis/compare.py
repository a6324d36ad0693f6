"""``python -m analysis compare``: the same stacks across runs (e.g. different hardware).

The first run is the reference. For every mode × stack × method present in it and in another run,
the difference of means gets a Welch 95% confidence interval (unequal variances and sizes); a
difference counts as real only when that interval excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from analysis import figures as fig
from analysis import html as page
from analysis import tables
from analysis.figures import plt  # pyplot, with the Agg backend already selected
from analysis.load import Problem, Run, load_run
from analysis.naming import order_methods, order_modes, order_stacks, stack_colours
from analysis.output import write_bytes, write_csv, write_text
from analysis.stats import KEYS, annotate, sort_rows, summarise, welch_difference

RUN_HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo")


@dataclass
class Comparison:
    runs: list[Run]
    labels: list[str]  # unique display name per run
    table: pd.DataFrame  # one row per run × mode × stack × method
    figures: list[fig.Figure] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for run in self.runs for p in run.problems]


def default_out(runs: list[Path]) -> Path:
    names = "-vs-".join(run.resolve().name for run in runs[:4])
    return runs[0].resolve().parent / f"compare-{names}"


def unique_labels(runs: list[Run]) -> list[str]:
    labels: list[str] = []
    for run in runs:
        label = run.run_id
        suffix = 2
        while label in labels:
            label, suffix = f"{run.run_id} ({suffix})", suffix + 1
        labels.append(label)
    return labels


def success_arrays(run: Run) -> dict[tuple[str, str, str], np.ndarray]:
    ok = run.samples.loc[run.samples["ok"]]
    return {key: part.to_numpy() for key, part in ok.groupby(KEYS, observed=True)["time_s"]}


def compare_runs(runs: list[Run], labels: list[str]) -> pd.DataFrame:
    """Each run's summary rows, with the difference from the first run and its Welch CI."""
    reference = success_arrays(runs[0])
    frames = []
    for run, label in zip(runs, labels, strict=True):
        summary = annotate(summarise(run.samples), run.measurements)
        arrays = success_arrays(run) if run is not runs[0] else reference
        differences = [
            welch_difference(reference[key], arrays[key])
            if key in reference and key in arrays and run is not runs[0]
            else (np.nan, np.nan, np.nan)
            for key in zip(summary["mode"], summary["stack"], summary["method"], strict=True)
        ]
        diff = pd.DataFrame(differences, columns=["diff_s", "diff_ci95_low_s", "diff_ci95_high_s"])
        frames.append(pd.concat([summary.assign(run=label), diff], axis=1))
    table = pd.concat(frames, ignore_index=True)
    excludes_zero = (table["diff_ci95_low_s"] > 0) | (table["diff_ci95_high_s"] < 0)
    table["exceeds_ci"] = excludes_zero
    return sort_rows(table)  # a stable sort: within a stack, runs stay in the order given


def verdict(row: pd.Series, reference: str) -> str:
    if row["run"] == reference:
        return "reference"
    if pd.isna(row["diff_s"]):
        return "not in the reference run"
    if pd.isna(row["diff_ci95_low_s"]):
        return "too few samples"
    low, high = row["diff_ci95_low_s"] * 1000, row["diff_ci95_high_s"] * 1000
    change = f"{row['diff_s'] * 1000:+.3f} ms [{low:+.3f}, {high:+.3f}]"
    if not row["exceeds_ci"]:
        return f"{change}: within noise"
    return f"{change}: {'slower' if row['diff_s'] > 0 else 'faster'}"


def comparison_table(comparison: Comparison, mode: str) -> tables.Table:
    reference = comparison.labels[0]
    rows = comparison.table.loc[comparison.table["mode"] == mode]
    table = tables.Table(
        f"{mode} mode: mean latency per run",
        [
            "Stack & method",
            "Run",
            "Mean (ms)",
            "95% CI (ms)",
            "Median (ms)",
            "p99 (ms)",
            "Failures",
            f"Difference from {reference} (ms), 95% CI",
        ],
        [],
        [
            "A difference is called slower/faster only when its Welch 95% confidence interval "
            "excludes 0."
        ],
    )
    for _, row in rows.iterrows():
        table.rows.append(
            [
                tables.row_label(row),
                row["run"],
                tables.ms(row["mean_s"], 3),
                f"{tables.ms(row['ci95_low_s'], 3)} – {tables.ms(row['ci95_high_s'], 3)}",
                tables.ms(row["median_s"], 3),
                tables.ms(row["p99_s"], 3),
                f"{int(row['failures'])}/{int(row['requests'])}",
                verdict(row, reference),
            ]
        )
    if rows["client_limited"].astype(bool).any():
        table.notes.append(tables.CLIENT_NOTE)
    return table


def significance_sentences(comparison: Comparison) -> list[str]:
    others = comparison.table.loc[comparison.table["diff_s"].notna()]
    real = others.loc[others["exceeds_ci"]]
    lines = [
        f"{len(real)} of {len(others)} differences from {comparison.labels[0]} exceed their 95% "
        "confidence interval (Welch); the others are within run-to-run noise."
    ]
    for _, row in real.iterrows():
        direction = "slower" if row["diff_s"] > 0 else "faster"
        lines.append(
            f"{row['mode']}/{row['stack']}/{row['method']}: {row['run']} is {direction} by "
            f"{abs(row['diff_s']) * 1000:.3f} ms (95% CI {row['diff_ci95_low_s'] * 1000:+.3f} to "
            f"{row['diff_ci95_high_s'] * 1000:+.3f} ms)."
        )
    return lines


def comparison_figure(comparison: Comparison, mode: str) -> fig.Figure:
    """Means per stack, one bar per run (hatch = run, colour = stack), GET and POST side by side."""
    rows = comparison.table.loc[comparison.table["mode"] == mode]
    stacks = order_stacks(rows["stack"].unique())
    methods = order_methods(rows["method"].unique())
    colours = stack_colours(stacks)
    labels = comparison.labels
    height = 0.8 / len(labels)
    with plt.rc_context(fig.STYLE):
        figure, axes = fig.method_axes(len(methods), (0.35 * len(labels) + 0.3) * len(stacks) + 1.6)
        for ax, method in zip(axes, methods, strict=True):
            for index, label in enumerate(labels):
                part = rows.loc[(rows["method"] == method) & (rows["run"] == label)]
                part = part.set_index("stack").reindex(stacks)
                mean = part["mean_s"] * fig.MS
                error = np.vstack(
                    [mean - part["ci95_low_s"] * fig.MS, part["ci95_high_s"] * fig.MS - mean]
                )
                y = np.arange(len(stacks)) - 0.4 + height * (index + 0.5)
                ax.barh(
                    y,
                    mean,
                    height=height * 0.92,
                    color=[colours[s] for s in stacks],
                    hatch=RUN_HATCHES[index % len(RUN_HATCHES)],
                    edgecolor="white",
                    xerr=np.nan_to_num(error),
                    capsize=2,
                    error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
                )
                for yy, stack in zip(y, stacks, strict=True):
                    if index and pd.notna(mean[stack]) and bool(part.loc[stack, "exceeds_ci"]):
                        ax.text(part.loc[stack, "ci95_high_s"] * fig.MS, yy, " *", va="center")
            fig.stack_rows(ax, stacks, method, "mean latency per request (ms), 95% CI")
        legend = [
            Patch(
                facecolor="#999999",
                hatch=RUN_HATCHES[i % len(RUN_HATCHES)],
                edgecolor="white",
                label=label,
            )
            for i, label in enumerate(labels)
        ]
        axes[-1].legend(
            handles=legend, title="run (bar hatch)", loc="upper left", bbox_to_anchor=(1.01, 1.0)
        )
        figure.suptitle(f"Mean latency across runs — {mode} mode")
        figure.supxlabel(f"* the difference from {labels[0]} exceeds its Welch 95% CI", fontsize=9)
        caption = (
            f"Bars: each run's mean with its 95% CI; * marks a difference from {labels[0]} whose "
            "Welch 95% confidence interval excludes 0."
        )
        return fig.Figure(f"compare_{mode}.png", figure.get_suptitle(), caption, fig.to_png(figure))


def device_rows(comparison: Comparison) -> tables.Table:
    rows = [
        tables.device_row(label, run.manifest)
        for run, label in zip(comparison.runs, comparison.labels, strict=True)
    ]
    return tables.Table("Devices", tables.DEVICE_ROW_HEADERS, rows)


def build_comparison(folders: list[Path], out: Path) -> Comparison:
    """Load every run, compare them with the first, write the outputs to ``out``."""
    runs = [load_run(folder, exclude=folder / "report") for folder in folders]
    empty = [str(run.root) for run in runs if run.samples.empty]
    if empty:
        raise ValueError(f"no readable <mode>/<stack>/<METHOD>.csv in {', '.join(empty)}")
    labels = unique_labels(runs)
    comparison = Comparison(runs, labels, compare_runs(runs, labels))
    modes = order_modes(comparison.table["mode"].unique())
    comparison.figures = [comparison_figure(comparison, mode) for mode in modes]
    mode_tables = [comparison_table(comparison, mode) for mode in modes]
    for figure in comparison.figures:
        write_bytes(out / figure.name, figure.png)
    write_csv(out / "compare.csv", comparison.table)
    write_text(out / "compare.md", compare_markdown(comparison, mode_tables))
    write_text(out / "index.html", compare_html(comparison, mode_tables))
    return comparison


def title(comparison: Comparison) -> str:
    return f"httplab comparison: {' vs '.join(comparison.labels)}"


def compare_markdown(comparison: Comparison, mode_tables: list[tables.Table]) -> str:
    parts = [f"# {title(comparison)}", ""]
    parts.extend(f"{sentence}  " for sentence in significance_sentences(comparison))
    parts.extend(["", device_rows(comparison).to_markdown()])
    parts.extend(table.to_markdown() for table in mode_tables)
    parts.extend(f"![{f.title}]({f.name})  \n{f.caption}\n" for f in comparison.figures)
    return "\n".join(parts)


def compare_html(comparison: Comparison, mode_tables: list[tables.Table]) -> str:
    sections = [page.section("Devices", device_rows(comparison).to_html())]
    for table, figure in zip(mode_tables, comparison.figures, strict=True):
        heading = table.title.split(":")[0]
        sections.append(page.section(heading, page.figure_html(figure), table.to_html()))
    runs = zip(comparison.runs, comparison.labels, strict=True)
    return page.render_page(
        title(comparison),
        [f"{label}: {run.root}" for run, label in runs],
        sections,
        warnings=significance_sentences(comparison),
        problems=[str(p) for p in comparison.problems],
    )
