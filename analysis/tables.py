"""The report's tables as data (:class:`Table`), rendered to Markdown for tables.md or to HTML.

Layout follows the paper: Tables 1/2 (framework & method, average, outliers) with the verdict's
rank and ratio to the fastest, median, p95, p99 and failures added, and the device table ("Device
architecture") with the CPUs each host was pinned to.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.guard import CLIENT_MARK, NAGLE_MARK
from analysis.intervals import BLOCK_BOOTSTRAP, SECTIONING
from analysis.naming import grouped
from analysis.paper import PAPER_TABLE_OF_MODE, RankAgreement, paper_table
from analysis.sanitize import markdown_cell
from analysis.verdict import in_verdict_order

CALIBRATION_MARK = "§"
CLIENT_NOTE = (
    f"{CLIENT_MARK} the client was the bottleneck (its meta file says so): this number measures "
    "the client's ceiling, so the row is not ranked as the server's."
)
BADGE_NOTE = (
    "Badges: † client (the client was the limit in that many repetitions: ranked on the others, "
    "or not at all), busy (measured while the hosts were busy), unstable (repetitions disagree), "
    "client floor (the time less the client's own is within the noise of 0), ‡ Nagle?; the "
    "details are in Noise and limits."
)
OVERHEAD_NOTE = (
    "Client alone: the client's own mean time per request of this mode against a trivial local "
    "server (bench_client calibration). It shows how much of an average the client alone could "
    "explain; it is not an amount to subtract."
)
CALIBRATION_NOTE = (
    f"{CALIBRATION_MARK} calibrated at another concurrency than the run's (the calibration's, "
    "then the run's, in brackets): the client alone one request at a time, not what the client "
    "cost in this run's concurrent requests."
)
REPETITION_NOTE = (
    "Run-to-run SD: standard deviation of the means of the repetitions (GET.csv, GET.rep2.csv, "
    "...); a difference between two stacks smaller than this is noise, not a ranking."
)
INTERVAL_NOTES = {
    SECTIONING: (
        "95% CI: from the repetitions, never the pooled requests: the statistic over all "
        "requests ± t(R − 1) · SD of the same statistic in each repetition / √R (sectioning, "
        "Asmussen & Glynn 2007; scipy.stats.t)."
    ),
    BLOCK_BOOTSTRAP: (
        "95% CI of a single repetition: stationary block bootstrap within it (Politis & Romano "
        "1994, block length by Politis & White 2004; arch.bootstrap), percentile interval. "
        "Run-to-run noise was not measured: the interval is too narrow and the rank provisional."
    ),
}
RANK_NOTE = (
    "Rank and order: the verdict's, per request. Every two stacks are compared repetition by "
    "repetition on the log scale; a stack's best rank is 1 + the stacks called faster, its worst "
    'the stacks not called slower ("1–3": its place is not established). × fastest: its time '
    "over the fastest stack's, with its interval (the mode's comparisons are one family: "
    "Benjamini–Yekutieli intervals). Rows whose client was the limit in every repetition are not "
    "ranked. Statistics over successful requests only. Outliers: outside [Q1 − 1.5·IQR, "
    "Q3 + 1.5·IQR]."
)


# Summary columns shown only when the run has them: header and the note that explains them.
OPTIONAL_COLUMNS = {
    "client_overhead_s": ("Client alone (ms)", OVERHEAD_NOTE),
    "repetition_sd_s": ("Run-to-run SD (ms)", REPETITION_NOTE),
}


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    badges: dict[int, list[str]] = field(default_factory=dict)  # row -> badges of its label
    label_column: int = 1  # the cell the badges follow
    numbers: bool = False  # cells of figures: kept on one line (the table scrolls instead)

    def to_markdown(self) -> str:
        def cells(values: list[str]) -> str:
            return "| " + " | ".join(markdown_cell(v) for v in values) + " |"

        lines = [f"### {self.title}", "", cells(self.headers)]
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        for index, row in enumerate(self.rows):
            marked = list(row)
            if self.badges.get(index):
                marked[self.label_column] += "".join(f" [{b}]" for b in self.badges[index])
            lines.append(cells(marked))
        lines.extend(["", *(f"{note}  " for note in self.notes)])
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(c)}{self._badges_html(index, column)}</td>"
                for column, c in enumerate(row)
            )
            + "</tr>"
            for index, row in enumerate(self.rows)
        )
        notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in self.notes)
        # A wide table scrolls in its own box instead of being cut at the page's edge.
        return (
            f"<h3>{html.escape(self.title)}</h3><div class='scroll'>"
            f"<table{' class=numbers' if self.numbers else ''}><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table></div>{notes}"
        )

    def _badges_html(self, index: int, column: int) -> str:
        if column != self.label_column:
            return ""
        return "".join(
            f" <span class='badge'>{html.escape(b)}</span>" for b in self.badges.get(index, [])
        )


def ms(seconds: Any, digits: int = 2) -> str:
    return "—" if pd.isna(seconds) else f"{seconds * 1000:.{digits}f}"


def row_label(row: pd.Series) -> str:
    """A row's stack and request, with its marks (comparisons: analysis/compare.py)."""
    marks = (CLIENT_MARK if row["client_limited"] else "") + (
        NAGLE_MARK if row["nagle_suspect"] else ""
    )
    return f"{row['stack']} - {row['request']}{marks}"


