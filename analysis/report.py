"""``httplab report``: results folder -> verdict, summary.csv, figures, tables.md, index.html."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures as fig
from analysis import html as page
from analysis import resources, sweep, tables, workloads
from analysis.load import Run, load_run
from analysis.naming import order_modes, stack_colours, use_stacks
from analysis.noise import SECTION as NOISE_SECTION
from analysis.noise import Noise, noise_of
from analysis.output import write_csv
from analysis.paper import (
    DAPHNE_DUPLICATE_NOTE,
    PAPER_TABLE_OF_MODE,
    check_improvement_baseline,
    rank_agreement,
)
from analysis.problems import NothingToAnalyse, Problem
from analysis.ranking import ranked_summary
from analysis.sanitize import markdown_cell
from analysis.verdict import VERDICT_JSON, Verdict, verdict_document
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
    verdicts: list[Verdict] = field(default_factory=list)
    noise: Noise | None = None

    @property
    def problems(self) -> list[Problem]:
        return self.run.problems


def build_report(results: Path, out: Path, include_suspect: bool = False) -> Report:
    """Read ``results`` and write every output to ``out``; NothingToAnalyse if there is no data.
    Suspect CSVs (checksum changed, measurement interrupted or failed) are left out unless
    ``include_suspect``."""
    run = load_run(results, exclude=out, include_suspect=include_suspect)
    use_stacks((run.manifest or {}).get("stacks") or [])
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
        summary, verdicts = ranked_summary(run.samples, run.measurements)
        cells, without_samples = resources.cell_resources(run)
        note = resources.missing_note(without_samples)
        if note:
            run.notes.append(note)
        usage = resources.resource_summary(cells)
        jobs = fig.report_figure_jobs(run.samples, summary)
        if not usage.empty:
            jobs.append(partial(resources.resource_figure, usage))
        skipped = workloads.not_measured(run.manifest)["stack"]
        colours = stack_colours({*summary["stack"].unique(), *skipped})
        jobs += workloads.workload_figure_jobs(summary, run.manifest, usage, colours)
        figures = fig.draw(jobs + sweep_jobs)
        noise = noise_of(run, summary)
        report = Report(run, summary, figures, out, steps, cells, usage, verdicts, noise)
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
    if report.verdicts:
        document = verdict_document(report.run.run_id, report.verdicts, _noise_line(report))
        write_atomic(out / VERDICT_JSON, json.dumps(document, indent=2, allow_nan=False) + "\n")
    write_atomic(out / "tables.md", tables_markdown(report))
    write_atomic(out / "index.html", index_html(report))


def _noise_line(report: Report) -> str:
    return report.noise.line if report.noise else ""


def verdict_lines(report: Report) -> list[str]:
    """The verdict compactly, one line per mode and request, then the noise line: the end of
    `httplab report` in a terminal (analysis/summary.py)."""
    lines = [v.compact() for v in report.verdicts]
    return [*lines, f"Noise: {_noise_line(report)}"] if report.noise else lines


def paper_sentences() -> list[str]:
    checks = [check_improvement_baseline(mode).sentence() for mode in PAPER_TABLE_OF_MODE]
    return [*checks, DAPHNE_DUPLICATE_NOTE]


def run_lines(run: Run) -> list[str]:
    """Where the run comes from: paths relative to its folder, which is named, not located."""
    manifest: dict[str, Any] = run.manifest or {}
    lab = manifest.get("lab") or {}
    return [
        f"Run {run.run_id}, started {manifest.get('started', '?')}, finished "
        f"{manifest.get('finished', '?')}; git commit {manifest.get('git_commit', '?')}; lab: "
        f"{lab.get('kind', '?')}. {len(run.samples):,} requests in {len(run.measurements)} CSV "
        "files"
        + (f" ({len(run.left_out)} suspect CSV files left out)" if run.left_out else "")
        + f"; paths are relative to the run's folder, {run.root.name}/.",
    ]


def setup_lines(run: Run) -> list[str]:
    """The lab's notes and the notes made while reading the run."""
    lab = (run.manifest or {}).get("lab") or {}
    return [
        *(f"Lab note: {note}" for note in lab.get("notes") or []),
        *(f"Note: {note}" for note in run.notes),
    ]


def relative_problems(run: Run) -> list[Problem]:
    """The run's problems with their files relative to its folder."""
    return [
        Problem(p.file.relative_to(run.root), p.line, p.message)
        if p.file.is_relative_to(run.root)
        else p
        for p in run.problems
    ]


def mode_tables(report: Report) -> list[tables.Table]:
    if report.summary.empty or report.noise is None:
        return []
    return [
        tables.mode_table(report.summary, mode, report.noise.badges)
        for mode in order_modes(report.summary["mode"].unique())
    ]


