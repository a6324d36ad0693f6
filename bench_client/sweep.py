"""The latency-throughput sweep: the rate mode at rising rates until the server bends.

Step n offers config.Sweep.rate(n) requests/s for step_seconds (an ordinary
rate-mode measurement, run.run, with its own CSV and meta file
PATH.step<n>.csv). After each step the stop rule (`judge`) reads what it
measured; the sweep goes on only while the step is within it. The step's meta
file then gets a "sweep" block (results_format.SWEEP_SCHEMA): the rate offered,
p50/p99, the verdict and, on the last step, why the sweep stopped.

The rule, checked in this order (docs/method.md, "The latency-throughput sweep"):

1. client-limited: the step's client_limits verdict (limits.py) says the
   client was the limit (it could not keep its schedule in a way that changed
   the result), so higher rates would measure the client; a late timer that
   did not change it is a note of the step's verdict, and the sweep goes on;
2. failures: more than max_failures of the step's requests failed;
3. shortfall: the throughput fell more than `shortfall` below the rate offered;
4. latency: the step's p99 exceeds latency_factor x step 1's p99.

The sustained rate is the last step within the rule; a client-limited stop
makes it a lower bound of the server's, never its knee.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench_client import run as one_run
from bench_client.config import RunConfig, Sweep
from bench_client.documents import StopReason, read_meta
from bench_client.results_format import (
    CSV_HEADER,
    SWEEP_SCHEMA,
    ExitCode,
    meta_path_for,
    step_csv_path,
    write_atomic,
)
from bench_client.settings import SETTINGS


@dataclass(frozen=True)
class Step:
    """What the stop rule needs of one measured step."""

    number: int
    offered_rps: float
    requests: int
    failures: int
    throughput_rps: float | None  # correct responses per second of the step's window
    p50_s: float | None
    p99_s: float | None
    client_reasons: tuple[str, ...]  # limits.py's verdict; empty = not client-limited
    client_notes: tuple[str, ...] = ()  # what limits.py saw but judged not to be a limit

    @classmethod
    def read(cls, number: int, offered_rps: float, csv_path: Path) -> Step:
        """The step as bench_client wrote it: its CSV's times and its meta file's verdicts."""
        meta = read_meta(Path(meta_path_for(csv_path)))
        times = sorted(_times(csv_path))
        return cls(
            number=number,
            offered_rps=offered_rps,
            requests=meta.requests,
            failures=meta.failures,
            throughput_rps=meta.throughput_rps,
            p50_s=_percentile(times, 0.50),
            p99_s=_percentile(times, 0.99),
            client_reasons=meta.client_reasons,
            client_notes=tuple(map(str, meta.document["client_limits"].get("notes") or ())),
        )


def _times(csv_path: Path) -> list[float]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        column = header.index(CSV_HEADER[1])
        return [float(row[column]) for row in rows if row[column]]


def _percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile (as limits.spread), None without a success."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def judge(rule: Sweep, first: Step, step: Step) -> tuple[StopReason, str]:
    """(verdict, why): StopReason.WITHIN (why: what the client saw that was no limit), or the
    reason the sweep stops at `step`, in words."""
    if step.client_reasons:
        return StopReason.CLIENT_LIMITED, "; ".join(step.client_reasons)
    share = step.failures / step.requests if step.requests else 1.0
    if share > rule.max_failures:
        return StopReason.FAILURES, f"{share:.1%} of requests failed (over {rule.max_failures:.1%})"
    achieved = step.throughput_rps or 0.0
    if achieved < (1 - rule.shortfall) * step.offered_rps:
        return StopReason.SHORTFALL, (
            f"{achieved:.0f} responses/s of {step.offered_rps:.0f}/s offered "
            f"(more than {rule.shortfall:.0%} short)"
        )
    if step.p99_s is not None and first.p99_s is not None:
        limit = rule.latency_factor * first.p99_s
        if step.p99_s > limit:
            return StopReason.LATENCY, (
                f"p99 {step.p99_s * 1e3:.2f} ms over {rule.latency_factor:g} x step 1's "
                f"{first.p99_s * 1e3:.2f} ms"
            )
    return StopReason.WITHIN, "; ".join(step.client_notes)


@dataclass
class Outcome:
    """How a sweep ended: the steps measured, why it stopped, the highest rate sustained."""

    steps: list[Step]
    reason: StopReason
    detail: str

    @property
    def sustained(self) -> Step | None:
        """The last step within the rule: every step but a stopping one (None if step 1 was)."""
        if self.reason in (StopReason.LADDER_END, StopReason.INTERRUPTED, StopReason.NO_ANSWER):
            return self.steps[-1] if self.steps else None
        return self.steps[-2] if len(self.steps) >= 2 else None


def _say(message: str) -> None:
    print(f"bench_client: sweep: {message}", file=sys.stderr, flush=True)


def run(config: RunConfig) -> ExitCode:
    """Every step of config.sweep in turn, until the rule stops the sweep."""
    rule = config.sweep
    assert rule is not None
    steps: list[Step] = []
    overhead: dict[str, Any] | None = None  # measured once, at step 1's rate
    reason, detail = StopReason.LADDER_END, f"all {rule.steps} steps were within the rule"
    for number in range(1, rule.steps + 1):
        out = step_csv_path(config.out, number)
        step_config = replace(
            config,
            mode="rate",
            rate=rule.rate(number),
            iterations=max(config.processes, rule.iterations(number)),
            out=Path(out),
            sweep=None,
        )
        code = one_run.run(step_config, overhead=overhead)
        if code is ExitCode.FIRST_REQUEST_FAILED and steps:
            reason, detail = (
                StopReason.NO_ANSWER,
                f"step {number}'s first request got no right answer",
            )
            break
        if code not in (ExitCode.DONE, ExitCode.INTERRUPTED):
            return code  # nothing of this step was written: step 1 unanswered, or unwritable
        step = Step.read(number, rule.rate(number), Path(out))
        steps.append(step)
        overhead = overhead or _overhead_of(Path(out))
        if code is ExitCode.INTERRUPTED:
            reason, detail = StopReason.INTERRUPTED, f"interrupted in step {number}"
            mark_step(rule, step, steps[0], Path(out), stop=(reason, detail))
            return code
        verdict, why = judge(rule, steps[0], step)
        if verdict != StopReason.WITHIN:
            reason, detail = verdict, why
            break
        if why:
            _say(f"step {number} ({step.offered_rps:.0f}/s), client: {why}; going on")
        if number < rule.steps:
            mark_step(rule, step, steps[0], Path(out), stop=None)
    outcome = Outcome(steps, reason, detail)
    last = step_csv_path(config.out, outcome.steps[-1].number)
    mark_step(rule, outcome.steps[-1], steps[0], Path(last), stop=(reason, detail))
    _report(outcome)
    return ExitCode.DONE


def _overhead_of(csv_path: Path) -> dict[str, Any] | None:
    meta = json.loads(Path(meta_path_for(csv_path)).read_text(encoding="utf-8"))
    return meta.get("client_overhead")


def mark_step(
    rule: Sweep, step: Step, first: Step, csv_path: Path, stop: tuple[StopReason, str] | None
) -> None:
    """Add the "sweep" block to the step's meta file (rewritten atomically; the CSV stays)."""
    path = Path(meta_path_for(csv_path))
    meta = json.loads(path.read_text(encoding="utf-8"))
    verdict, why = judge(rule, first, step)
    block: dict[str, Any] = {
        "schema": SWEEP_SCHEMA,
        "step": step.number,
        "offered_rps": step.offered_rps,
        "p50_s": step.p50_s,
        "p99_s": step.p99_s,
        "verdict": verdict,
        "why": why,
        "rule": asdict(rule),
        "stopped": None,
    }
    if stop is not None:
        block["stopped"] = {"reason": stop[0], "detail": stop[1]}
    write_atomic(path, json.dumps({**meta, "sweep": block}, indent=2) + "\n")


def _report(outcome: Outcome) -> None:
    sustained = outcome.sustained
    if sustained is None:
        _say(
            f"stopped at step 1 ({outcome.reason}: {outcome.detail}): no rate was sustained; "
            f"lower {SETTINGS['sweep_start_rate'].flag}"
        )
        return
    bound = (
        " at least (the client was the limit above it)"
        if outcome.reason == StopReason.CLIENT_LIMITED
        else ""
    )
    p99 = f", p99 {sustained.p99_s * 1e3:.2f} ms" if sustained.p99_s is not None else ""
    _say(
        f"stopped after step {outcome.steps[-1].number} ({outcome.reason}: {outcome.detail}); "
        f"sustained{bound} {sustained.throughput_rps or 0:.0f} responses/s "
        f"(step {sustained.number}, {sustained.offered_rps:.0f}/s offered{p99})"
    )
