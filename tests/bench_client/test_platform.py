"""Code paths that differ on Windows, exercised here on whatever OS runs the tests.

The client runs unchanged on Windows: Windows paths, a coarse sleep timer
(~15.6 ms ticks before Python 3.11), timeBeginPeriod, the registry's CPU name,
%LOCALAPPDATA%, and psutil calls that return None or raise on some VMs.
"""

from __future__ import annotations

import math
import selectors
import socket
import struct
import sys
import time
from pathlib import Path, PurePosixPath, PureWindowsPath

import psutil
import pytest

from bench_client import engine_async, facts, limits, spare, timing
from bench_client.calibrate import cache_dir
from bench_client.engine_socket import timeout_option
from bench_client.output import meta_path_for
from bench_client.timing import (
    clock,
    fine_timer_resolution,
    measure_sleep_granularity,
    sleep_until,
)


@pytest.mark.parametrize(
    ("csv_path", "meta_path"),
    [
        (
            PureWindowsPath(r"C:\Users\lab\results\run 1\constant\flask-dev\GET.csv"),
            PureWindowsPath(r"C:\Users\lab\results\run 1\constant\flask-dev\GET.meta.json"),
        ),
        (
            PureWindowsPath(r"\\server\share\POST.rep2.csv"),
            PureWindowsPath(r"\\server\share\POST.rep2.meta.json"),
        ),
        (
            PurePosixPath("/tmp/r/rate/fastapi-uvicorn/GET.rep3.csv"),
            PurePosixPath("/tmp/r/rate/fastapi-uvicorn/GET.rep3.meta.json"),
        ),
    ],
)
def test_meta_path_beside_the_csv(csv_path, meta_path):
    assert meta_path_for(csv_path) == meta_path


def test_cache_dir_on_windows_and_elsewhere():
    home = Path("/home/lab")
    assert cache_dir({"LOCALAPPDATA": r"C:\Users\lab\AppData\Local"}, home, "Windows") == (
        Path(r"C:\Users\lab\AppData\Local") / "bench_client"
    )
    assert cache_dir({}, home, "Windows") == home / "AppData" / "Local" / "bench_client"
    assert cache_dir({"XDG_CACHE_HOME": "/var/cache/x"}, home, "Linux") == Path(
        "/var/cache/x/bench_client"
    )
    assert cache_dir({}, home, "Linux") == home / ".cache" / "bench_client"


class CoarseTimer:
    """A simulated Windows timer: every sleep lasts a whole number of 15.6 ms ticks."""

    TICK = 0.015625

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.now += 1e-6  # reading the clock takes a little time
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(1, math.ceil(seconds / self.TICK)) * self.TICK if seconds > 0 else 1e-5


def test_sleep_until_does_not_overshoot_by_a_tick_on_a_coarse_timer():
    timer = CoarseTimer()
    deadline = timer.now + 0.040
    sleep_until(deadline, 0.016, now=timer.clock, sleep=timer.sleep)
    assert deadline <= timer.now < deadline + 0.001
    # A plain time.sleep(0.040) on this timer lasts 3 ticks = 46.9 ms.
    plain = CoarseTimer()
    plain.sleep(0.040)
    assert plain.now - 100.0 > 0.046


def test_measure_sleep_granularity_sees_a_coarse_timer(monkeypatch):
    timer = CoarseTimer()
    monkeypatch.setattr("bench_client.timing.clock", timer.clock)
    assert measure_sleep_granularity(rounds=5, sleep=timer.sleep) == pytest.approx(
        CoarseTimer.TICK - 0.001, abs=1e-4
    )


def test_the_granularity_is_measured_once_ahead_of_the_measurements(monkeypatch):
    """The guard (or the Windows spare) measures it while it waits; measurements reuse it."""
    measured = []
    monkeypatch.setattr(timing, "measure_sleep_granularity", lambda: measured.append(1) or 0.002)
    timing.sleep_granularity.cache_clear()
    try:
        spare.prepare()
        assert measured == [1]
        assert timing.sleep_granularity() == 0.002
        assert timing.sleep_granularity() == 0.002
        assert measured == [1]
    finally:
        timing.sleep_granularity.cache_clear()


def test_sleep_until_on_this_machine():
    granularity = measure_sleep_granularity()
    lateness = []
    for _ in range(5):
        deadline = clock() + 0.01
        sleep_until(deadline, granularity)
        lateness.append(clock() - deadline)
    assert min(lateness) >= 0
    # Typically microseconds; generous for a shared machine that may preempt us.
    assert min(lateness) < 0.002
    assert max(lateness) < 0.05


class FakeWinmm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def timeBeginPeriod(self, period: int) -> None:  # the Win32 names
        self.calls.append(("begin", period))

    def timeEndPeriod(self, period: int) -> None:
        self.calls.append(("end", period))