def times_fastest(row: pd.Series) -> str:
    """ "1.71× [1.52, 1.93]", "fastest" for the stack the ratios are to, "—" if not ranked."""
    if not row["rank"]:
        return "—"
    if pd.isna(row["vs_fastest_low"]):
        return "fastest" if row["vs_fastest"] == 1 else "—"
    return f"{row['vs_fastest']:.2f}× [{row['vs_fastest_low']:.2f}, {row['vs_fastest_high']:.2f}]"


def interval(row: pd.Series, statistic: str = "", digits: int = 3) -> str:
    low, high = row[f"{statistic}ci95_low_s"], row[f"{statistic}ci95_high_s"]
    return f"{ms(low, digits)} – {ms(high, digits)}"


def calibrated_elsewhere(row: pd.Series) -> bool:
    """True when the calibration ran at another concurrency than the measurement."""
    calibrated, run = row["client_overhead_concurrency"], row["concurrency"]
    return not (pd.isna(calibrated) or pd.isna(run) or calibrated == run)


def overhead_cell(row: pd.Series) -> str:
    if not calibrated_elsewhere(row):
        return ms(row["client_overhead_s"], 3)
    calibrated, run = int(row["client_overhead_concurrency"]), int(row["concurrency"])
    return f"{ms(row['client_overhead_s'], 3)}{CALIBRATION_MARK} ({calibrated} vs {run})"


def mode_table(
    summary: pd.DataFrame, mode: str, badges: Callable[[tuple[str, str, str]], list[str]]
) -> Table:
    """The paper's Table 1/2 layout for one mode, in the verdict's order, with the statistics
    it lacked; ``badges`` gives each row's (analysis/noise.py)."""
    rows = in_verdict_order(summary.loc[summary["mode"] == mode])
    paper = PAPER_TABLE_OF_MODE.get(mode)
    table = Table(
        f"{mode} mode" + (f" (the paper's {paper} layout)" if paper else ""),
        [
            "Rank",
            "Framework & Method",
            "Average (ms)",
            "95% CI (ms)",
            "× fastest [CI]",
            "Median (ms)",
            "p95 (ms)",
            "p99 (ms)",
            "p99 95% CI (ms)",
            "Outliers",
            "Failures",
        ],
        [],
        numbers=True,
    )
    optional = [c for c in OPTIONAL_COLUMNS if rows[c].notna().any()]
    table.headers.extend(OPTIONAL_COLUMNS[c][0] for c in optional)
    for _, row in rows.iterrows():
        found = badges((mode, row["stack"], row["request"]))
        if found:
            table.badges[len(table.rows)] = found
        table.rows.append(
            [
                row["rank"] or "—",
                f"{row['stack']} - {row['request']}",
                ms(row["mean_s"], 3),
                interval(row),
                times_fastest(row),
                ms(row["median_s"], 3),
                ms(row["p95_s"], 3),
                ms(row["p99_s"], 3),
                interval(row, "p99_"),
                str(int(row["outliers"])),
                f"{int(row['failures'])}/{int(row['requests'])} ({row['failure_rate'] * 100:.1f}%)",
            ]
        )
        table.rows[-1].extend(
            overhead_cell(row) if c == "client_overhead_s" else ms(row[c], 3) for c in optional
        )
    table.notes.append(RANK_NOTE)
    table.notes.extend(INTERVAL_NOTES[m] for m in INTERVAL_NOTES if (rows["ci_method"] == m).any())
    table.notes.extend(OPTIONAL_COLUMNS[c][1] for c in optional)
    if "client_overhead_s" in optional and rows.apply(calibrated_elsewhere, axis=1).any():
        table.notes.append(CALIBRATION_NOTE)
    if table.badges:
        table.notes.append(BADGE_NOTE)
    return table


def gigabytes(megabytes: Any) -> str:
    """RAM as the paper wrote it (GB), from a manifest number or numeric string in MB."""
    try:
        return f"{float(megabytes) / 1024:.1f} GB"
    except (TypeError, ValueError):
        return "?"


