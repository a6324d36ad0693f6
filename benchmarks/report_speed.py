"""How long `httplab report` takes on about a million requests.

Writes a synthetic run (6 stacks x 2 methods x 2 modes x REPETITIONS x ROWS requests, with
manifest and meta files; by default the default run's 5 repetitions) to a temporary folder, then
times the command as a user runs it, and each phase in-process.
Goal: under 10 s on the 2-core reference machine. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/report_speed.py [--rows 8333] [--repetitions 5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis import figures, report  # noqa: E402
from analysis.load import load_run  # noqa: E402
from analysis.noise import noise_of  # noqa: E402
from analysis.ranking import ranked_summary  # noqa: E402
from tests.analysis.synthetic import write_run  # noqa: E402

GOAL_S = 10.0
T = TypeVar("T")


def timed(label: str, action: Callable[..., T], *args: Any) -> T:
    start = time.perf_counter()
    result = action(*args)
    print(f"  {label:<32} {time.perf_counter() - start:6.2f} s")
    return result


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rows", type=int, default=8_333, help="requests per CSV (default 8333)")
    options.add_argument(
        "--repetitions", type=int, default=5, help="CSVs per cell, as the default run (default 5)"
    )
    options.add_argument("--repeat", type=int, default=2, help="timed runs of the command")
    args = options.parse_args()
    with tempfile.TemporaryDirectory(prefix="httplab-report-speed-") as tmp:
        root = Path(tmp) / "run"
        start = time.perf_counter()
        write_run(
            root, rows=args.rows, repetitions=args.repetitions, failure_rate={"flask-dev": 0.05}
        )
        samples = args.rows * args.repetitions * 6 * 2 * 2
        print(
            f"synthetic run: {samples:,} requests in {24 * args.repetitions} CSVs "
            f"({time.perf_counter() - start:.1f} s)"
        )

        walls = []
        for attempt in range(1, args.repeat + 1):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "httplab", "report", str(root)],
                cwd=REPO,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - start)
            print(f"httplab report, run {attempt}: {walls[-1]:.2f} s")

        print("phases (in-process, imports excluded):")
        run = timed("load + validate CSVs", load_run, root, root / "report")
        summary, verdicts = timed(
            "summary statistics and verdict", ranked_summary, run.samples, run.measurements
        )
        rendered = timed("figures", figures.render_report, run.samples, summary)
        built = report.Report(
            run, summary, rendered, root / "report", pd.DataFrame(),
            verdicts=verdicts, noise=noise_of(run, summary),
        )  # fmt: skip
        timed("tables.md + index.html + write", report.write_outputs, built)

        best = min(walls)
        verdict = "meets" if best < GOAL_S else "MISSES"
        print(f"best: {best:.2f} s for {samples:,} requests; {verdict} the {GOAL_S:.0f} s goal")


if __name__ == "__main__":
    main()
