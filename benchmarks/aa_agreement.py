"""Do two runs of the same thing agree? A/A agreement on the embedded lab, and on simulated data.

    .venv/bin/python benchmarks/aa_agreement.py lab [--lab-name stats] [--results DIR]
        [--extra-vars 'httplab_bench_repetitions=1 httplab_bench_iterations=1000']
    .venv/bin/python benchmarks/aa_agreement.py runs RUN_DIR_A RUN_DIR_B
    .venv/bin/python benchmarks/aa_agreement.py simulated [--cells 300]

``lab`` runs two back-to-back default ``make run``s (same commit, nothing changed in between) on
the embedded lab and prints each run's wall time and the load average around it, the share of
cells ``compare`` calls different, each mode's run-wide shift and the cells that moved beyond
it, and whether the stacks whose 95% intervals do not overlap are
in the same order in both runs. The issue's goals: at most 10% of cells called different, the same
order, each run no slower than the old default (about 4 minutes with a warm lab). ``runs`` prints
the same figures for two run folders made already (two ``make run``s), with each run's
benchmark wall time from its manifest and how many of its measurements the noise guard flagged.

``simulated`` draws runs with a known true mean (serially correlated, heavy-tailed, a run-level
offset per repetition; tests/analysis/simulate.py) and prints how often the 95% intervals cover
it, how often an A/A comparison calls a difference, and the power against known slowdowns. Goals:
coverage at least 90%, A/A false positives at most 8%.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.compare import compare_runs  # noqa: E402
from analysis.intervals import cell_interval, difference  # noqa: E402
from analysis.load import load_run  # noqa: E402
from tests.analysis.simulate import CELLS_PER_RUN, Noise, cell, whole_run_calls  # noqa: E402

TRUE_MEAN = 0.003
DEFAULT = {"repetitions": 5, "rows": 200}  # the default run
PAPER = {"repetitions": 1, "rows": 1000}  # the paper's design, the old default


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def make_run(lab_name: str, results: Path, run_id: str, extra_vars: str) -> float:
    """One ``make run`` on the embedded lab; its wall time in seconds."""
    extra = f"httplab_results_dir={results} httplab_run_id={run_id} {extra_vars}".strip()
    command = ["make", "-C", str(REPO), "run", f"LAB_NAME={lab_name}", f"EXTRA_VARS={extra}"]
    print(f"$ {shlex.join(command)}   [{load()}]", flush=True)
    start = time.monotonic()
    log = results / f"{run_id}.log"
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - start
    print(f"  {run_id}: exit {done.returncode}, {wall / 60:.1f} min   [{load()}]   log: {log}")
    return wall


def separated_pairs(summary: pd.DataFrame) -> dict[tuple[str, str, str], bool]:
    """(mode, row a, row b) -> mean a < mean b, for ranked rows whose 95% intervals do not
    overlap."""
    pairs = {}
    ranked = summary.loc[summary["rank"].astype(bool)]
    for mode, rows in ranked.groupby("mode"):
        for a, b in combinations(rows.itertuples(), 2):
            if a.ci95_high_s < b.ci95_low_s or b.ci95_high_s < a.ci95_low_s:
                pairs[(mode, f"{a.stack}/{a.method}", f"{b.stack}/{b.method}")] = (
                    a.mean_s < b.mean_s
                )
    return pairs


def benchmark_wall(run_dir: Path) -> str:
    """The benchmark phase's wall time (plan to collect) and the noise guard's flags, from the
    run's manifest and meta files."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    started, finished = (manifest.get(key) for key in ("started", "finished"))
    wall = "unfinished"
    if started and finished:
        elapsed = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        wall = f"{elapsed.total_seconds():.0f} s"
    entries = manifest["measurements"]
    metas = [
        json.loads((run_dir / e["meta"]).read_text(encoding="utf-8"))
        for e in entries
        if e["status"] == "complete"
    ]
    busy = sum(bool(meta["host_noise"]["busy"]) for meta in metas)
    timed = sum(
        (
            datetime.fromisoformat(meta["finished"]) - datetime.fromisoformat(meta["started"])
        ).total_seconds()
        for meta in metas
    )
    statuses = ", ".join(f"{s} {sum(e['status'] == s for e in entries)}"
                         for s in sorted({e["status"] for e in entries}))  # fmt: skip
    return (
        f"{run_dir.name}: benchmark phase {wall} (manifest started {started}, finished "
        f"{finished}), of which timed requests {timed:.0f} s; {len(entries)} measurements "
        f"({statuses}), {busy} flagged busy"
    )


