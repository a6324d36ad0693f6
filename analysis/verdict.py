"""The answer first: per mode and request, the fastest stack or group of stacks that cannot be
told apart, each other stack as a ratio to the fastest with its interval, and how much of the time
is the client's own.

One ranking for the whole report: every stack of a mode × request is compared with every other,
repetition by repetition on the log scale (analysis/pairwise.py), the comparisons of a mode are
one family (Benjamini–Hochberg calls, Benjamini–Yekutieli intervals), and

- the order is the stacks' geometric means of their repetitions' means (the centre the ratios
  compare);
- the fastest group is the fastest stack and every stack that cannot be told apart from it;
- a stack's best rank is 1 in the fastest group, else 1 + the stacks called faster than it; its
  worst rank is the stacks not called slower (itself included): "1–3" where its place is not
  established.

The repetitions in which the client was the limit measure the client: a stack is ranked on its
other repetitions, and marked; a stack limited in every repetition is not ranked, and the fastest
cannot be told while it is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from analysis.intervals import CellInterval, selection_adjusted_confidence, standard_error
from analysis.load import LoadedCsv
from analysis.naming import order_modes, order_requests
from analysis.pairwise import WITHIN_RUN, CellMeans, Ratio, paired_ratio

Key = tuple[str, str, str]  # mode, stack, request
VERDICT_JSON = "verdict.json"  # beside a report's index.html, and a comparison's


@dataclass(frozen=True)
class Standing:
    """One stack in a verdict: where it ranks, and on what."""

    stack: str
    estimate_s: float | None  # None: not ranked (the client was the limit in every repetition)
    repetitions: int  # the repetitions it is ranked on
    limited: tuple[int, ...] = ()  # the repetitions in which the client was the limit
    vs_fastest: Ratio | None = None  # its time over the fastest's (None for the fastest)
    rank_best: int | None = None
    rank_worst: int | None = None
    at_floor: bool = False  # its mean less the client's own time is within the noise of 0

    @property
    def rank(self) -> str:
        if self.rank_best is None:
            return ""
        if self.rank_best == self.rank_worst:
            return str(self.rank_best)
        return f"{self.rank_best}–{self.rank_worst}"


@dataclass(frozen=True)
class Verdict:
    mode: str
    request: str
    standings: list[Standing]  # ranked ones fastest first, then those not ranked
    level: float  # confidence level of the mode's intervals
    method: str  # how the pairs were compared
    limits: dict[str, str] = field(default_factory=dict)  # stacks not ranked: the client's why
    overhead_s: float | None = None  # the client alone, per request (its calibration)
    # The calibration's concurrency when it was not the run's: its time is then no share of it.
    calibrated_at: int | None = None

    @property
    def ranked(self) -> list[Standing]:
        return [s for s in self.standings if s.estimate_s is not None]

    @property
    def fastest(self) -> list[str]:
        return [s.stack for s in self.ranked if s.rank_best == 1]

    @property
    def provisional(self) -> bool:
        return self.method == WITHIN_RUN

    def client_share(self) -> tuple[float, float, float, float] | None:
        """(lowest, highest share of the client in the ranked stacks' times; their lowest and
        highest time), or None without a calibration."""
        times = [s.estimate_s for s in self.ranked if s.estimate_s]
        if self.overhead_s is None or self.calibrated_at is not None or not times:
            return None
        low, high = min(times), max(times)
        # A calibration can exceed a fast stack's time (it is measured apart): all of it, then.
        return min(1.0, self.overhead_s / high), min(1.0, self.overhead_s / low), low, high

    def headline(self) -> str:
        """The one sentence: the fastest, or why it cannot be told."""
        if not self.ranked:
            return "Cannot tell: the client was the limit for every stack."
        group = _names(self.fastest)
        found = (
            f"Fastest: {group}"
            if len(self.fastest) == 1
            else f"Fastest, cannot be told apart: {group}"
            if len(self.fastest) < len(self.ranked)
            else f"Cannot be told apart: {group} (all {len(self.ranked)})"
        )
        if self.limits:
            return (
                f"Cannot tell which is fastest: the client was the limit for "
                f"{_names(list(self.limits))}. Among the others: {found[0].lower()}{found[1:]}."
            )
        return f"{found}."

    def slower(self) -> list[str]:
        """One line per ranked stack outside the fastest group."""
        return [
            f"{s.stack}: {ratio_words(s.vs_fastest)} slower than the fastest"
            for s in self.ranked
            if s.rank_best != 1 and s.vs_fastest is not None
        ]

    def client_words(self) -> str:
        if self.overhead_s is not None and self.calibrated_at is not None:
            return (
                f"The client alone was calibrated at a concurrency of {self.calibrated_at}, not "
                "the run's: its share of the time is not known."
            )
        share = self.client_share()
        if share is None:
            return ""
        low, high, fastest, slowest = share
        spread = _ms_range(fastest, slowest)
        return (
            f"The client alone takes {self.overhead_s * 1e3:.2f} ms a request "  # type: ignore[operator]
            f"({_pct_range(low, high)} of the stacks' {spread})."
        )

    def notes(self) -> list[str]:
        """What the reader must know to trust the ranking: marks, floor, provisional."""
        lines = []
        partly = [s for s in self.ranked if s.limited]
        if partly:
            lines.append(
                "Ranked on the repetitions the client kept up with: "
                + "; ".join(
                    f"{s.stack} on {s.repetitions} of {s.repetitions + len(s.limited)}"
                    for s in partly
                )
                + "."
            )
        floor = [s.stack for s in self.ranked if s.at_floor]
        if floor:
            lines.append(
                f"At the client's own floor (its time less the client's is within the noise of "
                f"0): {_names(floor)}."
            )
        if self.provisional:
            lines.append("One repetition: run-to-run noise not measured, provisional.")
        return lines

    def compact(self) -> str:
        """One line for a terminal: the fastest group and the spread to the slowest."""
        where = f"{self.mode} {self.request}:"
        if not self.ranked:
            return f"{where} cannot tell, the client was the limit"
        if len(self.fastest) == len(self.ranked) > 1:
            parts = [f"all {len(self.ranked)} cannot be told apart"]
        else:
            parts = [f"fastest {', '.join(self.fastest)}"]
            if len(self.fastest) > 1:
                parts[0] += " (cannot be told apart)"
        # The slowest stack told apart from the fastest; where none is, the spread.
        slower = [row for row in self.ranked if row.stack not in self.fastest]
        slowest = (slower or self.ranked)[-1]
        if slowest.vs_fastest is not None and len(self.ranked) > 1:
            label = (
                "spread to the slowest" if not slower
                else "slowest" if slowest is self.ranked[-1]
                else "slowest told apart"
            )  # fmt: skip
            parts.append(f"{label} {slowest.stack} {ratio_words(slowest.vs_fastest)}")
        if self.limits:
            parts.insert(0, f"cannot tell, the client was the limit for {', '.join(self.limits)}")
        share = self.client_share()
        if share is not None:
            parts.append(f"the client {_pct_range(share[0], share[1])} of the time")
        if self.provisional:
            parts.append("provisional")
        return f"{where} " + "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        share = self.client_share()
        return {
            "mode": self.mode,
            "request": self.request,
            "headline": self.headline(),
            "fastest": self.fastest,
            "confidence_level": self.level,
            "method": self.method,
            "provisional": self.provisional,
            "stacks": [_standing_json(s) for s in self.standings],
            "client_limited": self.limits,
            "client_overhead_s": self.overhead_s,
            "client_share": None
            if share is None
            else {"low": share[0], "high": share[1], "fastest_s": share[2], "slowest_s": share[3]},
            "lines": [*self.slower(), self.client_words(), *self.notes()],
        }


def _standing_json(s: Standing) -> dict[str, Any]:
    ratio = s.vs_fastest
    return {
        "stack": s.stack,
        "rank": s.rank,
        "estimate_s": s.estimate_s,
        "repetitions": s.repetitions,
        "client_limited_repetitions": list(s.limited),
        "at_client_floor": s.at_floor,
        "vs_fastest": None
        if ratio is None
        else {"ratio": ratio.ratio, "low": ratio.low, "high": ratio.high, "called": ratio.called},
    }


def ratio_words(ratio: Ratio | None) -> str:
    if ratio is None or np.isnan(ratio.low):
        return "—"
    return f"{ratio.ratio:.2f}× [{ratio.low:.2f}, {ratio.high:.2f}]"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _pct_range(low: float, high: float) -> str:
    return f"{low:.0%}" if f"{low:.0%}" == f"{high:.0%}" else f"{low:.0%}–{high:.0%}"


def _ms_range(low: float, high: float) -> str:
    return f"{low * 1e3:.2f} ms" if low == high else f"{low * 1e3:.2f}–{high * 1e3:.2f} ms"


def cell_means(
    samples: pd.DataFrame, intervals: dict[Key, CellInterval], limited: dict[Key, set[int]]
) -> dict[Key, CellMeans]:
    """Each cell's usable repetition means (the client-limited ones left out)."""
    ok = samples.loc[samples["ok"]]
    if "repetition" not in ok.columns:
        ok = ok.assign(repetition=1)
    means = ok.groupby(["mode", "stack", "request", "repetition"], observed=True)["time_s"].mean()
    found: dict[Key, dict[int, float]] = {}
    for (mode, stack, request, repetition), mean in means.items():
        key = (str(mode), str(stack), str(request))
        if int(repetition) not in limited.get(key, set()) and mean > 0:
            found.setdefault(key, {})[int(repetition)] = float(mean)
    result = {}
    for key, usable in found.items():
        cell = intervals.get(key)
        log_se = None
        if cell is not None and cell.repetitions == 1 and cell.repetition_means.size:
            log_se = standard_error(cell) / float(cell.repetition_means[0])
        result[key] = CellMeans(usable, log_se if log_se is None or np.isfinite(log_se) else None)
    return result


