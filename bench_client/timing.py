"""The one place where request times are taken.

Every engine sends through `measure()` (blocking engines) or reads `clock()`
and calls `finish()` itself (the asyncio engine, whose send and receive happen
in different callbacks). Rules, in one place:

* the clock is `time.perf_counter`: monotonic and the finest clock on every OS
  (on Windows before Python 3.13 `time.monotonic` ticks every ~16 ms);
* a request's time runs from just before connecting/sending to the last byte
  of the response; verifying the body happens after the clock stops, and so
  does noticing that the server closed an idle kept-alive connection
  (reconnecting, though, is inside the time: the server made it necessary);
* in the rate mode the time runs from the *scheduled* start, not the actual
  one, so a server stall that delays later sends still shows in their times
  (no coordinated omission);
* a failure has no time at all (`elapsed is None`) and a reason; never 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bench_client.failures import RequestFailed
from bench_client.request import VerificationError

clock = time.perf_counter

Send = Callable[[], tuple[int, bytes]]


class Sample(NamedTuple):  # a tuple: made once per request, cheaply
    iteration: int
    worker: int | str  # --processes: "p1w3" (pool.py)
    start: float  # clock() when the request started (or was scheduled to, in rate mode)
    end: float  # clock() when the response was complete or the failure was known
    elapsed: float | None  # None for a failure, never 0 for one
    status: int | None
    error: str


# How to judge a response (status, body): raise VerificationError unless it is correct;
# usually the request's own check (bench_client.request).
Check = Callable[[int, bytes], None]


def measure(iteration: int, worker: int, send: Send, check: Check) -> Sample:
    """Time one blocking request and judge its response."""
    start = clock()
    try:
        status, body = send()
    except RequestFailed as exc:
        return Sample(iteration, worker, start, clock(), None, None, str(exc))
    return finish(iteration, worker, start, clock(), status, body, check)


def finish(
    iteration: int, worker: int, start: float, end: float, status: int, body: bytes, check: Check
) -> Sample:
    """Turn a complete response into a sample: a time if it is correct, a failure if not."""
    try:
        check(status, body)
    except VerificationError as exc:
        return Sample(iteration, worker, start, end, None, status, str(exc))
    return Sample(iteration, worker, start, end, end - start, status, "")


def failed(iteration: int, worker: int, start: float, reason: str) -> Sample:
    return Sample(iteration, worker, start, clock(), None, None, reason)


@dataclass
class Recorder:
    """Collects samples as they complete; what Ctrl-C leaves behind is still written."""

    on_sample: Callable[[Sample], None] | None = None
    samples: list[Sample] = field(default_factory=list)
    origin: float = 0.0  # clock() when measuring began: the CSV's Start (s) counts from here
    started: float = 0.0  # the same moment as a wall-clock time.time()

    def begin(self, like: Recorder | None = None) -> None:
        """Measuring begins now, or when `like` began (the paired design's one window)."""
        self.origin, self.started = (like.origin, like.started) if like else (clock(), time.time())

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        if self.on_sample is not None:
            self.on_sample(sample)


# The margin sleep_until keeps is this percentile of the overshoot: with the
# median, half the sleeps overshot their deadline on a jittery timer.
OVERSHOOT_PERCENTILE = 0.95


def measure_sleep_granularity(
    rounds: int = 40, sleep: Callable[[float], None] = time.sleep
) -> float:
    """95th percentile overshoot of a 1 ms sleep: ~0.1 ms on Linux, up to ~16 ms on old Windows."""
    overshoots = []
    for _ in range(rounds):
        before = clock()
        sleep(0.001)
        overshoots.append(clock() - before - 0.001)
    overshoots.sort()
    return max(
        0.0, overshoots[min(len(overshoots) - 1, int(len(overshoots) * OVERSHOOT_PERCENTILE))]
    )


@functools.cache
def sleep_granularity() -> float:
    """This process's sleep granularity (``measure_sleep_granularity`` under the fine timer),
    measured once: the guard and the Windows spare measure it while they wait for a
    measurement (bench_client.spare.prepare), so that each measurement does not spend 40
    sleeps on it before its first request; a forked measurement inherits the guard's."""
    with fine_timer_resolution():
        return measure_sleep_granularity()


def sleep_until(
    deadline: float,
    granularity: float,
    now: Callable[[], float] = clock,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Sleep to `deadline` without overshooting by a whole timer tick.

    Sleeps in one piece up to `granularity` before the deadline, then yields in
    a loop for the rest: on Windows a plain time.sleep(0.005) can last 15 ms.
    """
    while (remaining := deadline - now()) > 0:
        sleep(remaining - granularity if remaining > granularity else 0)


def sleep_until_wall_clock(start_at: float | None, granularity: float) -> None:
    """Sleep to the wall-clock time `start_at` (hosts' common start); None or past: no wait."""
    if start_at is not None:
        sleep_until(clock() + start_at - time.time(), granularity)


def _load_winmm() -> Any:
    return ctypes.WinDLL("winmm")  # type: ignore[attr-defined]


@contextlib.contextmanager
def fine_timer_resolution(
    platform: str = sys.platform, load_winmm: Callable[[], Any] = _load_winmm
) -> Iterator[None]:
    """On Windows, ask for 1 ms timer ticks (default ~15.6 ms) for the run's duration.

    This makes sleeps and asyncio's select() timeouts wake close to on time; it
    is what browsers and media players do and is undone on exit.
    """
    if platform != "win32":
        yield
        return
    winmm = load_winmm()
    winmm.timeBeginPeriod(1)
    try:
        yield
    finally:
        winmm.timeEndPeriod(1)