def agreement(first: Path, second: Path) -> None:
    runs = [load_run(first), load_run(second)]
    table = compare_runs(runs, ["A", "B"])
    other = table.loc[table["run"] == "B"]
    called = int(other["exceeds_ci"].sum())
    print(f"compare calls {called} of {len(other)} cells different ({called / len(other):.0%})")
    busy = table.set_index(["run", "mode", "stack", "method"])["host_busy"]
    for row in other.loc[other["exceeds_ci"]].itertuples():
        flagged = sum(bool(busy.get((run, row.mode, row.stack, row.method))) for run in "AB")
        print(f"  {row.mode}/{row.stack}/{row.method}: B is {row.verdict} "
              f"(busy flags in {flagged} of the 2 runs)")  # fmt: skip
    for mode, rows in other.loc[other["shift_pct"].notna()].groupby("mode"):
        print(
            f"{mode}: run-wide shift {rows['shift_pct'].iloc[0]:+.1f}%; "
            f"{int(rows['beyond_shift'].sum())} of {len(rows)} cells moved beyond it"
        )
    for row in other.loc[other["beyond_shift"]].itertuples():
        print(f"  {row.mode}/{row.stack}/{row.method}: B is {row.shift_verdict}")
    summaries = {label: table.loc[table["run"] == label] for label in ("A", "B")}
    pairs = {label: separated_pairs(s) for label, s in summaries.items()}
    for label, mine in pairs.items():
        other_label = "B" if label == "A" else "A"
        theirs = summaries[other_label].set_index(["mode", "stack", "method"])["mean_s"]
        reversed_pairs = 0
        for (mode, a, b), a_first in mine.items():
            mean_a = theirs.get((mode, *a.split("/")))
            mean_b = theirs.get((mode, *b.split("/")))
            if mean_a is not None and mean_b is not None:  # both measured in the other run
                reversed_pairs += (mean_a < mean_b) != a_first
        print(
            f"run {label}: {len(mine)} pairs of rows with non-overlapping intervals; "
            f"the other run orders {reversed_pairs} of them the other way"
        )
    both = [key for key in pairs["A"] if key in pairs["B"]]
    same = all(pairs["A"][key] == pairs["B"][key] for key in both)
    print(
        f"{len(both)} pairs separated in both runs; their order the same in both runs: "
        f"{'yes' if same else 'no'}"
    )
    for mode, rows in summaries["A"].groupby("mode"):
        means_b = summaries["B"].set_index(["mode", "stack", "method"])["mean_s"]
        paired = [(r.mean_s, means_b.get((mode, r.stack, r.method))) for r in rows.itertuples()]
        rho = scipy_stats.spearmanr(*zip(*paired, strict=True)).statistic
        print(f"{mode}: Spearman rho of the two runs' means {rho:.2f}")


def lab(args: argparse.Namespace) -> None:
    results = args.results or Path(tempfile.mkdtemp(prefix="aa-agreement-"))
    results.mkdir(parents=True, exist_ok=True)
    walls = [make_run(args.lab_name, results, f"aa-{k}", args.extra_vars) for k in (1, 2)]
    print(f"wall time: run 1 {walls[0] / 60:.1f} min, run 2 {walls[1] / 60:.1f} min")
    runs(argparse.Namespace(runs=[results / "aa-1", results / "aa-2"]))


def runs(args: argparse.Namespace) -> None:
    for run_dir in args.runs:
        print(benchmark_wall(run_dir))
    agreement(*args.runs)


def coverage(rng: np.random.Generator, cells: int, design: dict[str, int], noise: Noise) -> float:
    covered = 0
    for index in range(cells):
        found = cell_interval(*cell(rng, TRUE_MEAN, noise=noise, **design), seed=index)
        covered += found.low[0] <= TRUE_MEAN <= found.high[0]
    return covered / cells


def pooled_t_coverage(rng: np.random.Generator, cells: int, design: dict[str, int]) -> float:
    """The old interval: Student t over every request as if independent."""
    covered = 0
    for _ in range(cells):
        times, _labels = cell(rng, TRUE_MEAN, **design)
        low, high = scipy_stats.t.interval(
            0.95, len(times) - 1, loc=times.mean(), scale=scipy_stats.sem(times)
        )
        covered += low <= TRUE_MEAN <= high
    return covered / cells


