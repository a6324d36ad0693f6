"""What `httplab compare` says first: whether the runs are on different hardware and, if so, how
much slower one machine is as a whole with drift included (analysis/hardware.py); then per mode
and request, each run's fastest stack or group (its own verdict, analysis/verdict.py) and the
cells that moved beyond their mode's run-wide shift (analysis/shift.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.hardware import WholeRun, differences, hardware, whole_run
from analysis.html import Card
from analysis.intervals import CellInterval
from analysis.load import Run
from analysis.naming import order_stacks
from analysis.verdict import Key, Verdict

Cells = dict[Key, CellInterval]


@dataclass(frozen=True)
class Machine:
    """The runs made on one machine (equal host facts), by their place in the comparison."""

    runs: list[int]
    label: str  # its first run's, "+N runs" when it has more


@dataclass(frozen=True)
class Against:
    """One machine against the first: its whole-run difference and what differs."""

    machine: Machine
    difference: WholeRun
    facts: list[str]


@dataclass(frozen=True)
class CompareVerdict:
    machines: list[Machine]
    against: list[Against]  # empty when every run is on one machine
    labels: list[str]
    verdicts: list[list[Verdict]]  # each run's own
    beyond: pd.DataFrame  # the cells that moved beyond their mode's run-wide shift

    def hardware_words(self) -> list[str]:
        if not self.against:
            return [
                f"All {len(self.labels)} runs are on the same hardware: what moved every stack "
                "alike is run-to-run drift (the run-wide shift), not a stack."
            ]
        first = self.machines[0].label
        return [a.difference.words(first, a.machine.label) for a in self.against]

    def answers(self) -> list[tuple[str, str, list[str]]]:
        """(mode · request, the fastest in each run, the cells beyond the shift) per answer."""
        found = []
        for verdict in self.verdicts[0]:
            where = (verdict.mode, verdict.request)
            per_run = [
                next((v for v in run if (v.mode, v.request) == where), None)
                for run in self.verdicts
            ]
            groups = [", ".join(order_stacks(v.fastest)) if v else "not measured" for v in per_run]
            if len(set(groups)) == 1:
                headline = f"Fastest in every run: {groups[0]}."
            else:
                headline = "The fastest differs: " + "; ".join(
                    f"{label}: {group}" for label, group in zip(self.labels, groups, strict=True)
                )
            moved = self.beyond.loc[
                (self.beyond["mode"] == verdict.mode) & (self.beyond["request"] == verdict.request)
            ]
            items = [
                f"{row['stack']} in {row['run']}: {row['shift_verdict']}"
                for _, row in moved.iterrows()
            ]
            found.append((f"{verdict.mode} · {verdict.request}", headline, items))
        return found

    def cards(self) -> list[Card]:
        hardware_card = Card(
            "Hardware",
            self.hardware_words()[0],
            [*self.hardware_words()[1:], *(f for a in self.against for f in a.facts[:4])],
            [f"Interval: {a.difference.method}." for a in self.against if a.difference.told],
        )
        return [hardware_card, *(Card(t, h, items, []) for t, h, items in self.answers())]

    def compact(self) -> list[str]:
        """One line for the hardware, one per mode and request."""
        return [
            *self.hardware_words(),
            *(f"{title.replace(' · ', ' ')}: {headline}" for title, headline, _ in self.answers()),
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.labels,
            "machines": [[self.labels[i] for i in m.runs] for m in self.machines],
            "hardware": [
                {
                    "machine": [self.labels[i] for i in a.machine.runs],
                    "against": [self.labels[i] for i in self.machines[0].runs],
                    "whole_run_pct": a.difference.pct,
                    "low_pct": a.difference.low_pct,
                    "high_pct": a.difference.high_pct,
                    "confidence_level": a.difference.level,
                    "method": a.difference.method,
                    "differences": a.facts,
                }
                for a in self.against
            ],
            "lines": self.compact(),
        }


def machines(runs: list[Run], labels: list[str]) -> list[Machine]:
    """The runs grouped by their hosts' facts, in the order each machine first appears."""
    found: dict[Any, list[int]] = {}
    for index, run in enumerate(runs):
        found.setdefault(hardware(run.manifest), []).append(index)
    return [
        Machine(indexes, labels[i[0]] + (f" (+{len(i) - 1} runs)" if len(i) > 1 else ""))
        for indexes in found.values()
        for i in [indexes]
    ]


def compare_verdict(
    runs: list[Run],
    labels: list[str],
    cells: list[Cells],
    verdicts: list[list[Verdict]],
    table: pd.DataFrame,
    pairs: list[tuple[Cells, Cells]],
) -> CompareVerdict:
    """The comparison's verdict; ``pairs``: the cells of same-hardware pairs of runs."""
    grouped = machines(runs, labels)
    first = grouped[0]
    against = [
        Against(
            machine,
            whole_run([cells[i] for i in first.runs], [cells[i] for i in machine.runs], pairs),
            differences(runs[first.runs[0]].manifest, runs[machine.runs[0]].manifest),
        )
        for machine in grouped[1:]
    ]
    beyond = table.loc[table["beyond_shift"].astype(bool)]
    return CompareVerdict(grouped, against, labels, verdicts, beyond)
