"""The low-overhead engine of the concurrent and rate modes: asyncio callbacks on raw sockets.

One thread, one event loop, no Task or Future per request: a `Channel` is a
slot for one kept-alive connection with at most one request in flight, and it
reports each finished request through a callback. Channels reconnect by
themselves when a server closes the connection (Gunicorn's sync workers do
after every response), and that reconnect counts in the request's time.

The loop's clock is perf_counter() and its waits are exact to microseconds
(not epoll's whole milliseconds): the rate mode's schedule and the concurrent
mode's think time are only as exact as the loop's timers.
"""

from __future__ import annotations

import asyncio
import collections
import select
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench_client.engine_socket import resolve
from bench_client.failures import describe
from bench_client.http11 import ProtocolError, Response, ResponseParser, Target
from bench_client.timing import Check, Recorder, Sample, clock, failed, finish


class _PreciseEpollSelector(selectors.EpollSelector):
    """epoll for many sockets, with waits as exact as select()'s.

    epoll_wait() counts its timeout in whole milliseconds (asyncio rounds up), so
    a short wait is done with select() on the epoll descriptor itself, which
    counts in microseconds, and the ready events are then collected at once.
    """

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            ready, _, _ = select.select([self.fileno()], [], [], timeout)
            if not ready:
                return []  # a timer is due and no socket is: skip the epoll call
            timeout = 0
        return super().select(timeout)


def precise_selector(
    has_epoll: bool = hasattr(selectors, "EpollSelector"),
) -> selectors.BaseSelector:
    """epoll where there is one (Linux); elsewhere select(), whose timeouts are exact too."""
    return _PreciseEpollSelector() if has_epoll else selectors.SelectSelector()


class PreciseLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock is perf_counter and whose timers are not rounded to 1 ms."""

    def __init__(self) -> None:
        super().__init__(precise_selector())
        # asyncio runs timers up to one clock tick early; with monotonic() on
        # Windows (Python < 3.13) that tick is ~16 ms, with perf_counter ~0.
        self._clock_resolution = time.get_clock_info("perf_counter").resolution

    def time(self) -> float:
        return clock()


OnDone = Callable[["Channel", Sample], None]


class _Wire(asyncio.BufferedProtocol):
    """One TCP connection; hands everything to its channel.

    A BufferedProtocol, so each read lands in one reused buffer: a plain
    Protocol makes asyncio allocate 256 KiB per recv(), on every request.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.transport: asyncio.Transport | None = None
        self.buffer = memoryview(bytearray(65536))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.channel.on_data(self, self.buffer[:nbytes].tobytes())

    def eof_received(self) -> None:
        """Let connection_lost() report it: a close-delimited body may end here."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel.on_lost(self, exc)


@dataclass(slots=True)
class _InFlight:
    iteration: int
    origin: float  # what the time is measured from: the send, or the schedule in rate mode
    on_done: OnDone
    parser: ResponseParser = field(default_factory=ResponseParser)


class Channel:
    """A connection slot: one request at a time, reconnecting whenever needed."""

    def __init__(self, engine: AsyncEngine, worker: int) -> None:
        self.engine = engine
        self.worker = worker
        self.wire: _Wire | None = None
        self.current: _InFlight | None = None
        self.last_progress = 0.0
        self._connecting: asyncio.Task[None] | None = None

    def send(self, iteration: int, on_done: OnDone, origin: float | None = None) -> None:
        if self.wire is not None and self._closed_by_server(self.wire):
            self._drop(self.wire)  # before the clock starts, as the keepalive engine does
        now = clock()
        self.current = _InFlight(iteration, now if origin is None else origin, on_done)
        self.last_progress = now
        if self.wire is None:
            self._connecting = self.engine.loop.create_task(self._connect())
        else:
            assert self.wire.transport is not None
            self.wire.transport.write(self.engine.request)

    async def _connect(self) -> None:
        loop = self.engine.loop
        try:
            _, wire = await loop.create_connection(
                lambda: _Wire(self), self.engine.address[0], self.engine.address[1]
            )
        except OSError as exc:
            self._fail(describe(exc, self.engine.timeout))
            return
        self.wire = wire
        assert wire.transport is not None
        wire.transport.write(self.engine.request)

    def on_data(self, wire: _Wire, data: bytes) -> None:
        current = self.current
        if wire is not self.wire or current is None:
            self._drop(wire)  # bytes nobody asked for: this connection is unusable
            return
        self.last_progress = clock()
        try:
            response = current.parser.feed(data)
        except ProtocolError as exc:
            self._drop(wire)
            self._fail(str(exc))
            return
        if response is None:
            return
        end = clock()
        if response.will_close:
            self._drop(wire)
        self._complete(response, end)

    def on_lost(self, wire: _Wire, exc: Exception | None) -> None:
        if wire is not self.wire:
            return
        self.wire = None
        current = self.current
        if current is None:
            return  # closed while idle (keep-alive timeout): the next send reconnects
        if exc is not None:
            self._fail(describe(exc, self.engine.timeout))
            return
        try:
            response = current.parser.eof()
        except ConnectionError as error:
            self._fail(str(error))
            return
        self._complete(response, clock())

    def expire(self, now: float) -> None:
        """Fail the request in flight if nothing has moved for --timeout seconds."""
        if self.current is not None and now - self.last_progress > self.engine.timeout:
            if self._connecting is not None:
                self._connecting.cancel()
            if self.wire is not None:
                self._drop(self.wire)
            self._fail(f"timeout after {self.engine.timeout:g} s")

    def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self.wire is not None:
            self._drop(self.wire)

    @staticmethod
    def _closed_by_server(wire: _Wire) -> bool:
        """Did the server close this idle connection (its keep-alive timeout)?

        The loop may not have seen it yet: between a run's phases it is not
        running, and a close that arrives with the send's timer is only handled
        after it. An idle socket that is readable holds an EOF (or junk).
        """
        transport = wire.transport
        if transport is None or transport.is_closing():
            return True
        readable, _, _ = select.select([transport.get_extra_info("socket")], [], [], 0)
        return bool(readable)

    def _drop(self, wire: _Wire) -> None:
        if wire is self.wire:
            self.wire = None
        if wire.transport is not None:
            wire.transport.abort()

    def _complete(self, response: Response, end: float) -> None:
        assert self.current is not None
        current = self.current
        check = self.engine.check
        self._done(
            finish(
                current.iteration,
                self.worker,
                current.origin,
                end,
                response.status,
                response.body,
                check,
            )
        )

    def _fail(self, reason: str) -> None:
        if self.current is not None:
            self._done(failed(self.current.iteration, self.worker, self.current.origin, reason))

    def _done(self, sample: Sample) -> None:
        assert self.current is not None
        on_done = self.current.on_done
        self.current = None
        self._connecting = None
        on_done(self, sample)


class AsyncEngine:
    """Owns the loop and the channels; runs phases of N requests for a mode."""

    def __init__(self, target: Target, request: bytes, check: Check, timeout: float) -> None:
        self.address = resolve(target)[1]
        self.request = request
        self.check = check
        self.timeout = timeout
        self.loop = PreciseLoop()
        self.channels: list[Channel] = []
        self.loop_lag: list[float] = []  # how late the loop ran a timer: the client's own delay
        self._tick = min(0.05, timeout / 10)
        self._done: asyncio.Future[None] = self.loop.create_future()

    def channel(self, index: int) -> Channel:
        while len(self.channels) <= index:
            self.channels.append(Channel(self, len(self.channels)))
        return self.channels[index]

    def run(self, start: Callable[[], None]) -> None:
        """Run the loop from `start()` until a runner calls finish(); expire stalled requests."""
        self._done = self.loop.create_future()
        self.loop_lag = []
        self._watch_at(clock() + self._tick)
        self.loop.call_soon(start)
        try:
            self.loop.run_until_complete(self._done)
        finally:
            self._watcher.cancel()

    def _watch_at(self, when: float) -> None:
        self._watcher = self.loop.call_at(when, self._watch, when)

    def _watch(self, expected: float) -> None:
        now = clock()
        self.loop_lag.append(now - expected)
        for channel in self.channels:
            channel.expire(now)
        self._watch_at(now + self._tick)

    def timer_lateness(self, rounds: int = 21) -> float:
        """How late this loop's timers fire (90th percentile): ~0.1 ms on Linux."""

        async def probe() -> list[float]:
            lateness = []
            for _ in range(rounds):
                before = clock()
                await asyncio.sleep(0.001)
                lateness.append(clock() - before - 0.001)
            return sorted(lateness)

        return max(0.0, self.loop.run_until_complete(probe())[int(rounds * 0.9)])

    def finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        # Let aborted transports finish their callbacks before the loop goes.
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