def called_slower(rng: np.random.Generator, cells: int, shift: float) -> tuple[float, float]:
    """Share of A/B comparisons called slower and faster, B's true mean (1 + shift) × A's."""
    slower = faster = 0
    for index in range(cells):
        a = cell_interval(*cell(rng, TRUE_MEAN, **DEFAULT), seed=index)
        b = cell_interval(*cell(rng, TRUE_MEAN * (1 + shift), **DEFAULT), seed=index)
        found = difference(a, b)
        slower += found.low_s > 0
        faster += found.high_s < 0
    return slower / cells, faster / cells


def simulated(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    noise = Noise()
    print(
        f"known truth: mean {TRUE_MEAN * 1000:.1f} ms, AR(1) phi {noise.phi}, log sd "
        f"{noise.sigma}, 1% spikes ×3–8, run-level log sd {noise.run_sd}; {args.cells} cells"
    )
    cells = args.cells
    print(f"coverage, default 5 × 200 (sectioning t): {coverage(rng, cells, DEFAULT, noise):.1%}")
    bootstrap_cells = max(20, cells // 5)  # the bootstrap is slower
    print(
        f"coverage, 1 × 1000 (block bootstrap, {bootstrap_cells} cells): "
        f"{coverage(rng, bootstrap_cells, PAPER, noise):.1%} of the true mean; "
        f"{coverage(rng, bootstrap_cells, PAPER, Noise(run_sd=0.0)):.1%} without run offsets"
    )
    print(
        f"coverage, 1 × 1000 with the old interval over pooled requests: "
        f"{pooled_t_coverage(rng, cells, PAPER):.1%}"
    )
    slower, faster = called_slower(rng, cells, 0.0)
    print(
        f"A/A false positives, one cell at 95% (Welch on repetition means): {slower + faster:.1%}"
    )
    for shift in (0.05, 0.10, 0.20):
        slower, faster = called_slower(rng, cells, shift)
        print(f"power against a {shift:.0%} slowdown: {slower:.1%} (called faster: {faster:.1%})")
    pairs = max(20, cells // 3)
    calls = whole_run_calls(rng, np.zeros(CELLS_PER_RUN), pairs)
    print(
        f"A/A compares of whole runs ({CELLS_PER_RUN} cells, adjusted intervals, {pairs} pairs): "
        f"{(calls != 0).any(axis=1).mean():.1%} call any cell different; "
        f"{(calls != 0).mean():.1%} of cells"
    )
    half = np.arange(CELLS_PER_RUN) % 2 == 0
    for shift in (0.05, 0.10, 0.20):
        calls = whole_run_calls(rng, np.where(half, shift, 0.0), max(10, pairs // 3))
        print(
            f"whole runs, half the cells {shift:.0%} slower: {(calls[:, half] == 1).mean():.1%} "
            f"of them called slower (faster: {(calls[:, half] == -1).mean():.1%}); "
            f"{(calls[:, ~half] != 0).mean():.1%} of the unchanged cells called different"
        )
    calls = whole_run_calls(
        rng, np.zeros(CELLS_PER_RUN), pairs, run_factor=1.25, against_shift=True
    )
    print(
        f"A/A whole runs, the second 25% slower in every cell (a run-wide shift), against the "
        f"shift: {(calls != 0).any(axis=1).mean():.1%} call any cell different; "
        f"{(calls != 0).mean():.1%} of cells"
    )
    two = np.isin(np.arange(CELLS_PER_RUN), (0, CELLS_PER_RUN // 2))
    for shift in (0.10, 0.20, 0.30):
        calls = whole_run_calls(
            rng, np.where(two, shift, 0.0), max(10, pairs // 3), run_factor=1.25,
            against_shift=True,
        )  # fmt: skip
        print(
            f"two cells {shift:.0%} slower on top of that shift: {(calls[:, two] == 1).mean():.1%} "
            f"of them called slower beyond it (faster: {(calls[:, two] == -1).mean():.1%}); "
            f"{(calls[:, ~two] != 0).mean():.1%} of the other cells called different"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    on_lab = commands.add_parser("lab", help="two back-to-back make runs on the embedded lab")
    on_lab.add_argument("--lab-name", default="stats")
    on_lab.add_argument("--results", type=Path, help="default: a new temporary folder")
    on_lab.add_argument("--extra-vars", default="", help="added to both runs' EXTRA_VARS")
    on_lab.set_defaults(func=lab)
    made = commands.add_parser("runs", help="the same figures for two run folders made already")
    made.add_argument("runs", type=Path, nargs=2, metavar="RUN_DIR")
    made.set_defaults(func=runs)
    sim = commands.add_parser("simulated", help="coverage and A/A false positives, known truth")
    sim.add_argument("--cells", type=int, default=300)
    sim.add_argument("--seed", type=int, default=2026)
    sim.set_defaults(func=simulated)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
