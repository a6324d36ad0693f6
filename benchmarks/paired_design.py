"""A/A agreement of the sequential and the paired design, measured on the embedded lab.

    .venv/bin/python benchmarks/paired_design.py --lab NAME [--runs 2] [--passes 5]
        [--iterations 200] [--blocks 1,25] [--mode constant] [--methods GET,POST]

Needs a lab where `make run` has provisioned the stacks and deployed
bench_client (it leaves every stack running). For each design it makes
`--runs` runs, one after the other, from the same commit; a run is `--passes`
passes over every stack × method, `--iterations` timed requests per cell:

- sequential: the default's order (each pass visits the stacks in a fresh
  random order, one bench_client per stack and method);
- paired-B: one bench_client per method and pass measures all stacks in one
  time window, B requests to a stack before the next (B=1 is round-robin).

All stacks run throughout, for both designs, so only the order differs.
Printed per design: the share of cells (stack × method) whose pass means
differ between two runs (Welch's t on the pass means, p < 0.05), for the
means themselves and for each stack's difference from its pass's mean over
stacks (what a ranking rests on); the spread of that difference across passes
(SD, % of the pass mean); Spearman's rho of the two runs' order of stacks; the
mean level against the sequential design's; measurements flagged busy by the
noise guard (client); and the wall time. A figure script: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import api

# Runs on the client with bench_client's venv: every measurement of one run of
# one design, then one JSON line with each cell's mean per pass.
DRIVER = r"""
import json, random, subprocess, sys, tempfile, pathlib
spec = json.loads(sys.argv[1])
rng = random.Random(spec["seed"])
out = pathlib.Path(tempfile.mkdtemp(prefix="aa-"))
common = ["--mode", spec["mode"], "--iterations", str(spec["iterations"]),
          "--warmup", "50", "--calibration", "off", "--quiet"]
rows = []

def bench(method, pass_, extra):
    argv = [sys.executable, "-m", "bench_client", "--method", method, *common, *extra]
    subprocess.run(argv, check=True)

def collect(method, pass_, stack, path):
    meta = json.loads(path.with_suffix(".meta.json").read_text())
    rows.append({"pass": pass_, "stack": stack, "method": method, "mean_s": meta["mean_s"],
                 "failures": meta["failures"], "busy": meta["host_noise"]["busy"]})

for pass_ in range(1, spec["passes"] + 1):
    if spec["block"] is None:
        stacks = rng.sample(spec["stacks"], k=len(spec["stacks"]))
        for name, url in stacks:
            for method in rng.sample(spec["methods"], k=len(spec["methods"])):
                path = out / f"{pass_}-{name}-{method}.csv"
                bench(method, pass_, ["--base-url", url, "--out", str(path)])
                collect(method, pass_, name, path)
    else:
        for method in rng.sample(spec["methods"], k=len(spec["methods"])):
            paired = [p for name, url in spec["stacks"] for p in ("--paired", f"{name}={url}")]
            template = out / f"{pass_}-{{stack}}-{method}.csv"
            bench(method, pass_, [*paired, "--block", str(spec["block"]),
                                  "--seed", str(rng.randrange(2**31)), "--out", str(template)])
            for name, _ in spec["stacks"]:
                collect(method, pass_, name, pathlib.Path(str(template).format(stack=name)))
print(json.dumps(rows))
"""

STACK_PORTS = {
    "flask-dev": 5000,
    "flask-gunicorn": 5001,
    "flask-gunicorn-gevent": 5002,
    "django-gunicorn": 5003,
    "django-daphne": 5004,
    "fastapi-uvicorn": 5005,
}


def run_design(lab: api.Lab, block: int | None, seed: int, args: argparse.Namespace) -> dict:
    spec = {
        "seed": seed,
        "block": block,
        "mode": args.mode,
        "iterations": args.iterations,
        "passes": args.passes,
        "methods": args.methods.split(","),
        "stacks": [
            [name, f"http://{lab.server.address}:{port}"] for name, port in STACK_PORTS.items()
        ],
    }
    started = time.monotonic()
    done = lab.client.run(
        "sh", "-c", 'cd ~/httplab-client/src && exec ../venv/bin/python -c "$0" "$1"',
        DRIVER, json.dumps(spec), timeout=3600,
    )  # fmt: skip
    return {"rows": json.loads(done.stdout), "seconds": time.monotonic() - started}


def relative_to_pass(rows: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Per cell, its mean's difference from its pass's mean over stacks (%), pass by pass."""
    by_pass: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        by_pass[(row["pass"], row["method"])].append(row)
    deltas: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (_, method), cells in sorted(by_pass.items()):
        level = statistics.fmean(cell["mean_s"] for cell in cells)
        for cell in cells:
            deltas[(cell["stack"], method)].append(100 * (cell["mean_s"] / level - 1))
    return deltas


