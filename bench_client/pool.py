"""--processes N: the concurrent and rate modes in N engine processes, merged into one run.

One engine is one thread, so one process tops out at about one core. The pool
splits the run between N processes (multiprocessing's "spawn", the same on
every OS) and merges what they measured:

- concurrent: the workers and the requests are split between the processes;
- rate: process p (from 0) of N sends requests p+1, p+1+N, ... of the schedule,
  at rate/N and `p/rate` seconds late, so together they send the schedule asked for;
- the warm-up and the connection limit are split too; the rate schedule is
  fixed and nothing else is drawn at random, so there is nothing to seed;
- every process verifies and warms up first, then all wait for one start time
  (wall clock, a moment after the last is ready), so start-up does not count;
- Start (s) is on one clock: seconds since that common start. Iterations are
  numbered 1..total in order of start over all processes, and Worker names the
  process and its worker: "p1w3" is process 1's worker 3 (processes from 1).

Ctrl-C: the processes ignore the interrupt (SIGINT, and on Windows CTRL_BREAK_EVENT,
reaches every process of the group: a terminal's Ctrl-C, the guard's interrupt); the
parent tells them to stop, and each ends its loop and sends what it measured.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.synchronize import Event
from typing import Any

from bench_client import limits, modes
from bench_client.config import RunConfig
from bench_client.engine_async import ConcurrentRunner, RateRunner
from bench_client.failures import RequestFailed
from bench_client.interrupts import ignore_interrupts
from bench_client.timing import Recorder, Sample, clock, fine_timer_resolution, sleep_until

START_MARGIN_S = 0.05  # from "all are ready" to the common start: time to see the signal


@dataclass(frozen=True)
class Part:
    """One process's share of the run."""

    number: int  # from 1, as in the Worker column
    config: RunConfig  # its iterations, warm-up, concurrency and rate
    phase: float  # rate mode: its schedule runs this many seconds after the common one


@dataclass
class Measured:
    """What one process sends back; times are seconds since the common start."""

    number: int
    samples: list[Sample]
    started: float  # wall clock when it began measuring
    finished: float
    cpu_s: float | None  # its own CPU time while measuring
    limits: dict[str, Any]


class StartFailed(Exception):
    """A process could not start measuring: the first request failed, or the host is unknown."""


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal whole shares, larger ones first: 10, 3 -> 4, 3, 3."""
    share, extra = divmod(total, parts)
    return [share + (1 if index < extra else 0) for index in range(parts)]


def plan(config: RunConfig) -> list[Part]:
    count = config.processes
    workers = split(config.concurrency, count)
    warmups = split(config.warmup, count)
    if config.mode == "rate":
        assert config.rate is not None
        # Process p takes every count-th request of the schedule, from request p+1.
        iterations = [len(range(index, config.iterations, count)) for index in range(count)]
        rate = config.rate / count
        phases = [index / config.rate for index in range(count)]
    else:
        iterations = split(config.iterations, count)
        rate = None
        phases = [0.0] * count
    return [
        Part(
            index + 1,
            replace(
                config,
                iterations=iterations[index],
                warmup=warmups[index],
                concurrency=workers[index],
                rate=rate,
                processes=1,
            ),
            phases[index],
        )
        for index in range(count)
    ]


def _stop_on(stop: Any, done: threading.Event, runner: ConcurrentRunner | RateRunner) -> None:
    """End the runner's loop when the parent says stop; requests still in flight are dropped."""
    while not done.wait(0.1):
        if stop.value:
            runner.engine.loop.call_soon_threadsafe(runner.engine.finish)
            return


def _work(
    part: Part,
    granularity: float,
    pipe: Connection,
    go: Event,
    stop: Any,  # RawValue: 1 = stop
    start_at: Any,  # multiprocessing.Value("d"): the common start, wall clock
) -> None:
    """One engine process: verify and warm up, report ready, wait for the start, measure."""
    ignore_interrupts()  # the parent decides when to stop
    with fine_timer_resolution():
        try:
            runner = modes.make_runner(part.config, granularity)
        except RequestFailed as exc:
            pipe.send(("failed", f"{part.config.label}: {exc}"))
            return
        assert isinstance(runner, ConcurrentRunner | RateRunner)
        try:
            modes.verify_and_warm_up(runner, part.config)
        except modes.FirstRequestFailed as exc:
            runner.close()
            pipe.send(("failed", str(exc)))
            return
        pipe.send(("ready", None))
        go.wait()
        if stop.value:
            runner.close()
            return
        # time.time() is the clock all processes share; perf_counter's origin is per process.
        common_start = start_at.value + clock() - time.time()
        if isinstance(runner, RateRunner):
            runner.schedule_start = common_start + part.phase
        sleep_until(common_start, granularity)
        done = threading.Event()
        watcher = threading.Thread(target=_stop_on, args=(stop, done, runner), daemon=True)
        watcher.start()
        cpu = limits.CpuWatch()
        cpu.start()
        recorder = Recorder()
        recorder.begin()
        try:
            runner.run(part.config.iterations, recorder)
        finally:
            done.set()
            watcher.join()
            usage = cpu.stop()
            finished = time.time()
            assessed = limits.assess(
                part.config.mode,
                part.config.rate,
                usage,
                runner.stats(),
                errors=(sample.error for sample in recorder.samples if sample.elapsed is None),
            )
            runner.close()
    cores = usage["process_cpu_cores"]
    pipe.send(
        (
            "measured",
            Measured(
                part.number,
                [
                    s._replace(start=s.start - common_start, end=s.end - common_start)
                    for s in recorder.samples
                ],
                recorder.started,
                finished,
                None if cores is None else cores * (finished - recorder.started),
                assessed,
            ),
        )
    )