def limited_repetitions(
    measurements: list[LoadedCsv],
) -> tuple[dict[Key, set[int]], dict[Key, str]]:
    """The repetitions of each cell in which the client was the limit, and the first why."""
    repetitions: dict[Key, set[int]] = {}
    why: dict[Key, str] = {}
    for m in measurements:
        if m.client_limit:
            key = (m.mode, m.stack, m.request)
            repetitions.setdefault(key, set()).add(m.repetition)
            why.setdefault(key, m.client_limit)
    return repetitions, why


def run_verdicts(
    means: dict[Key, CellMeans],
    limited: dict[Key, set[int]],
    why: dict[Key, str],
    summary: pd.DataFrame,
) -> list[Verdict]:
    """The verdict of every mode × request of a run (``summary``'s cells), in the report's
    order, from the cells' usable repetition means (cell_means) and their client limits."""
    rows = summary.set_index(["mode", "stack", "request"])
    verdicts = []
    for mode in order_modes(summary["mode"].unique()):
        in_mode = summary.loc[summary["mode"] == mode]
        requests = order_requests(in_mode["request"].unique())
        stacks = {r: list(in_mode.loc[in_mode["request"] == r, "stack"]) for r in requests}
        ratios = {request: _pairs(means, mode, request, stacks[request]) for request in requests}
        p_values = [r.p_value for found in ratios.values() for r in found.values()]
        level = selection_adjusted_confidence(np.array(p_values, dtype=float))
        for request in requests:
            at_level = {pair: r.at(level) for pair, r in ratios[request].items()}
            verdicts.append(
                _verdict(mode, request, stacks[request], means, at_level, level, rows, limited, why)
            )
    return verdicts