def test_fine_timer_resolution_on_windows_is_undone_even_on_error():
    winmm = FakeWinmm()
    with pytest.raises(KeyboardInterrupt), fine_timer_resolution("win32", lambda: winmm):
        assert winmm.calls == [("begin", 1)]
        raise KeyboardInterrupt
    assert winmm.calls == [("begin", 1), ("end", 1)]


def test_fine_timer_resolution_is_a_no_op_elsewhere():
    def must_not_load():
        raise AssertionError("winmm loaded on a non-Windows platform")

    with fine_timer_resolution("linux", must_not_load):
        pass


@pytest.mark.skipif(sys.platform != "win32", reason="needs winmm.dll")
def test_fine_timer_resolution_for_real_on_windows():
    with fine_timer_resolution():
        before = time.perf_counter()
        time.sleep(0.001)
        assert time.perf_counter() - before < 0.010


def test_cpu_model_from_proc_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-7700HQ CPU @ 2.80GHz\n")
    assert facts.cpu_model("Linux", cpuinfo) == "Intel(R) Core(TM) i7-7700HQ CPU @ 2.80GHz"


def test_cpu_model_on_windows_falls_back_without_the_registry(monkeypatch):
    if sys.platform == "win32":
        assert facts.cpu_model("Windows")
        return
    # No winreg here: the Windows branch must fall back, not crash.
    monkeypatch.setattr(facts.platform, "processor", lambda: "Intel64 Family 6 Model 158")
    assert facts._windows_cpu_name() is None
    assert facts.cpu_model("Windows") == "Intel64 Family 6 Model 158"


def test_facts_survive_psutil_failures(monkeypatch):
    def broken(*_args, **_kwargs):
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "cpu_freq", lambda: None)  # Windows VMs, some containers
    monkeypatch.setattr(psutil, "virtual_memory", broken)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: None)
    client = facts.client_facts(0.001)
    assert client["cpu_mhz"] is None
    assert client["ram_mb"] is None
    assert client["cpu_cores_physical"] is None
    assert client["cpu_count"]  # from the process's CPU affinity instead
    monkeypatch.setattr(psutil, "cpu_freq", broken)
    assert facts.client_facts(0.001)["cpu_mhz"] is None


def test_cpu_watch_survives_psutil_failures(monkeypatch):
    def broken(*_args, **_kwargs):
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "Process", broken)
    watch = limits.CpuWatch()
    watch.start()
    assert watch.stop() == {"process_cpu_cores": None, "host_cpu_percent": None}


def test_kernel_timeout_option_per_platform():
    """SO_RCVTIMEO takes milliseconds as a DWORD on Windows and a struct timeval elsewhere."""
    assert timeout_option(5, "win32") == struct.pack("<L", 5000)
    assert timeout_option(0.0004, "win32") == struct.pack("<L", 1)  # 0 would mean "never"
    assert timeout_option(2.5, "linux") == struct.pack("ll", 2, 500_000)


def test_kernel_timeout_option_is_accepted_by_this_os():
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout_option(1.5))
        assert len(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) >= 4


@pytest.mark.parametrize(
    "has_epoll", [True, False] if hasattr(selectors, "EpollSelector") else [False]
)
def test_event_loop_timers_are_exact_to_well_under_a_millisecond(has_epoll, monkeypatch):
    """epoll (Linux) and select() (Windows, elsewhere): both must wait less than epoll's 1 ms."""
    choose = engine_async.precise_selector
    monkeypatch.setattr(engine_async, "precise_selector", lambda: choose(has_epoll))
    loop = engine_async.PreciseLoop()
    lateness = []
    try:
        with fine_timer_resolution():  # as a run does
            for _ in range(30):
                fired = loop.create_future()
                due = loop.time() + 0.0002
                loop.call_at(due, lambda f=fired: f.set_result(clock()))
                lateness.append(loop.run_until_complete(fired) - due)
    finally:
        loop.close()
    assert min(lateness) >= 0
    # With whole-millisecond waits the median would be ~1 ms late; generous for a busy host,
    # and Windows' finest timer tick, even with timeBeginPeriod(1), is about 1 ms.
    bound = 0.003 if sys.platform == "win32" else 0.0006
    assert sorted(lateness)[15] < bound, lateness


def test_measure_sleep_granularity_keeps_a_margin_for_jitter(monkeypatch):
    """One sleep in four oversleeps by 10 ms: the margin covers those, not the typical one."""
    now = [0.0]
    overshoots = iter([0.0001, 0.0001, 0.0001, 0.010] * 10)

    def jittery_sleep(seconds: float) -> None:
        now[0] += seconds + next(overshoots)

    monkeypatch.setattr("bench_client.timing.clock", lambda: now[0])
    assert measure_sleep_granularity(rounds=40, sleep=jittery_sleep) == pytest.approx(0.010)