def _host_cells(host: dict[str, Any]) -> list[str]:
    cpu = str(host.get("cpu_model") or "?")
    if host.get("cpu_count"):
        cpu += f" ({host['cpu_count']} CPUs)"
    return [
        str(host.get("name") or "?"),
        cpu,
        gigabytes(host.get("ram_mb")),
        str(host.get("os") or "?"),
        str(host.get("kernel") or "?"),
        str(host.get("python") or "?"),
        pinned_cpus(host),
    ]


def pinned_cpus(host: dict[str, Any]) -> str:
    """The CPUs a host's processes may use: the server's noise reading (``cpus``), the
    client's own facts (``cpu_affinity``)."""
    cpus = host.get("cpus") or host.get("cpu_affinity")
    if not cpus:
        return "?"
    listed = ",".join(map(str, cpus))
    total = host.get("cpu_count")
    if total and len(cpus) < int(total):
        return f"{listed} (pinned: {len(cpus)} of {total})"
    return f"{listed} (all {len(cpus)}: not pinned)"


DEVICE_COMPONENTS = [
    "Host", "Processor", "RAM", "Operating system", "Kernel", "Python", "CPUs it may use",
]  # fmt: skip


def _clients(hosts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every client host's facts by name; manifests before schema 3 have the one "client"."""
    return hosts.get("clients") or {"client": hosts.get("client") or {}}


def device_table(manifest: dict[str, Any] | None) -> Table:
    """The paper's "Device architecture" table, from the manifest's host facts.

    One column per client host; with one, it is "Client" as in the paper.
    """
    hosts = (manifest or {}).get("hosts") or {}
    clients = _clients(hosts)
    columns = [_host_cells(hosts.get("server") or {})]
    columns += [_host_cells(facts) for facts in clients.values()]
    rows = [[c, *cells] for c, *cells in zip(DEVICE_COMPONENTS, *columns, strict=True)]
    names = ["Client"] if len(clients) == 1 else [f"Client {name}" for name in clients]
    table = Table("Device architecture", ["Component", "Server", *names], rows)
    if not hosts:
        table.notes.append("No host facts: manifest.json is missing or has no 'hosts'.")
    notes = ((manifest or {}).get("lab") or {}).get("notes") or []
    table.notes.extend(f"Lab: {note}" for note in notes if "pinned" in str(note))
    return table


def device_row(run_id: str, manifest: dict[str, Any] | None) -> list[str]:
    """One line per run for comparisons: run, server CPU/RAM/OS/kernel, client CPU/OS.

    With several client hosts, their CPUs and OSes each once, joined by "; ".
    """
    hosts = (manifest or {}).get("hosts") or {}
    server = _host_cells(hosts.get("server") or {})
    clients = [_host_cells(facts) for facts in _clients(hosts).values()]
    cpus, oses = ("; ".join(dict.fromkeys(c[i] for c in clients)) for i in (1, 3))
    return [run_id, server[1], server[2], f"{server[3]} / {server[4]}", cpus, oses]


DEVICE_ROW_HEADERS = [
    "Run",
    "Server CPU",
    "Server RAM",
    "Server OS / kernel",
    "Client CPU",
    "Client OS",
]


def _versions(stack: dict[str, Any]) -> str:
    """The framework's and the server's package versions, as the stack's venv has them."""
    versions = stack.get("versions") or {}
    server = str(stack.get("server") or "")
    packages = [str(stack.get("framework") or ""), *(stack.get("server_packages") or [])]
    if not stack.get("server_packages"):  # a run of an httplab that did not record them
        packages.append(server.split("-")[0])
    named = dict.fromkeys(p.lower() for p in packages if p)
    return ", ".join(f"{p} {versions[p]}" for p in named if p in versions) or "-"


def stacks_table(manifest: dict[str, Any] | None) -> Table | None:
    """Each stack as the server ran it: app, server kind, processes, threads and versions,
    grouped by framework and then by server."""
    listed = (manifest or {}).get("stacks") or []
    records = {str(s["name"]): s for s in listed if isinstance(s, dict) and "name" in s}
    if not records:
        return None
    rows = [
        [name, str(stack.get("framework") or "-")
         + (" (yours)" if stack.get("own_app") is True else ""),
         str(stack.get("server") or "-"), str(stack.get("protocol") or "-").upper(),
         str(stack.get("workers") or "-"), str(stack.get("threads") or "-"), _versions(stack)]
        for name, stack in ((name, records[name]) for name in grouped(listed))
    ]  # fmt: skip
    headers = ["Stack", "Framework", "Server", "Protocol", "Processes", "Threads", "Versions"]
    return Table("Stacks", headers, rows, label_column=0)


def settings_table(manifest: dict[str, Any] | None) -> Table | None:
    """Every setting of the run and where its value came from (bench_client/settings.py)."""
    settings = (manifest or {}).get("settings")
    if not settings:
        return None
    sources = (manifest or {}).get("setting_sources") or {}
    rows = [
        [str(key), ", ".join(map(str, value)) if isinstance(value, list) else str(value),
         str(sources.get(key, ""))]
        for key, value in settings.items()
    ]  # fmt: skip
    return Table("Settings", ["Setting", "Value", "From"], rows)


CLIENT_HOSTS_NOTE = (
    "Cells measured by several client hosts at one agreed start. Each host's own figures, "
    "then all hosts: the merged counts, throughput over the whole span and over the common "
    "window (latest start to earliest finish, responses completed in it summed over hosts). "
    "Start: after the agreed start, on the control node's clock (the host's clock offset, "
    "± half the round trip it was read in, taken out); skew: latest minus earliest start."
)


def _rps(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def client_hosts_table(measurements: list[Any]) -> Table | None:
    """Per-client and aggregate figures of the cells several client hosts measured."""
    rows = []
    for m in measurements:
        meta = m.meta.document if m.meta else {}
        if not meta.get("hosts"):
            continue
        cell = f"{m.stack} {m.mode} {m.request}" + (
            f" rep {m.repetition}" if m.repetition > 1 else ""
        )
        for host in meta["hosts"]:
            offset = host["clock_offset_s"] * 1e3
            rows.append([
                cell, host["host"], f"{host['requests']:,}", f"{host['successes']:,}",
                _rps(host["throughput_rps"]), "-", ms(host["start_after_agreed_s"]),
                f"{offset:+.2f} ± {host['clock_uncertainty_s'] * 1e3:.2f}",
            ])  # fmt: skip
        window = meta.get("common_window") or {}
        rows.append([
            cell, f"all {len(meta['hosts'])} hosts", f"{meta['requests']:,}",
            f"{meta['successes']:,}", _rps(meta["throughput_rps"]),
            _rps(window.get("throughput_rps")), f"skew {ms(meta['start_skew_s'])}", "-",
        ])  # fmt: skip
    if not rows:
        return None
    headers = ["Cell", "Client", "Requests", "Successes", "Req/s (span)", "Req/s (common window)",
               "Start (ms)", "Clock offset (ms)"]  # fmt: skip
    return Table("Client hosts", headers, rows, [CLIENT_HOSTS_NOTE])


def paper_original_table(mode: str) -> Table | None:
    """The paper's own table for the mode, as printed, with our stack names."""
    paper = paper_table(mode)
    if paper.empty:
        return None
    rows = [
        [
            f"{r.label} - {r.request}",
            r.stack,
            f"{r.mean_s:.5f}",
            r.improvement_printed,
            str(r.outliers),
        ]
        for r in paper.itertuples()
    ]
    headers = ["Framework & Method", "Our stack", "Average Time (s)", "Improvement", "Outliers"]
    return Table(f"The paper's {PAPER_TABLE_OF_MODE[mode]} ({mode})", headers, rows)


def rank_table(agreement: RankAgreement) -> Table:
    """The paper's ranks beside this run's, each within its request, in this run's order."""
    rows = []
    for r in in_verdict_order(agreement.rows).itertuples():
        ours = (
            ("excluded (client-limited)" if pd.notna(r.mean_s) else "—") if r.excluded else r.rank
        )
        rows.append(
            [f"{r.stack} - {r.request}", ms(r.paper_mean_s), str(r.paper_rank), ms(r.mean_s), ours]
        )
    headers = [
        "Stack & request",
        "Paper mean (ms)",
        "Paper rank (in its request)",
        "This run mean (ms)",
        "This run rank (the verdict's)",
    ]
    return Table(
        f"Ranking against the paper ({agreement.mode})", headers, rows, [agreement.sentence()]
    )


def failure_causes_table(samples: pd.DataFrame, limit: int = 3) -> Table | None:
    """The most frequent error messages of each mode × stack × request."""
    failed = samples.loc[~samples["ok"], ["mode", "stack", "request", "error"]]
    if failed.empty:
        return None
    counts = (
        failed.astype({"error": "str"})
        .value_counts(["mode", "stack", "request", "error"], sort=True)
        .groupby(["mode", "stack", "request"], observed=True)
        .head(limit)
        .reset_index(name="count")
    )
    rows = [[r.mode, r.stack, r.request, r.error, str(r.count)] for r in counts.itertuples()]
    return Table(
        "Failure causes (most frequent first)", ["Mode", "Stack", "Method", "Error", "Count"], rows
    )


def problems_table(problems: list[Any]) -> Table | None:
    if not problems:
        return None
    rows = [[str(p.file), "" if p.line is None else str(p.line), p.message] for p in problems]
    return Table("Skipped or inconsistent input", ["File", "Line", "Problem"], rows)