def _pairs(
    means: dict[Key, CellMeans], mode: str, request: str, stacks: list[str]
) -> dict[tuple[str, str], Ratio]:
    found = {}
    for a, b in combinations(stacks, 2):
        cell_a, cell_b = means.get((mode, a, request)), means.get((mode, b, request))
        if cell_a is None or cell_b is None:
            continue
        ratio = paired_ratio(cell_a, cell_b)
        if ratio is not None:
            found[(a, b)] = ratio
    return found


def _ratio(ratios: dict[tuple[str, str], Ratio], a: str, b: str) -> Ratio | None:
    """a's time over b's, whichever way the pair was compared."""
    if (a, b) in ratios:
        return ratios[(a, b)]
    return ratios[(b, a)].inverse() if (b, a) in ratios else None


def _called(ratio: Ratio | None) -> bool:
    return ratio is not None and ratio.called


def _verdict(
    mode: str,
    request: str,
    stacks: list[str],
    means: dict[Key, CellMeans],
    ratios: dict[tuple[str, str], Ratio],
    level: float,
    rows: pd.DataFrame,
    limited: dict[Key, set[int]],
    why: dict[Key, str],
) -> Verdict:
    ranked = sorted(
        (s for s in stacks if (mode, s, request) in means),
        key=lambda s: means[(mode, s, request)].estimate,
    )
    unranked = [s for s in stacks if s not in ranked]
    faster = {s: 0 for s in ranked}  # stacks called faster than s
    slower = {s: 0 for s in ranked}
    for a, b in combinations(ranked, 2):
        ratio = _ratio(ratios, a, b)
        if ratio is not None and ratio.called:
            quick, slow = (a, b) if ratio.ratio < 1 else (b, a)
            faster[slow] += 1
            slower[quick] += 1
    to_fastest = {s: _ratio(ratios, s, ranked[0]) for s in ranked[1:]}
    # The fastest group: the fastest and every stack that cannot be told apart from it.
    group = {s for s in ranked if s == ranked[0] or not _called(to_fastest[s])}
    standings = [
        Standing(
            stack,
            means[(mode, stack, request)].estimate,
            len(means[(mode, stack, request)].means),
            tuple(sorted(limited.get((mode, stack, request), ()))),
            to_fastest.get(stack),
            1 if stack in group else 1 + faster[stack],
            len(ranked) - slower[stack],
            at_floor(rows.loc[(mode, stack, request)]),
        )
        for stack in ranked
    ]
    standings += [
        Standing(stack, None, 0, tuple(sorted(limited.get((mode, stack, request), ()))))
        for stack in unranked
    ]
    methods = {r.method for r in ratios.values()}
    cells = rows.loc[[(mode, s, request) for s in stacks]]
    overhead = cells["client_overhead_s"].dropna()
    elsewhere = cells.loc[
        cells["client_overhead_concurrency"].notna()
        & (cells["client_overhead_concurrency"] != cells["concurrency"]),
        "client_overhead_concurrency",
    ]
    return Verdict(
        mode,
        request,
        standings,
        level,
        methods.pop() if len(methods) == 1 else "; ".join(sorted(methods)),
        {s: why.get((mode, s, request), "client-limited") for s in unranked},
        float(overhead.mean()) if len(overhead) else None,
        int(elsewhere.iloc[0]) if len(elsewhere) else None,
    )