def absolute(rows: list[dict]) -> dict[tuple[str, str], list[float]]:
    means: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["pass"]):
        means[(row["stack"], row["method"])].append(row["mean_s"])
    return means


def share_different(a: dict, b: dict) -> float:
    called = [stats.ttest_ind(a[cell], b[cell], equal_var=False).pvalue < 0.05 for cell in a]
    return sum(called) / len(called)


def rank_agreement(a: dict, b: dict) -> float:
    cells = sorted(a)
    rho = stats.spearmanr(
        [statistics.fmean(a[c]) for c in cells], [statistics.fmean(b[c]) for c in cells]
    )
    return float(rho.statistic)


def summarise(name: str, runs: list[dict], baseline_level: float | None) -> float:
    rows = [run["rows"] for run in runs]
    level = statistics.fmean(r["mean_s"] for run in rows for r in run)
    spread = statistics.fmean(
        statistics.stdev(values) for run in rows for values in relative_to_pass(run).values()
    )
    different_abs, different_rel, rhos = [], [], []
    for a, b in combinations(rows, 2):
        different_abs.append(share_different(absolute(a), absolute(b)))
        different_rel.append(share_different(relative_to_pass(a), relative_to_pass(b)))
        rhos.append(rank_agreement(absolute(a), absolute(b)))
    busy = sum(r["busy"] for run in rows for r in run)
    failures = sum(r["failures"] for run in rows for r in run)
    cells = sum(len(run) for run in rows)
    vs = "" if baseline_level is None else f" ({100 * (level / baseline_level - 1):+.1f}%)"
    print(
        f"{name:<12} different: means {statistics.fmean(different_abs):5.0%}, "
        f"vs pass mean {statistics.fmean(different_rel):5.0%} | "
        f"spread of (stack - pass mean) {spread:5.2f}% | rho {statistics.fmean(rhos):.2f} | "
        f"mean {level * 1e3:.3f} ms{vs} | busy {busy}/{cells} | failures {failures} | "
        f"wall {', '.join(format(run['seconds'], '.0f') for run in runs)} s"
    )
    return level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="embedded")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--blocks", default="1,25", help="block sizes of the paired design")
    parser.add_argument("--mode", default="constant", choices=("constant", "keepalive"))
    parser.add_argument("--methods", default="GET,POST")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save", type=Path, help="also write every cell's figures as JSON")
    args = parser.parse_args()
    lab = api.up(args.lab)
    designs: dict[str, int | None] = {"sequential": None}
    designs.update({f"paired-{b}": int(b) for b in args.blocks.split(",")})
    results: dict[str, list[dict]] = {name: [] for name in designs}
    # Runs alternate between designs, so a slow drift of the machine hits them alike.
    for run in range(args.runs):
        for name, block in designs.items():
            results[name].append(run_design(lab, block, args.seed + run, args))
            print(f"  {name} run {run + 1}: {results[name][-1]['seconds']:.0f} s", flush=True)
    print(
        f"\n{args.mode}, {args.passes} passes x {args.iterations} requests per cell, "
        f"{len(STACK_PORTS)} stacks x {args.methods}, {args.runs} runs per design"
    )
    baseline = None
    for name in designs:
        level = summarise(name, results[name], baseline)
        baseline = baseline if baseline is not None else level
    if args.save:
        args.save.write_text(json.dumps({"args": vars(args) | {"save": str(args.save)},
                                         "results": results}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
