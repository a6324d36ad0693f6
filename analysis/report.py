"""``python -m analysis report``: results folder -> summary.csv, figures, tables.md, index.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures as fig
from analysis import html as page
from analysis import resources, sweep, tables
from analysis.guard import run_warnings
from analysis.load import NothingToAnalyse, Problem, Run, load_run
from analysis.naming import order_modes
from analysis.output import write_csv
from analysis.paper import (
    DAPHNE_DUPLICATE_NOTE,
    PAPER_TABLE_OF_MODE,
    check_improvement_baseline,
    rank_agreement,
)
from analysis.sanitize import markdown_cell
from analysis.stats import annotate, summarise
from bench_client.results_format import write_atomic


@dataclass
class Report:
    run: Run
    summary: pd.DataFrame
    figures: list[fig.Figure]
    out: Path
    sweep_steps: pd.DataFrame  # the sweep mode's steps, one row each (analysis/sweep.py)
    # analysis/resources.py: one row per cell with server samples, and per mode × stack × request
    resource_cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    resources: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def problems(self) -> list[Problem]:
        return self.run.problems


def build_report(results: Path, out: Path, include_suspect: bool = False) -> Report:
    """Read ``results`` and write every output to ``out``; NothingToAnalyse if there is no data.
    Suspect CSVs (checksum changed, measurement interrupted or failed) are left out unless
    ``include_suspect``."""
    run = load_run(results, exclude=out, include_suspect=include_suspect)
    steps_without_figures: list[Problem] = []
    steps = sweep.load_steps(results, run.problems, run.manifest, steps_without_figures)
    note = resources.missing_note(steps_without_figures, "sweep step(s)")
    if note:
        run.notes.append(note)
    if run.samples.empty and steps.empty:
        raise NothingToAnalyse(
            f"{results}: no readable <mode>/<stack>/<REQUEST>.csv found; nothing was written"
        )
    sweep_jobs = [partial(sweep.sweep_figure, steps)] if not steps.empty else []
    if run.samples.empty:  # a run of the sweep mode alone
        report = Report(run, pd.DataFrame(), fig.draw(sweep_jobs), out, steps)
    else:
        summary = annotate(summarise(run.samples), run.measurements)
        cells, without_samples = resources.cell_resources(run)
        note = resources.missing_note(without_samples)
        if note:
            run.notes.append(note)
        usage = resources.resource_summary(cells)
        jobs = fig.report_figure_jobs(run.samples, summary)
        if not usage.empty:
            jobs.append(partial(resources.resource_figure, usage))
        figures = fig.draw(jobs + sweep_jobs)
        report = Report(run, summary, figures, out, steps, cells, usage)
    write_outputs(report)
    return report


def write_outputs(report: Report) -> None:
    out = report.out
    for figure in report.figures:
        write_atomic(out / figure.name, figure.png)
    if not report.summary.empty:
        write_csv(out / "summary.csv", report.summary)
    if not report.sweep_steps.empty:
        write_csv(out / sweep.STEPS_CSV, report.sweep_steps)
    if not report.resource_cells.empty:
        write_csv(out / "resources.csv", report.resource_cells)
    write_atomic(out / "tables.md", tables_markdown(report))
    write_atomic(out / "index.html", index_html(report))


def flag_sentences(run: Run, summary: pd.DataFrame) -> list[str]:
    """Warnings: how far the run can be trusted (analysis/guard.py), then rows whose number is
    not the server's own."""
    if summary.empty:
        return []
    sentences = run_warnings(run, summary)
    for row in summary.loc[summary["client_limited"].astype(bool)].itertuples():
        sentences.append(
            f"{row.mode}/{row.stack}/{row.request}: the client was the bottleneck "
            f"({row.client_limited}); this row measures the client, and is not ranked."
        )
    for row in summary.loc[summary["nagle_suspect"]].itertuples():
        sentences.append(
            f"{row.mode}/{row.stack}/{row.request}: median {row.median_s * 1000:.1f} ms on "
            "kept-alive connections: the ~40 ms Nagle/delayed-ACK signature "
            "(TCP_NODELAY off, docs/traps.md)."
        )
    return sentences


def paper_sentences() -> list[str]:
    checks = [check_improvement_baseline(mode).sentence() for mode in PAPER_TABLE_OF_MODE]
    return [*checks, DAPHNE_DUPLICATE_NOTE]


def run_lines(run: Run) -> list[str]:
    manifest: dict[str, Any] = run.manifest or {}
    lab = manifest.get("lab") or {}
    lines = [
        f"Results: {run.root}",
        f"Started {manifest.get('started', '?')}, finished {manifest.get('finished', '?')}; "
        f"git commit {manifest.get('git_commit', '?')}; lab: {lab.get('kind', '?')}.",
        f"{len(run.samples):,} requests in {len(run.measurements)} CSV files"
        + (f" ({len(run.left_out)} suspect CSV files left out)." if run.left_out else "."),
    ]
    lines.extend(f"Lab note: {note}" for note in lab.get("notes") or [])
    lines.extend(f"Note: {note}" for note in run.notes)
    return lines