def in_verdict_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows by request, then in the verdict's order (the ranked ones fastest first)."""
    requests = {name: i for i, name in enumerate(order_requests(rows["request"].unique()))}
    return (
        rows.assign(_request=rows["request"].map(requests))
        .sort_values(["_request", "rank_mean_s", "mean_s"], na_position="last", kind="stable")
        .drop(columns="_request")
    )


def at_floor(row: pd.Series) -> bool:
    """The row's mean less the client's own time is within its run-to-run noise of 0: the
    lower end of its interval reaches the client's calibrated time (at the same concurrency)."""
    overhead, low = row["client_overhead_s"], row["ci95_low_s"]
    calibrated, run = row["client_overhead_concurrency"], row["concurrency"]
    if pd.isna(overhead) or pd.isna(low) or (pd.notna(calibrated) and calibrated != run):
        return False
    return bool(low <= overhead)


def rank_columns(summary: pd.DataFrame, verdicts: list[Verdict]) -> pd.DataFrame:
    """rank, rank_best, rank_worst and the ratio to the fastest of each summary row."""
    found = {(v.mode, s.stack, v.request): s for v in verdicts for s in v.standings if s.estimate_s}
    rows = []
    for key in zip(summary["mode"], summary["stack"], summary["request"], strict=True):
        s = found.get(key)
        ratio = s.vs_fastest if s else None
        rows.append(
            {
                "rank": s.rank if s else "",
                "rank_best": s.rank_best if s else None,
                "rank_worst": s.rank_worst if s else None,
                "rank_mean_s": s.estimate_s if s else np.nan,
                "ranked_repetitions": s.repetitions if s else 0,
                "vs_fastest": ratio.ratio if ratio else (1.0 if s else np.nan),
                "vs_fastest_low": ratio.low if ratio else np.nan,
                "vs_fastest_high": ratio.high if ratio else np.nan,
                "vs_fastest_level": ratio.level if ratio else np.nan,
                "at_client_floor": s.at_floor if s else False,
            }
        )
    frame = pd.DataFrame(rows, index=summary.index)
    return frame.astype({"rank_best": "Int64", "rank_worst": "Int64"})


def json_safe(node: Any) -> Any:
    """``node`` with every number that is not finite as null: verdict.json is strict JSON."""
    if isinstance(node, dict):
        return {key: json_safe(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [json_safe(value) for value in node]
    if isinstance(node, float | np.floating):
        return float(node) if np.isfinite(node) else None
    if isinstance(node, np.integer):
        return int(node)
    return node


def verdict_document(run_id: str, verdicts: list[Verdict], noise: str) -> dict[str, Any]:
    """report/verdict.json: the verdicts as data, beside the report."""
    return json_safe(
        {
            "run_id": run_id,
            "method": (
                "pairwise ratios of repetition means, blocked by repetition, on the log scale; "
                "Benjamini-Hochberg calls and Benjamini-Yekutieli intervals over each mode's pairs"
            ),
            "verdicts": [v.as_json() for v in verdicts],
            "noise": noise,
        }
    )
