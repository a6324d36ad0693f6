"""The client's own per-request cost: each mode timed against the loopback reference server.

The reference server answers in microseconds, so what a request costs there
is what the client (and the loopback round trip) adds to every measurement.
A run does a quick version of this for its own mode and records it in the meta
file (with --calibration-file, once per host and settings: later measurements of
the same run reuse it, and their meta file says so); `python -m bench_client
calibrate` does all modes and caches the result for `--calibration cached`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import bench_client
from bench_client import config, modes
from bench_client.limits import spread
from bench_client.request import PAPER, Expect, Request
from bench_client.results_format import SWEEP_MODE, write_atomic
from bench_client.timing import Recorder, fine_timer_resolution, measure_sleep_granularity

QUICK_REQUESTS = 100
CALIBRATE_REQUESTS = 300
WARMUP = 20


def cache_dir(
    env: Mapping[str, str] = os.environ, home: Path | None = None, system: str | None = None
) -> Path:
    """%LOCALAPPDATA%\\bench_client on Windows, else $XDG_CACHE_HOME (~/.cache)/bench_client."""
    home = home or Path.home()
    if (system or platform.system()) == "Windows":
        base = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
    else:
        base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else home / ".cache"
    return base / "bench_client"


def cache_file() -> Path:
    return cache_dir() / "calibration.json"


def _cache_key() -> dict[str, str]:
    """A cached figure is only valid for the same host, Python and client version."""
    return {
        "host": platform.node(),
        "python": platform.python_version(),
        "bench_client": bench_client.__version__,
    }


def measure(
    url: str,
    mode: str,
    request: Request,
    run: config.RunConfig | None,
    count: int,
    granularity: float,
) -> dict[str, Any]:
    """Time `count` of `request` in `mode` against the reference server at `url`.

    The same method, path, headers and body as the run's, answered by the reference server
    (a small JSON reply, or the body echoed), so only the status is checked. Paced like the
    run when there is one (an idle server wakes up slower than a busy one), but never slower
    than 200 requests/s so calibrating stays quick; and with the run's concurrency, so the
    figure is the cost of what was run (without a run: one connection at a time).
    """
    interval = min(run.interval, 0.005) if run and run.interval is not None else 0.0
    rate = min(max(run.rate, 200.0), 2000.0) if run and run.rate else 1000.0
    concurrency = run.concurrency if run else 1
    settings = config.build(
        base_url=url,
        request=replace(request, expect=Expect()),
        mode=mode,
        iterations=count,
        interval=None if mode == "rate" else interval,
        timeout=5.0,
        concurrency=concurrency if mode in ("concurrent", "rate") else None,
        rate=rate if mode == "rate" else None,
        warmup=WARMUP,
        out="calibration.csv",  # required by the config, never written
        quiet=True,
        calibration="off",
    )
    runner = modes.make_runner(settings, granularity)
    recorder = Recorder()
    try:
        modes.execute(runner, settings, recorder)
    finally:
        runner.close()
    times = [s.elapsed for s in recorder.samples if s.elapsed is not None]
    tail = spread(times)
    return {
        "mode": mode,
        "request": request.name,
        "requests": count,
        "concurrency": concurrency if mode in ("concurrent", "rate") else 1,
        "failures": count - len(times),
        "mean_s": statistics.fmean(times) if times else None,
        "median_s": statistics.median(times) if times else None,
        "p99_s": tail["p99"] if tail else None,
        "pacing": {"interval_s": interval} if mode != "rate" else {"rate": rate},
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "against": "bench_client.refserver on 127.0.0.1 (answers in microseconds)",
    }


def for_run(run: config.RunConfig, granularity: float) -> dict[str, Any] | None:
    """The overhead block of a run's meta file, per --calibration (quick, cached or off).

    With --calibration-file, a quick calibration measured earlier on this host with the same
    settings (an earlier cell of the same run) is reused and labelled so; a new one is saved.
    """
    if run.calibration == "off":
        return None
    if run.calibration == "cached":
        cached = _from_cache(run.mode, run.request.name)
        if cached is not None and cached.get("concurrency", 1) == run.concurrency:
            return {**cached, "source": f"cached ({cache_file()})"}
    if run.calibration_file is not None and (saved := _saved(run)) is not None:
        return {
            **saved,
            "source": f"quick, reused from {run.calibration_file} (measured at "
            f"{saved['measured_at']} by an earlier measurement with the same settings)",
        }
    from bench_client import refserver  # asyncio: imported only when a calibration is measured

    with refserver.running() as url:
        result = measure(url, run.mode, run.request, run, QUICK_REQUESTS, granularity)
    if run.calibration_file is not None and result["failures"] == 0:
        saved_as = {"key": _cache_key(), "settings": _settings(run), "result": result}
        write_atomic(run.calibration_file, json.dumps(saved_as, indent=2))
    note = "quick" if run.calibration == "quick" else "quick (no matching cached calibration)"
    return {**result, "source": note}


def _settings(run: config.RunConfig) -> dict[str, Any]:
    """What a quick calibration depends on besides the host (measure's pacing and load)."""
    return {
        "mode": run.mode,
        "request": run.request.as_json(),
        "interval": run.interval,
        "rate": run.rate,
        "concurrency": run.concurrency,
        "requests": QUICK_REQUESTS,
    }


def _saved(run: config.RunConfig) -> dict[str, Any] | None:
    """The calibration in run.calibration_file, if measured here with the same settings."""
    assert run.calibration_file is not None
    try:
        saved = json.loads(run.calibration_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict):
        return None
    if saved.get("key") != _cache_key() or saved.get("settings") != _settings(run):
        return None
    return saved.get("result")


def _from_cache(mode: str, request: str) -> dict[str, Any] | None:
    try:
        cached = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("key") != _cache_key():
        return None
    return cached.get("results", {}).get(f"{mode} {request}")


def calibrate_all(requests: int, names: tuple[str, ...], save: bool) -> int:
    """`python -m bench_client calibrate`: print every mode's cost, cache it unless told not to."""
    from bench_client import refserver

    results: dict[str, Any] = {}
    with fine_timer_resolution(), refserver.running() as url:
        granularity = measure_sleep_granularity()
        print(f"{requests} requests per mode against the reference server at {url}")
        print(
            f"{'mode':<11} {'request':<7} {'mean ms':>8} {'median ms':>10} {'p99 ms':>8} failures"
        )
        for mode in modes.MODES:
            if mode == SWEEP_MODE:
                continue  # a sweep's steps are the rate mode, calibrated as such
            for name in names:
                result = measure(url, mode, PAPER[name], None, requests, granularity)
                results[f"{mode} {name}"] = result
                print(
                    f"{mode:<11} {name:<7} {_ms(result['mean_s']):>8} "
                    f"{_ms(result['median_s']):>10} {_ms(result['p99_s']):>8} "
                    f"{result['failures']}"
                )
    print(f"sleep granularity: {granularity * 1e3:.3f} ms")
    if save:
        path = cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"key": _cache_key(), "results": results}, indent=2))
        print(f"saved for --calibration cached: {path}")
    return 0


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"
