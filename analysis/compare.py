"""``httplab compare``: the same stacks across runs (e.g. different hardware).

The first run is the reference. For every mode × stack × request present in it and in another run,
the difference of means gets an interval judged at the level of repetitions: Welch's t over the
two runs' repetition means when both have two or more repetitions (the default), else a normal
interval from within-run block-bootstrap standard errors, which cannot see run-to-run noise
(analysis/intervals.py). The cells of one run are compared together, so the intervals are widened
for their number (Benjamini–Hochberg calls, Benjamini–Yekutieli intervals): two runs that do not
differ get "indistinguishable" in every cell in about 19 comparisons of 20, not one cell in twenty.
A difference counts as real only when its interval excludes 0; it is then stated as
"x% slower/faster [CI]", otherwise as "indistinguishable".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from analysis import figures as fig
from analysis import html as page
from analysis import tables
from analysis.compare_verdict import CompareVerdict, compare_verdict
from analysis.figures import plt  # pyplot, with the Agg backend already selected
from analysis.hardware import differences, hardware
from analysis.intervals import (
    WELCH,
    CellInterval,
    difference,
    selection_adjusted_confidence,
)
from analysis.load import Run, load_run
from analysis.naming import order_modes, order_requests, order_stacks, stack_colours, use_stacks
from analysis.output import write_csv
from analysis.problems import NothingToAnalyse, Problem
from analysis.ranking import ranked_summary
from analysis.sanitize import markdown_cell
from analysis.shift import beyond_shift
from analysis.stats import cell_intervals, sort_rows
from analysis.verdict import VERDICT_JSON, Verdict, json_safe
from bench_client.results_format import write_atomic

RUN_HATCHES = ("", "///", "...", "xxx", "\\\\\\", "ooo")
Key = tuple[str, str, str]  # mode, stack, request
Cells = dict[Key, CellInterval]


@dataclass
class Comparison:
    runs: list[Run]
    labels: list[str]  # unique display name per run
    table: pd.DataFrame  # one row per run × mode × stack × request
    figures: list[fig.Figure] = field(default_factory=list)
    verdict: CompareVerdict | None = None

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


@dataclass(frozen=True)
class RunSummary:
    """One run of a comparison: its summary, its own verdicts and its cells' intervals."""

    summary: pd.DataFrame
    verdicts: list[Verdict]
    cells: dict[Key, CellInterval]


def summarise_run(run: Run) -> RunSummary:
    cells = cell_intervals(run.samples)
    summary, verdicts = ranked_summary(run.samples, run.measurements, cells)
    return RunSummary(summary, verdicts, cells)


def compare_runs(
    runs: list[Run], labels: list[str], summaries: list[RunSummary] | None = None
) -> pd.DataFrame:
    """Each run's summary rows, with the difference from the first run and its interval, at the
    confidence level adjusted for the number of cells compared (selection_adjusted_confidence)."""
    summaries = summaries or [summarise_run(run) for run in runs]
    reference = summaries[0].cells
    frames = []
    for index, (found, label) in enumerate(zip(summaries, labels, strict=True)):
        summary, cells = found.summary, found.cells
        keys = list(zip(summary["mode"], summary["stack"], summary["request"], strict=True))
        rows = [] if index == 0 else difference_rows(reference, cells, keys)
        shifted = [] if index == 0 else shift_rows(reference, cells, keys)
        frames.append(
            pd.concat(
                [summary.assign(run=label), pd.DataFrame(rows), pd.DataFrame(shifted)], axis=1
            )
        )
    table = pd.concat(frames, ignore_index=True).reindex(
        columns=[*frames[0].columns, *DIFFERENCE_COLUMNS, *SHIFT_COLUMNS]
    )
    table["exceeds_ci"] = (table["diff_ci95_low_s"] > 0) | (table["diff_ci95_high_s"] < 0)
    table["beyond_shift"] = (table["beyond_shift_pct_ci95_low"] > 0) | (
        table["beyond_shift_pct_ci95_high"] < 0
    )
    table["verdict"] = [verdict(row, labels[0]) for _, row in table.iterrows()]
    table["shift_verdict"] = [shift_verdict(row) for _, row in table.iterrows()]
    return sort_rows(table)  # a stable sort: within a stack, runs stay in the order given


DIFFERENCE_COLUMNS = [
    "diff_s",
    "diff_ci95_low_s",
    "diff_ci95_high_s",
    "diff_pct",
    "diff_pct_ci95_low",
    "diff_pct_ci95_high",
    "diff_method",
    "diff_p_value",
    "diff_ci_level",
]


SHIFT_COLUMNS = [
    "shift_pct",
    "beyond_shift_pct",
    "beyond_shift_pct_ci95_low",
    "beyond_shift_pct_ci95_high",
    "beyond_shift_p_value",
    "beyond_shift_ci_level",
]


