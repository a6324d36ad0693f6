"""Is `httplab compare`'s whole-run difference between two machines honest? On simulated studies.

    .venv/bin/python benchmarks/cross_hardware.py [--studies 1000] [--seed 2026] [--fast]

Each study is runs of the default design (six stacks, GET and POST, both modes, 5 × 200 requests
per cell; tests/analysis/simulate.py) on machine A and on machine B, B 20% slower in every cell,
every run off as a whole by a drift whose log ratio between two runs on one machine has an SD of
10% (issue 26). For two and three runs per machine, and for one run each with same-hardware
pairs, it prints how often the interval of B's whole-run difference covers the true 20%, how
often it excludes no effect (the hardware called different), and, for a true effect of 0, how
often two equal machines are called different. Issue 26's goals: coverage at least 90% with two
runs per side; with three, no effect excluded in at least half of the studies; with a true
effect of 0, the hardware called different in at most 5%.

Every request is drawn (about 0.1 s a study of three runs per side); ``--fast`` draws each
repetition's mean alone, which is all the comparison reads. Prints figures; asserts nothing
(tests/analysis/test_hardware.py checks the goals).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.analysis.simulate import DRIFT_SD, HARDWARE_EFFECT, hardware_studies  # noqa: E402

DESIGNS = [  # runs per side, true effect, same-hardware pairs, the goal
    (2, HARDWARE_EFFECT, 0, "coverage ≥ 90%"),
    (3, HARDWARE_EFFECT, 0, "coverage ≥ 90%, no effect excluded in ≥ 50%"),
    (1, HARDWARE_EFFECT, 0, "no interval: one run per side cannot tell hardware from drift"),
    (1, HARDWARE_EFFECT, 3, "—"),
    (2, 0.0, 0, "called different in ≤ 5%"),
    (3, 0.0, 0, "called different in ≤ 5%"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fast", action="store_true", help="draw repetition means, not requests")
    args = parser.parse_args()
    print(
        f"{args.studies} studies a design, true effect {HARDWARE_EFFECT:.0%} or 0, drift SD "
        f"{DRIFT_SD:.0%} of the log ratio of two runs, seed {args.seed}"
        + (", repetition means drawn" if args.fast else ", every request drawn")
    )
    print("| runs per side | same-hardware pairs | true effect | interval given | covers the "
          "truth | excludes no effect | goal |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for offset, (runs, effect, pairs, goal) in enumerate(DESIGNS):
        started = time.monotonic()
        found = hardware_studies(
            args.seed + offset, args.studies, runs, effect, pairs=pairs, requests=not args.fast
        )
        print(
            f"| {runs} | {pairs} | {effect:.0%} | {found.told:.1%} | {found.coverage:.1%} | "
            f"{found.excludes_zero:.1%} | {goal} |  ({time.monotonic() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