def mode_tables(report: Report) -> list[tables.Table]:
    if report.summary.empty:
        return []
    return [
        tables.mode_table(report.summary, mode)
        for mode in order_modes(report.summary["mode"].unique())
    ]


def sweep_tables(report: Report) -> list[tables.Table]:
    if report.sweep_steps.empty:
        return []
    spent = sweep.step_resources_table(report.sweep_steps)
    return [sweep.sweep_table(report.sweep_steps), *([spent] if spent else [])]


def paper_tables(report: Report) -> list[tables.Table]:
    result: list[tables.Table] = []
    if report.summary.empty:
        return result
    for mode in PAPER_TABLE_OF_MODE:
        original = tables.paper_original_table(mode)
        agreement = rank_agreement(report.summary, mode)
        if original is None or agreement is None:
            continue
        result.append(original)
        if mode in set(report.summary["mode"]):
            result.append(tables.rank_table(agreement))
    return result


def optional_tables(report: Report) -> list[tables.Table]:
    candidates = [
        tables.failure_causes_table(report.run.samples),
        tables.settings_table(report.run.manifest),
        tables.client_hosts_table(report.run.measurements),
        tables.problems_table(report.problems),
    ]
    return [t for t in candidates if t is not None]


def tables_markdown(report: Report) -> str:
    parts = [f"# httplab report: {report.run.run_id}", ""]
    # Lines that may carry a client host's words: literal text, not Markdown.
    parts.extend(f"{markdown_cell(line)}  " for line in run_lines(report.run))
    parts.append("")
    parts.extend(
        f"> **Warning:** {markdown_cell(line)}\n"
        for line in flag_sentences(report.run, report.summary)
    )
    parts.extend(t.to_markdown() for t in mode_tables(report))
    if not report.resources.empty:
        parts.append(f"{resources.saturation_sentence(report.resources)}\n")
        parts.append(resources.resource_table(report.resources).to_markdown())
    parts.extend(t.to_markdown() for t in sweep_tables(report))
    parts.append(tables.device_table(report.run.manifest).to_markdown())
    parts.append("## The paper beside this run\n")
    parts.extend(f"{line}\n" for line in paper_sentences())
    parts.extend(t.to_markdown() for t in paper_tables(report))
    parts.extend(t.to_markdown() for t in optional_tables(report))
    parts.append("## Figures\n")
    parts.extend(f"![{f.title}]({f.name})  \n{f.caption}\n" for f in report.figures)
    return "\n".join(parts)


def _mode_sections(report: Report) -> list[page.Section]:
    """Each mode's table and figures, the failures and the paper's tables beside this run."""
    by_name = {f.name: f for f in report.figures}
    sections = []
    for mode, table in zip(
        order_modes(report.summary["mode"].unique()), mode_tables(report), strict=True
    ):
        mode_figures = [
            by_name[f"{kind}_{mode}.png"]
            for kind in ("means", "iterations", "boxplot", "percentiles")
        ]
        sections.append(
            page.section(f"{mode} mode", table.to_html(), *map(page.figure_html, mode_figures))
        )
    if not report.resources.empty:
        sections.append(
            page.section(
                "Server resource use",
                page.paragraph(resources.saturation_sentence(report.resources)),
                resources.resource_table(report.resources).to_html(),
                page.figure_html(by_name["resources.png"]),
            )
        )
    causes = tables.failure_causes_table(report.run.samples)
    sections.append(
        page.section(
            "Failures",
            page.figure_html(by_name["failure_rate.png"]),
            causes.to_html() if causes else page.paragraph("No failed requests."),
        )
    )
    sections.append(
        page.section(
            "The paper beside this run",
            *map(page.paragraph, paper_sentences()),
            *(page.figure_html(f) for f in report.figures if f.name.startswith("ranking_")),
            *(t.to_html() for t in paper_tables(report)),
        )
    )
    return sections


def index_html(report: Report) -> str:
    sections = _mode_sections(report) if not report.summary.empty else []
    if not report.sweep_steps.empty:
        figure = next(f for f in report.figures if f.name == sweep.FIGURE_NAME)
        sections.append(
            page.section(
                "Latency–throughput sweep",
                page.figure_html(figure),
                *(t.to_html() for t in sweep_tables(report)),
            )
        )
    setup = [tables.device_table(report.run.manifest).to_html()]
    settings = tables.settings_table(report.run.manifest)
    if settings:
        setup.append(settings.to_html())
    if report.run.manifest:
        setup.append(
            page.json_details("Stacks (from manifest.json)", report.run.manifest.get("stacks"))
        )
    setup.extend(
        page.json_details(f"{m.csv.relative_to(report.run.root)} meta file", m.meta.document)
        for m in report.run.measurements
        if m.meta
    )
    sections.append(page.section("Setup", *setup))
    problems = tables.problems_table(report.problems)
    if problems:
        sections.append(page.section("Skipped input", problems.to_html()))
    return page.render_page(
        f"httplab report: {report.run.run_id}",
        run_lines(report.run),
        sections,
        warnings=flag_sentences(report.run, report.summary),
        problems=[str(p) for p in report.problems],
    )