def shift_rows(
    reference: dict[Key, CellInterval], cells: dict[Key, CellInterval], keys: list[Key]
) -> list[dict[str, object]]:
    """The SHIFT_COLUMNS of one run's cells (``keys``): each against its mode's run-wide shift."""
    found = beyond_shift(reference, cells, keys)
    return [
        {
            "shift_pct": cell.shift_pct,
            "beyond_shift_pct": cell.pct,
            "beyond_shift_pct_ci95_low": cell.low_pct,
            "beyond_shift_pct_ci95_high": cell.high_pct,
            "beyond_shift_p_value": cell.p_value,
            "beyond_shift_ci_level": cell.level,
        }
        if (cell := found.get(key))
        else {}
        for key in keys
    ]


def difference_rows(
    reference: dict[Key, CellInterval], cells: dict[Key, CellInterval], keys: list[Key]
) -> list[dict[str, object]]:
    """The DIFFERENCE_COLUMNS of one run's cells (``keys``) against the reference run's.

    All the run's cells are one family: first their p-values, then every interval at the level
    that keeps false calls among them rare (selection_adjusted_confidence)."""
    pairs = [(reference.get(key), cells.get(key)) for key in keys]
    p_values = [difference(a, b).p_value for a, b in pairs if a is not None and b is not None]
    level = selection_adjusted_confidence(np.array(p_values, dtype=float))
    return [difference_row(a, b, level) for a, b in pairs]


def difference_row(
    a: CellInterval | None, b: CellInterval | None, level: float
) -> dict[str, object]:
    """The DIFFERENCE_COLUMNS of cell b against the same cell a of the reference run."""
    if a is None or b is None:
        return {}
    found = difference(a, b, level)
    base = a.repetition_means.mean()  # percent of the reference's mean, what the interval tests
    return {
        "diff_s": found.diff_s,
        "diff_ci95_low_s": found.low_s,
        "diff_ci95_high_s": found.high_s,
        "diff_pct": found.diff_s / base * 100,
        "diff_pct_ci95_low": found.low_s / base * 100,
        "diff_pct_ci95_high": found.high_s / base * 100,
        "diff_method": found.method,
        "diff_p_value": found.p_value,
        "diff_ci_level": level,
    }


def verdict(row: pd.Series, reference: str) -> str:
    """ "12.3% slower [5.1%, 19.5%]", "indistinguishable (+1.2% [-3.0%, +5.4%])" or why neither."""
    if row["run"] == reference:
        return "reference"
    if pd.isna(row["diff_s"]):
        return "not in the reference run"
    if pd.isna(row["diff_ci95_low_s"]):
        return "no interval (too few successes)"
    interval = f"[{row['diff_pct_ci95_low']:+.1f}%, {row['diff_pct_ci95_high']:+.1f}%]"
    if not row["exceeds_ci"]:
        return f"indistinguishable ({row['diff_pct']:+.1f}% {interval})"
    direction = "slower" if row["diff_s"] > 0 else "faster"
    return f"{abs(row['diff_pct']):.1f}% {direction} {interval}"


def shift_verdict(row: pd.Series) -> str:
    """ "in step with the run-wide shift of +25.6% (−3.1% [−15.0%, +10.2%])", "12.3% slower than
    the run-wide shift of +25.6% [+5.1%, +19.5%]", or "" where the mode has no shift."""
    if pd.isna(row.get("beyond_shift_pct")):
        return ""
    shift = f"the run-wide shift of {row['shift_pct']:+.1f}%"
    interval = (
        f"[{row['beyond_shift_pct_ci95_low']:+.1f}%, {row['beyond_shift_pct_ci95_high']:+.1f}%]"
    )
    if not row["beyond_shift"]:
        return f"in step with {shift} ({row['beyond_shift_pct']:+.1f}% {interval})"
    direction = "slower" if row["beyond_shift_pct"] > 0 else "faster"
    return f"{abs(row['beyond_shift_pct']):.1f}% {direction} than {shift} {interval}"


SHIFT_NOTE = (
    "Against the run-wide shift: the mean change of the mode's cells, and whether this cell "
    "changed more or less than the other cells did (their shift left out the cell itself; "
    "intervals widened for the cells compared). Cells in step with the shift moved with the "
    "machine or its conditions, not on their own. Where many stacks change unevenly, the shift "
    "is their average."
)