class ConcurrentRunner:
    """Closed loop: `workers` channels share the requests; each sends its next
    request `interval` seconds after its previous response (0 = at once)."""

    def __init__(self, engine: AsyncEngine, workers: int, interval: float) -> None:
        self.engine = engine
        self.workers = workers
        self.interval = interval

    def run(self, count: int, recorder: Recorder) -> None:
        issued = 0
        completed = 0

        def start() -> None:
            for worker in range(min(self.workers, count)):
                issue(self.engine.channel(worker), pause=0.0)

        def issue(channel: Channel, pause: float) -> None:
            nonlocal issued
            issued += 1  # taken now, even if sent after the pause: never more than count
            if pause > 0:
                self.engine.loop.call_later(pause, channel.send, issued, on_done)
            else:
                channel.send(issued, on_done)

        def on_done(channel: Channel, sample: Sample) -> None:
            nonlocal completed
            completed += 1
            recorder.add(sample)
            if issued < count:
                issue(channel, pause=self.interval)
            elif completed == count:
                self.engine.finish()

        self.engine.run(start)

    def stats(self) -> dict[str, object]:
        return {"loop_lag_s": self.engine.loop_lag}

    def close(self) -> None:
        self.engine.close()


class RateRunner:
    """Open loop: request i is due at t0 + (i-1)/rate whatever happened before.

    A due request goes out on an idle connection, or a new one while fewer than
    `max_connections` exist, or else waits for the next free connection; in
    every case its time counts from when it was due.
    """

    # Timers fire a little late, so the dispatcher asks to be woken `lead`
    # seconds early and waits out the rest in a short spin; capped because a
    # spin blocks the loop (and so the reading of responses).
    MAX_LEAD = 0.001

    def __init__(self, engine: AsyncEngine, rate: float, max_connections: int) -> None:
        self.engine = engine
        self.rate = rate
        # clock() of request 1's due time; None: when run() starts. --processes sets it
        # (pool.py), so that every process's share hangs off the same common start.
        self.schedule_start: float | None = None
        self.max_connections = max_connections
        self.lead = min(self.MAX_LEAD, engine.timer_lateness())
        self.slip: list[float] = []  # how late the client itself dispatched each request
        self.waited_for_connection = 0
        self.dispatch_times: list[float] = []  # when the scheduler handled each request

    def run(self, count: int, recorder: Recorder) -> None:
        loop = self.engine.loop
        idle: list[Channel] = list(self.engine.channels)
        waiting: collections.deque[tuple[int, float]] = collections.deque()
        t0 = clock()
        next_iteration = 1
        completed = 0
        slip: list[float] = []
        dispatch_times: list[float] = []
        self.waited_for_connection = 0

        def due(iteration: int) -> float:
            return t0 + (iteration - 1) / self.rate

        def dispatch() -> None:
            nonlocal next_iteration
            upcoming = due(next_iteration)
            while (now := clock()) < upcoming:
                pass  # woken `lead` early on purpose: spin to the due time
            while next_iteration <= count and due(next_iteration) <= now:
                scheduled = due(next_iteration)
                slip.append(now - scheduled)
                dispatch_times.append(now)
                channel = self._free_channel(idle)
                if channel is None:
                    self.waited_for_connection += 1
                    waiting.append((next_iteration, scheduled))
                else:
                    channel.send(next_iteration, on_done, scheduled)
                next_iteration += 1
            if next_iteration <= count:
                loop.call_at(due(next_iteration) - self.lead, dispatch)

        def on_done(channel: Channel, sample: Sample) -> None:
            nonlocal completed
            completed += 1
            recorder.add(sample)
            if waiting:
                iteration, scheduled = waiting.popleft()
                channel.send(iteration, on_done, scheduled)
            else:
                idle.append(channel)
            if completed == count:
                self.engine.finish()

        def start() -> None:
            nonlocal t0
            t0 = clock() if self.schedule_start is None else self.schedule_start
            dispatch()

        try:
            self.engine.run(start)
        finally:
            self.slip, self.dispatch_times = slip, dispatch_times

    def _free_channel(self, idle: list[Channel]) -> Channel | None:
        if idle:
            return idle.pop()
        if len(self.engine.channels) < self.max_connections:
            return self.engine.channel(len(self.engine.channels))
        return None

    def stats(self) -> dict[str, object]:
        return {
            "loop_lag_s": self.engine.loop_lag,
            "schedule_slip_s": self.slip,
            "dispatch_times": self.dispatch_times,
            "waited_for_connection": self.waited_for_connection,
            "timer_lead_s": self.lead,
        }

    def close(self) -> None:
        self.engine.close()
