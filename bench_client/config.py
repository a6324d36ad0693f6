"""One run's settings, checked before any request is sent."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_client.http11 import Target
from bench_client.results_format import SWEEP_MODE, check_name
from bench_client.verify import DEFAULT_PATHS, DEFAULT_PAYLOAD

# The same defaults as a run's (inventory/group_vars/all/benchmark.yml; a test checks).
DEFAULT_ITERATIONS = 1000
DEFAULT_INTERVAL = 0.005
DEFAULT_CONCURRENCY = 16
DEFAULT_WARMUP = 50
DEFAULT_BLOCK = 25
# The latency-throughput sweep (docs/method.md, "The latency-throughput sweep").
DEFAULT_SWEEP_START_RATE = 50.0
DEFAULT_SWEEP_FACTOR = 1.5
DEFAULT_SWEEP_STEPS = 12
DEFAULT_SWEEP_STEP_SECONDS = 5.0
DEFAULT_SWEEP_LATENCY_FACTOR = 5.0
DEFAULT_SWEEP_SHORTFALL = 0.1
DEFAULT_SWEEP_MAX_FAILURES = 0.01
MAX_RATE = 100_000
CALIBRATION_CHOICES = ("quick", "cached", "off")
SEQUENTIAL_MODES = ("constant", "keepalive")

# The async engine waits on select(), which handles at most FD_SETSIZE sockets: 1024 on Linux,
# 512 on Windows.
MAX_CONNECTIONS = 256


class ConfigError(ValueError):
    """A setting is wrong; the message says which and what would be right."""


@dataclass(frozen=True)
class Paired:
    """The paired design: several stacks measured in one time window, in turn.

    Blocks of `block` requests go to the stacks in a fresh random order each
    round (from `seed`), so a drift of the hosts hits every stack alike.
    """

    stacks: tuple[tuple[str, str], ...]  # (name, base URL)
    block: int
    seed: int


@dataclass(frozen=True)
class Sweep:
    """The sweep's ladder of rates and its stop rule (bench_client/sweep.py applies it)."""

    start_rate: float  # requests/s of step 1
    factor: float  # each step's rate over the one before
    steps: int  # at most this many steps
    step_seconds: float  # each step's schedule lasts this long: rate x seconds requests
    latency_factor: float  # stop when a step's p99 exceeds this many times step 1's
    shortfall: float  # stop when the throughput falls this share below the rate offered
    max_failures: float  # stop when more than this share of a step's requests fail

    def rate(self, step: int) -> float:
        """The rate offered at step 1, 2, ..."""
        return self.start_rate * self.factor ** (step - 1)

    def iterations(self, step: int) -> int:
        return max(1, round(self.rate(step) * self.step_seconds))