def comparison_table(comparison: Comparison, mode: str) -> tables.Table:
    reference = comparison.labels[0]
    rows = comparison.table.loc[comparison.table["mode"] == mode]
    table = tables.Table(
        f"{mode} mode: mean latency per run",
        [
            "Stack & request",
            "Run",
            "Mean (ms)",
            "95% CI (ms)",
            "Median (ms)",
            "p99 (ms)",
            "Failures",
            f"Against {reference}, 95% CI",
        ],
        [],
        [
            "Against the reference: the difference of means in percent of the reference's mean, "
            "called slower/faster only when its interval excludes 0 (Welch's t over the "
            "repetition means; with a single repetition, within-run bootstrap errors that cannot "
            "see run-to-run noise). The intervals are widened for the number of cells compared "
            "(Benjamini–Yekutieli), so that false calls stay at 5% of the cells called."
        ],
    )
    shifted = rows["shift_verdict"].astype(bool).any()
    if shifted:
        table.headers.append("Against the run-wide shift, 95% CI")
        table.notes.append(SHIFT_NOTE)
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
                row["verdict"],
                *([row["shift_verdict"]] if shifted else []),
            ]
        )
    if rows["client_limited"].astype(bool).any():
        table.notes.append(tables.CLIENT_NOTE)
    return table


def significance_sentences(comparison: Comparison) -> list[str]:
    others = comparison.table.loc[comparison.table["diff_s"].notna()]
    real = others.loc[others["exceeds_ci"]]
    levels = ", ".join(
        f"{level:.1%}" if len(comparison.runs) == 2 else f"{level:.1%} for {run}"
        for run, level in others.groupby("run", sort=False)["diff_ci_level"].first().items()
    )
    lines = [
        f"{len(real)} of {len(others)} cells differ from {comparison.labels[0]} beyond their "
        f"interval; the others are indistinguishable from it. The intervals are at the "
        f"{levels} level: widened for the number of cells compared, so that in two runs where "
        "nothing differs all cells are called indistinguishable 19 times in 20 "
        "(Benjamini–Hochberg and Benjamini–Yekutieli; docs/method.md)."
    ]
    lines.extend(shift_sentences(others))
    within_run = others.loc[others["diff_method"] != WELCH]
    if not within_run.empty:
        lines.append(
            f"{len(within_run)} of these differences involve a run with a single repetition: "
            "run-to-run noise was not measured, so their intervals are too narrow and a call of "
            "'different' is provisional. Measure with repetitions (the default) to settle it."
        )
    lines.extend(
        f"{row['mode']}/{row['stack']}/{row['request']}: {row['run']} is {row['verdict']}"
        + (f"; {row['shift_verdict']}." if row["shift_verdict"] else ".")
        for _, row in real.iterrows()
    )
    return lines


def shift_sentences(others: pd.DataFrame) -> list[str]:
    """Per run and mode: the run-wide shift, and how many cells moved beyond it."""
    lines = []
    judged = others.loc[others["beyond_shift_pct"].notna()]
    for (run, mode), rows in judged.groupby(["run", "mode"], sort=False):
        beyond = int(rows["beyond_shift"].sum())
        lines.append(
            f"{mode} mode, {run}: a run-wide shift of {rows['shift_pct'].iloc[0]:+.1f}% "
            f"(cells from {rows['diff_pct'].min():+.1f}% to {rows['diff_pct'].max():+.1f}%). "
            "A shift that every stack shares comes from the machine or its conditions between "
            f"the runs, not from a stack; {beyond} of {len(rows)} cells moved beyond it."
        )
    return lines


def comparison_figure(comparison: Comparison, mode: str) -> fig.Figure:
    """Means per stack, one bar per run (hatch = run, colour = stack), GET and POST side by side."""
    rows = comparison.table.loc[comparison.table["mode"] == mode]
    stacks = order_stacks(rows["stack"].unique())
    requests = order_requests(rows["request"].unique())
    colours = stack_colours(stacks)
    labels = comparison.labels
    height = 0.8 / len(labels)
    with plt.rc_context(fig.STYLE):
        figure, axes = fig.request_axes(
            len(requests), (0.35 * len(labels) + 0.3) * len(stacks) + 1.6
        )
        for ax, request in zip(axes, requests, strict=True):
            for index, label in enumerate(labels):
                part = rows.loc[(rows["request"] == request) & (rows["run"] == label)]
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
                    xerr=np.clip(np.nan_to_num(error), 0, None),
                    capsize=2,
                    error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
                )
                for yy, stack in zip(y, stacks, strict=True):
                    if index and pd.notna(mean[stack]) and bool(part.loc[stack, "exceeds_ci"]):
                        ax.text(part.loc[stack, "ci95_high_s"] * fig.MS, yy, " *", va="center")
            fig.stack_rows(ax, stacks, request, "mean latency per request (ms), 95% CI")
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
        figure.supxlabel(f"* the difference from {labels[0]} exceeds its 95% CI", fontsize=9)
        caption = (
            f"Bars: each run's mean with its 95% CI (from the repetitions); * marks a difference "
            f"from {labels[0]} whose 95% interval excludes 0."
        )
        return fig.Figure(f"compare_{mode}.png", figure.get_suptitle(), caption, fig.to_png(figure))


