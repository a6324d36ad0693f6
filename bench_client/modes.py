"""The modes: what each one means, which engine it uses, and how a run proceeds."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bench_client.config import RunConfig
from bench_client.http11 import build_request
from bench_client.settings import CLIENT_SETTINGS
from bench_client.timing import Check, Recorder, Send, measure, sleep_until


@dataclass(frozen=True)
class Mode:
    name: str
    engine: str
    definition: str


_FLAGS = {setting.name: setting.flag for setting in CLIENT_SETTINGS}
MODES: dict[str, Mode] = {
    mode.name: Mode(mode.name, mode.engine, mode.definition.format_map(_FLAGS))
    for mode in (
        Mode(
            "constant",
            "requests (no Session)",
            "The paper's method: one request at a time, each on a new TCP connection "
            "(requests without a Session), sleeping {interval} seconds after "
            "each response.",
        ),
        Mode(
            "keepalive",
            "raw socket, blocking",
            "Like constant, but over one kept-alive connection, opened again only when "
            "the server closes it; {interval} seconds of sleep after each response.",
        ),
        Mode(
            "concurrent",
            "raw socket, asyncio",
            "Closed loop: {concurrency} workers (asyncio, one thread), each with its own "
            "kept-alive connection, share the {iterations} requests; a worker sends its "
            "next request {interval} seconds after its previous response (0 = at once), "
            "so at most {concurrency} requests are in flight.",
        ),
        Mode(
            "rate",
            "raw socket, asyncio",
            "Open loop: request i is due at (i-1)/{rate} seconds after the start and goes "
            "out on a free kept-alive connection (at most {concurrency} of them, else it "
            "waits for one); its time counts from when it was due, so a server stall "
            "shows in every request it delayed (no coordinated omission).",
        ),
        Mode(
            "sweep",
            "raw socket, asyncio",
            "The rate mode at rising rates, {sweep_start_rate} times {sweep_factor} per "
            "step, each step {sweep_step_seconds} long with its own CSV and meta file "
            "(PATH.step<n>.csv), until the server bends: p99 over {sweep_latency_factor} "
            "times step 1's, throughput {sweep_shortfall} below the rate offered, more "
            "than {sweep_max_failures} failed, or the client itself the limit.",
        ),
    )
}


class Runner(Protocol):
    def run(self, count: int, recorder: Recorder) -> None: ...

    def stats(self) -> dict[str, object]: ...

    def close(self) -> None: ...


class _Engine(Protocol):
    send: Send

    def prepare(self) -> None: ...  # connection housekeeping, before the clock starts

    def close(self) -> None: ...


class SequentialRunner:
    """constant and keepalive: one request, then --interval of sleep, then the next."""

    def __init__(self, engine: _Engine, check: Check, interval: float, granularity: float) -> None:
        self.engine = engine
        self.check = check
        self.interval = interval
        self.granularity = granularity

    def run(self, count: int, recorder: Recorder, first: int = 1, pause_last: bool = False) -> None:
        """Requests numbered first, first+1, ...; the pause after the last only if asked
        (the paired design's next block, to another stack, keeps the same pace)."""
        last = first + count - 1
        for iteration in range(first, last + 1):
            self.engine.prepare()
            sample = measure(iteration, 0, self.engine.send, self.check)
            recorder.add(sample)
            if iteration < last or pause_last:
                sleep_until(sample.end + self.interval, self.granularity)

    def stats(self) -> dict[str, object]:
        return {}

    def close(self) -> None:
        self.engine.close()


def make_runner(config: RunConfig, sleep_granularity: float, check: Check | None = None) -> Runner:
    """Build the mode's engine; raises RequestFailed if the host name does not resolve.

    `check` judges each response (default: what the request expects).
    """
    # Each mode imports its own engine only: requests (constant) or asyncio (concurrent, rate)
    # takes about 0.1 s to import, paid again by every measurement's bench_client.
    target = config.target
    check = check or config.request.check
    if config.mode == "constant":
        from bench_client.engine_requests import RequestsEngine

        engine = RequestsEngine(target.url, config.request, config.timeout)
        return SequentialRunner(engine, check, _interval(config), sleep_granularity)
    request = build_request(config.request, target, keep_alive=True)
    if config.mode == "keepalive":
        from bench_client.engine_socket import SocketEngine

        socket_engine = SocketEngine(target, request, config.timeout)
        return SequentialRunner(socket_engine, check, _interval(config), sleep_granularity)
    from bench_client.engine_async import AsyncEngine, ConcurrentRunner, RateRunner

    async_engine = AsyncEngine(target, request, check, config.timeout)
    if config.mode == "concurrent":
        return ConcurrentRunner(async_engine, config.concurrency, _interval(config))
    assert config.rate is not None
    return RateRunner(async_engine, config.rate, config.concurrency)


def _interval(config: RunConfig) -> float:
    assert config.interval is not None
    return config.interval


class FirstRequestFailed(Exception):
    """The first request, sent before timing counts, got a wrong answer or none."""


def execute(
    runner: Runner,
    config: RunConfig,
    recorder: Recorder,
    on_timing: Callable[[], None] | None = None,
) -> None:
    """Verify with one request, warm up, then measure the iterations into `recorder`.

    `on_timing` is called once the probe and warm-up are over, just before the
    timed requests: what reads the client's own CPU starts there.
    """
    verify_and_warm_up(runner, config)
    if on_timing is not None:
        on_timing()
    recorder.begin()
    runner.run(config.iterations, recorder)


def verify_and_warm_up(runner: Runner, config: RunConfig) -> None:
    probe = Recorder()
    runner.run(1, probe)
    first = probe.samples[0]
    if first.elapsed is None:
        raise FirstRequestFailed(f"{config.label}: {first.error}")
    if config.warmup:
        runner.run(config.warmup, Recorder())


def execute_paired(
    runners: list[SequentialRunner],
    configs: list[RunConfig],
    recorders: list[Recorder],
    on_timing: Callable[[], None] | None = None,
) -> None:
    """The paired design (config.Paired): every stack verified and warmed up, then
    blocks of requests to the stacks in turn, in a fresh random order each round."""
    for runner, config in zip(runners, configs, strict=True):
        verify_and_warm_up(runner, config)
    design = configs[0].paired
    assert design is not None
    if on_timing is not None:
        on_timing()
    for recorder in recorders:
        recorder.begin(like=recorders[0] if recorder is not recorders[0] else None)
    rng = random.Random(design.seed)  # noqa: S311 - a reproducible order, not a secret
    iterations = configs[0].iterations
    for first in range(1, iterations + 1, design.block):
        count = min(design.block, iterations - first + 1)
        for index in rng.sample(range(len(runners)), k=len(runners)):
            runners[index].run(count, recorders[index], first, pause_last=True)