@dataclass
class Outcome:
    samples: list[Sample]  # merged: numbered 1..n in order of start, Worker "pNwM"
    started: float  # the common start, wall clock
    finished: float  # when the last process finished
    processes: list[Measured]
    interrupted: bool  # by Ctrl-C, or because a process was lost
    lost: dict[int, str]  # processes that ended mid-run without their results, and why


def run(config: RunConfig, granularity: float, on_timing: Any = None) -> Outcome:
    """Measure with config.processes processes; raises StartFailed if any cannot start.

    A process lost mid-run (killed, crashed) stops the others; what they measured
    is kept and the run counts as interrupted (Outcome.lost says which and why).

    `on_timing` is called once all are ready, just before the common start.
    """
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    # A flag without a lock: a process killed while it held a lock would hang the others.
    stop = context.RawValue("b", 0)
    start_at = context.Value("d", 0.0, lock=False)
    pipes: list[Connection] = []
    workers = []
    for part in plan(config):
        ours, theirs = context.Pipe(duplex=False)
        process = context.Process(
            target=_work,
            args=(part, granularity, theirs, go, stop, start_at),
            name=f"bench_client p{part.number}",
        )
        process.start()
        theirs.close()
        pipes.append(ours)
        workers.append(process)
    try:
        return _measure(pipes, workers, go, stop, start_at, on_timing, config.start_at)
    finally:
        stop.value = 1
        go.set()  # lets a process still waiting for the start leave
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


def _receive(pipe: Connection) -> tuple[str, Any]:
    try:
        return pipe.recv()
    except EOFError:
        return ("failed", "an engine process ended without a word (see its error above)")


def _measure(
    pipes: list[Connection],
    workers: list[Any],  # their multiprocessing Process objects
    go: Event,
    stop: Any,  # RawValue: 1 = stop
    start_at: Any,
    on_timing: Any,
    not_before: float | None,  # --start-at: several hosts' common start, wall clock
) -> Outcome:
    failures = [reply for kind, reply in map(_receive, pipes) if kind != "ready"]
    if failures:
        raise StartFailed(failures[0])
    start_at.value = max(time.time() + START_MARGIN_S, not_before or 0.0)
    go.set()
    time.sleep(max(0.0, start_at.value - START_MARGIN_S - time.time()))
    if on_timing is not None:
        on_timing()
    pending = dict(enumerate(pipes, start=1))
    replies: dict[int, tuple[str, Any]] = {}
    interrupted = False
    while pending:
        try:
            # A pipe may not show EOF when its process dies; its sentinel always does.
            wait([*pending.values(), *(workers[n - 1].sentinel for n in pending)])
            for number, pipe in list(pending.items()):
                if pipe.poll():
                    replies[number] = _receive(pending.pop(number))
                elif workers[number - 1].exitcode is not None:
                    pending.pop(number)
                    replies[number] = ("lost", f"exit code {workers[number - 1].exitcode}")
                else:
                    continue
                if replies[number][0] != "measured":
                    stop.value = 1  # one was lost mid-run: keep what the others measured so far
        except KeyboardInterrupt:  # each process ends its loop and sends what it has
            interrupted = True
            stop.value = 1
    measured = [replies[n][1] for n in sorted(replies) if replies[n][0] == "measured"]
    lost = {number: reply for number, (kind, reply) in replies.items() if kind != "measured"}
    if not measured:
        raise StartFailed(f"every engine process failed: {next(iter(lost.values()))}")
    return Outcome(
        merge(measured),
        start_at.value,
        max(m.finished for m in measured),
        measured,
        interrupted or bool(lost),
        lost,
    )


def merge(measured: list[Measured]) -> list[Sample]:
    """One list: iterations 1..n in order of (common) start, Worker "p<process>w<worker>"."""
    tagged = [(s, m.number) for m in measured for s in m.samples]
    tagged.sort(key=lambda pair: (pair[0].start, pair[1], pair[0].iteration))
    return [
        sample._replace(iteration=number, worker=f"p{process}w{sample.worker}")
        for number, (sample, process) in enumerate(tagged, start=1)
    ]