def device_rows(comparison: Comparison) -> tables.Table:
    rows = [
        tables.device_row(label, run.manifest)
        for run, label in zip(comparison.runs, comparison.labels, strict=True)
    ]
    return tables.Table("Devices", tables.DEVICE_ROW_HEADERS, rows)


def load_runs(folders: list[Path], include_suspect: bool) -> list[Run]:
    runs = [
        load_run(folder, exclude=folder / "report", include_suspect=include_suspect)
        for folder in folders
    ]
    empty = [str(run.root) for run in runs if run.samples.empty]
    if empty:
        raise NothingToAnalyse(
            f"no readable <mode>/<stack>/<REQUEST>.csv in {', '.join(empty)}; nothing was written"
        )
    return runs


def same_hardware_cells(
    pairs: list[tuple[Path, Path]], include_suspect: bool
) -> list[tuple[Cells, Cells]]:
    """The cells of each same-hardware pair of runs; a pair whose hosts differ is refused."""
    found = []
    for pair in pairs:
        one, other = load_runs(list(pair), include_suspect)
        if hardware(one.manifest) != hardware(other.manifest):
            raise NothingToAnalyse(
                f"--same-hardware {pair[0]} {pair[1]}: their hosts differ "
                f"({'; '.join(differences(one.manifest, other.manifest))})"
            )
        found.append((cell_intervals(one.samples), cell_intervals(other.samples)))
    return found


def build_comparison(
    folders: list[Path],
    out: Path,
    include_suspect: bool = False,
    same_hardware: list[tuple[Path, Path]] | None = None,
) -> Comparison:
    """Load every run, compare them with the first, write the outputs to ``out``.
    ``same_hardware``: pairs of runs made on one machine, to measure run-to-run drift by."""
    runs = load_runs(folders, include_suspect)
    use_stacks(stack for run in runs for stack in (run.manifest or {}).get("stacks") or [])
    pairs = same_hardware_cells(same_hardware or [], include_suspect)
    labels = unique_labels(runs)
    summaries = [summarise_run(run) for run in runs]
    comparison = Comparison(runs, labels, compare_runs(runs, labels, summaries))
    comparison.verdict = compare_verdict(
        runs,
        labels,
        [found.cells for found in summaries],
        [found.verdicts for found in summaries],
        comparison.table,
        pairs,
    )
    modes = order_modes(comparison.table["mode"].unique())
    comparison.figures = [comparison_figure(comparison, mode) for mode in modes]
    mode_tables = [comparison_table(comparison, mode) for mode in modes]
    for figure in comparison.figures:
        write_atomic(out / figure.name, figure.png)
    write_csv(out / "compare.csv", comparison.table)
    write_atomic(out / "compare.md", compare_markdown(comparison, mode_tables))
    write_atomic(out / "index.html", compare_html(comparison, mode_tables))
    document = json.dumps(json_safe(comparison.verdict.as_json()), indent=2, allow_nan=False)
    write_atomic(out / VERDICT_JSON, document + "\n")
    return comparison


def title(comparison: Comparison) -> str:
    return f"httplab comparison: {' vs '.join(comparison.labels)}"


def compare_markdown(comparison: Comparison, mode_tables: list[tables.Table]) -> str:
    parts = [f"# {title(comparison)}", "", "## Verdict", ""]
    assert comparison.verdict is not None
    for card in comparison.verdict.cards():
        parts.append(f"**{card.title}**: {markdown_cell(card.headline)}  ")
        parts.extend(f"- {markdown_cell(item)}" for item in [*card.items, *card.notes])
        parts.append("")
    parts.extend(f"{markdown_cell(sentence)}  " for sentence in significance_sentences(comparison))
    parts.extend(["", device_rows(comparison).to_markdown()])
    parts.extend(table.to_markdown() for table in mode_tables)
    parts.extend(f"![{f.title}]({f.name})  \n{f.caption}\n" for f in comparison.figures)
    return "\n".join(parts)


def compare_html(comparison: Comparison, mode_tables: list[tables.Table]) -> str:
    assert comparison.verdict is not None
    lead = page.section(
        "Verdict",
        page.cards_html(comparison.verdict.cards()),
        anchor="verdict",
    )
    sections = [
        page.section("Cell by cell", *map(page.paragraph, significance_sentences(comparison))),
        page.section("Devices", device_rows(comparison).to_html()),
    ]
    for table, figure in zip(mode_tables, comparison.figures, strict=True):
        heading = table.title.split(":")[0]
        sections.append(page.section(heading, page.figure_html(figure), table.to_html()))
    return page.render_page(
        title(comparison),
        [f"Runs: {', '.join(comparison.labels)} (the first is the reference)."],
        sections,
        lead=lead,
        problems=[str(p) for p in comparison.problems],
    )