@dataclass(frozen=True)
class RunConfig:
    base_url: str
    method: str
    mode: str
    iterations: int
    interval: float | None  # None in rate mode, which has a schedule instead
    timeout: float
    concurrency: int
    rate: float | None
    warmup: int
    path: str
    payload: Any
    out: Path
    quiet: bool
    calibration: str
    paired: Paired | None = None
    processes: int = 1  # engine processes sharing the run (concurrent, rate and sweep modes)
    sweep: Sweep | None = None  # the sweep mode's ladder and stop rule
    # Wall-clock time (epoch seconds) at which timing begins, shared by several client hosts.
    start_at: float | None = None
    # --calibration quick: reuse the calibration saved here for the same settings, or save it.
    calibration_file: Path | None = None

    def per_stack(self) -> list[tuple[str, RunConfig]]:
        """Paired: one single-stack config per stack, --out's {stack} filled in."""
        if self.paired is None:
            return [("", self)]
        return [
            (name, replace(self, base_url=url, out=Path(str(self.out).format(stack=name))))
            for name, url in self.paired.stacks
        ]

    @property
    def target(self) -> Target:
        base_path = urlsplit(self.base_url).path.rstrip("/")
        return Target.from_url(self.base_url, base_path + self.path)

    @property
    def body(self) -> bytes | None:
        """The bytes a POST sends: json.dumps like requests' json= does."""
        return json.dumps(self.payload).encode() if self.method == "POST" else None

    def as_json(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["out"] = str(self.out)
        settings["calibration_file"] = self.calibration_file and str(self.calibration_file)
        settings["url"] = self.target.url
        settings["paired"] = None if self.paired is None else asdict(self.paired)
        settings["sweep"] = None if self.sweep is None else asdict(self.sweep)
        return settings


def build(
    *,
    base_url: str | None,
    method: str,
    mode: str,
    iterations: int,
    interval: float | None,
    timeout: float,
    concurrency: int | None,
    rate: float | None,
    warmup: int,
    path: str | None,
    payload: str | None,
    out: str,
    quiet: bool,
    calibration: str,
    paired: list[str] | None = None,
    block: int = DEFAULT_BLOCK,
    seed: int | None = None,
    processes: int | None = None,
    sweep_start_rate: float = DEFAULT_SWEEP_START_RATE,
    sweep_factor: float = DEFAULT_SWEEP_FACTOR,
    sweep_steps: int = DEFAULT_SWEEP_STEPS,
    sweep_step_seconds: float = DEFAULT_SWEEP_STEP_SECONDS,
    sweep_latency_factor: float = DEFAULT_SWEEP_LATENCY_FACTOR,
    sweep_shortfall: float = DEFAULT_SWEEP_SHORTFALL,
    sweep_max_failures: float = DEFAULT_SWEEP_MAX_FAILURES,
    start_at: float | None = None,
    calibration_file: str | None = None,
) -> RunConfig:
    """Check every setting against the others; raise ConfigError naming the first problem."""
    method = method.upper()
    if method not in DEFAULT_PATHS:
        raise ConfigError(f"--method must be GET or POST, got {method!r}")
    _require(iterations >= 1, f"--iterations must be at least 1, got {iterations}")
    _require(warmup >= 0, f"--warmup must be 0 or more, got {warmup}")
    _require(timeout > 0, f"--timeout must be more than 0 seconds, got {timeout:g}")
    _require(
        calibration in CALIBRATION_CHOICES, f"--calibration must be one of {CALIBRATION_CHOICES}"
    )
    _require(
        calibration_file is None or calibration == "quick",
        f"--calibration-file goes with --calibration quick, not {calibration}",
    )
    if mode in ("rate", SWEEP_MODE):
        _require(
            interval is None, f"--interval has no meaning in {mode} mode (the schedule is the rate)"
        )
    if mode == "rate":
        _require(rate is not None, "--mode rate needs --rate REQUESTS_PER_SECOND")
    else:
        _require(rate is None, f"--rate only applies to --mode rate, not {mode}")
    if rate is not None:
        _require(0 < rate <= MAX_RATE, f"--rate must be in (0, {MAX_RATE}], got {rate:g}")
    ladder = None
    if mode == SWEEP_MODE:
        ladder = _sweep(
            Sweep(
                sweep_start_rate,
                sweep_factor,
                sweep_steps,
                sweep_step_seconds,
                sweep_latency_factor,
                sweep_shortfall,
                sweep_max_failures,
            )
        )
    if mode in ("constant", "keepalive"):
        _require(concurrency is None, f"--concurrency does not apply to --mode {mode}")
    if concurrency is not None:
        _require(
            1 <= concurrency <= MAX_CONNECTIONS,
            f"--concurrency must be 1..{MAX_CONNECTIONS}, got {concurrency}",
        )
    if interval is not None:
        _require(interval >= 0, f"--interval must be 0 or more seconds, got {interval:g}")
    if path is not None:
        _require(path.startswith("/"), f"--path must start with '/', got {path!r}")
    if start_at is not None:
        _require(start_at > 0, f"--start-at must be a Unix time in seconds, got {start_at:g}")
    if processes is not None:
        _require(
            mode not in SEQUENTIAL_MODES,
            f"--processes does not apply to --mode {mode} (one request at a time by definition)",
        )
    design = _paired(paired, block, seed, mode, out) if paired else None
    if design is None:
        _require(base_url is not None, "give --base-url URL (or --paired NAME=URL for each stack)")
        assert base_url is not None
        _check_url(base_url, "--base-url")
    else:
        _require(base_url is None, "--base-url and --paired exclude each other")
        base_url = design.stacks[0][1]
    workers = _concurrency(mode, concurrency)
    return RunConfig(
        base_url=base_url.rstrip("/"),
        method=method,
        mode=mode,
        iterations=iterations,
        interval=_interval(mode, interval),
        timeout=timeout,
        concurrency=workers,
        rate=rate,
        warmup=warmup,
        path=path or DEFAULT_PATHS[method],
        payload=_payload(method, payload),
        out=Path(out),
        quiet=quiet,
        calibration=calibration,
        paired=design,
        processes=_processes(mode, processes, workers, iterations),
        sweep=ladder,
        start_at=start_at,
        calibration_file=None if calibration_file is None else Path(calibration_file),
    )


def _sweep(ladder: Sweep) -> Sweep:
    _require(
        0 < ladder.start_rate <= MAX_RATE,
        f"--sweep-start-rate must be in (0, {MAX_RATE}], got {ladder.start_rate:g}",
    )
    _require(ladder.factor > 1, f"--sweep-factor must be more than 1, got {ladder.factor:g}")
    _require(ladder.steps >= 1, f"--sweep-steps must be at least 1, got {ladder.steps}")
    top = ladder.rate(ladder.steps)
    _require(
        top <= MAX_RATE,
        f"the sweep's last step would offer {top:.0f} requests/s, over {MAX_RATE}: "
        "lower --sweep-steps, --sweep-factor or --sweep-start-rate",
    )
    _require(
        ladder.step_seconds > 0,
        f"--sweep-step-seconds must be more than 0, got {ladder.step_seconds:g}",
    )
    _require(
        ladder.latency_factor > 1,
        f"--sweep-latency-factor must be more than 1, got {ladder.latency_factor:g}",
    )
    _require(
        0 < ladder.shortfall < 1,
        f"--sweep-shortfall must be in (0, 1), got {ladder.shortfall:g}",
    )
    _require(
        0 <= ladder.max_failures < 1,
        f"--sweep-max-failures must be in [0, 1), got {ladder.max_failures:g}",
    )
    return ladder


def _check_url(url: str, flag: str) -> None:
    try:
        Target.from_url(url, "/")
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def _paired(items: list[str], block: int, seed: int | None, mode: str, out: str) -> Paired:
    _require(
        mode in SEQUENTIAL_MODES,
        f"--paired applies to the sequential modes ({', '.join(SEQUENTIAL_MODES)}), not {mode}",
    )
    _require(len(items) >= 2, "--paired needs at least two stacks (NAME=URL each)")
    _require(block >= 1, f"--block must be at least 1, got {block}")
    _require("{stack}" in out, "with --paired, --out must contain {stack}, e.g. {stack}/GET.csv")
    stacks = []
    for item in items:
        name, equals, url = item.partition("=")
        _require(bool(equals), f"--paired wants NAME=URL, got {item!r}")
        try:
            check_name("--paired stack name", name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        _check_url(url, f"--paired {name}")
        stacks.append((name, url.rstrip("/")))
    names = [name for name, _ in stacks]
    _require(len(set(names)) == len(names), f"--paired names a stack twice: {', '.join(names)}")
    return Paired(tuple(stacks), block, seed if seed is not None else secrets.randbelow(2**31))


def _interval(mode: str, given: float | None) -> float | None:
    if mode in ("rate", SWEEP_MODE):
        return None
    return DEFAULT_INTERVAL if given is None else given


def _concurrency(mode: str, given: int | None) -> int:
    if mode in ("constant", "keepalive"):
        return 1  # one request at a time, by definition of these modes
    return DEFAULT_CONCURRENCY if given is None else given


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity where the OS tells), at least 1."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _processes(mode: str, given: int | None, workers: int, iterations: int) -> int:
    """Each process needs a worker (connection) and a request of its own."""
    if mode in SEQUENTIAL_MODES:
        return 1
    if given is None:
        return min(cpu_count(), workers, iterations)
    _require(given >= 1, f"--processes must be at least 1, got {given}")
    _require(
        given <= workers,
        f"--processes {given} needs --concurrency of at least {given} "
        f"(each process has its own connections), got {workers}",
    )
    _require(
        given <= iterations,
        f"--processes {given} needs --iterations of at least {given}, got {iterations}",
    )
    return given


def _payload(method: str, text: str | None) -> Any:
    if text is None:
        return DEFAULT_PAYLOAD if method == "POST" else None
    _require(method == "POST", "--payload only applies to --method POST")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--payload is not valid JSON: {exc}") from None


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