def workload_tables(report: Report) -> list[tables.Table]:
    return workloads.workload_tables(report.summary, report.run.manifest, report.resources)


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
        tables.problems_table(relative_problems(report.run)),
    ]
    return [t for t in candidates if t is not None]


def tables_markdown(report: Report) -> str:
    parts = [f"# httplab report: {report.run.run_id}", ""]
    # Lines that may carry a client host's words: literal text, not Markdown.
    parts.extend(f"{markdown_cell(line)}  " for line in run_lines(report.run))
    parts.append("")
    if report.verdicts:
        parts.extend(["## Verdict", ""])
        for verdict in report.verdicts:
            parts.append(f"**{verdict.mode} · {verdict.request}**: {verdict.headline()}  ")
            body = [*verdict.slower(), verdict.client_words(), *verdict.notes()]
            parts.extend(f"- {markdown_cell(line)}" for line in body if line)
            parts.append("")
        parts.append(f"{markdown_cell(_noise_line(report))}\n")
    parts.extend(t.to_markdown() for t in mode_tables(report))
    if not report.resources.empty:
        parts.append(f"{resources.saturation_sentence(report.resources)}\n")
        parts.append(resources.resource_table(report.resources).to_markdown())
    found = workload_tables(report)
    if found:
        parts.append("## Workloads\n")
        parts.extend(t.to_markdown() for t in found)
    parts.extend(t.to_markdown() for t in sweep_tables(report))
    if report.noise is not None:
        parts.append(f"## {NOISE_SECTION}\n")
        parts.extend(f"> **Warning:** {markdown_cell(line)}\n" for line in report.noise.warnings)
        cells = report.noise.table()
        if cells:
            parts.append(cells.to_markdown())
    parts.extend(f"{markdown_cell(line)}  " for line in setup_lines(report.run))
    parts.append("")
    stacks = tables.stacks_table(report.run.manifest)
    if stacks:
        parts.append(stacks.to_markdown())
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
    found = workload_tables(report)
    if found:
        sections.append(
            page.section(
                "Workloads",
                *(t.to_html() for t in found),
                *(page.figure_html(f) for f in report.figures if f.name.startswith("workload_")),
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


NOISE_ANCHOR = "noise"


def verdict_cards(verdicts: list[Verdict]) -> list[page.Card]:
    return [
        page.Card(
            f"{v.mode} · {v.request}",
            v.headline(),
            v.slower(),
            [v.client_words(), *v.notes()],
        )
        for v in verdicts
    ]


def verdict_section(report: Report) -> page.Section:
    """The answer first: a card per mode and request, the one line on noise, and how."""
    levels = ", ".join(dict.fromkeys(f"{v.mode} {v.level:.1%}" for v in report.verdicts))
    how = (
        "Each stack against each, repetition by repetition (a pass over the matrix shares its "
        "conditions), on the log scale; ratios are times over the fastest's, with intervals at "
        f"the level that keeps false calls among each mode's comparisons at 5% ({levels}; "
        "Benjamini–Hochberg and Benjamini–Yekutieli). Tables, figures and the paper's "
        "comparison use this ranking."
    )
    noise = _noise_line(report).removesuffix(f"see {NOISE_SECTION}.")
    return page.section(
        "Verdict",
        page.cards_html(verdict_cards(report.verdicts)),
        f"<p class='noise'>{html.escape(noise)}see {page.link(NOISE_SECTION, NOISE_ANCHOR)}.</p>",
        page.paragraph(how).replace("<p>", "<p class='note'>", 1),
        anchor="verdict",
    )


def noise_section(report: Report) -> page.Section:
    """Every warning, in one place: the run's, then each cell's."""
    assert report.noise is not None
    cells = report.noise.table()
    return page.section(
        NOISE_SECTION,
        page.paragraph(report.noise.line.removesuffix(f" see {NOISE_SECTION}.").rstrip(";") + "."),
        *(f"<div class='warning'>{html.escape(line)}</div>" for line in report.noise.warnings),
        cells.to_html() if cells else page.paragraph("Nothing to report cell by cell."),
        anchor=NOISE_ANCHOR,
    )


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
    if report.noise is not None:
        sections.append(noise_section(report))
    setup = [*map(page.paragraph, setup_lines(report.run))]
    stacks = tables.stacks_table(report.run.manifest)
    if stacks:
        setup.append(stacks.to_html())
    setup.append(tables.device_table(report.run.manifest).to_html())
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
    problems = relative_problems(report.run)
    listed = tables.problems_table(problems)
    if listed:
        sections.append(page.section("Skipped input", listed.to_html()))
    return page.render_page(
        f"httplab report: {report.run.run_id}",
        run_lines(report.run),
        sections,
        lead=verdict_section(report) if report.verdicts else None,
        problems=[str(p) for p in problems],
    )
