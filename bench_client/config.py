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
from bench_client.request import BUILTIN, PAPER, Request, RequestError
from bench_client.results_format import SWEEP_MODE, check_name
from bench_client.settings import SEQUENTIAL_MODES, SETTINGS, SettingError, client_values

CALIBRATION_CHOICES = ("quick", "cached", "off")


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
    request: Request  # what is sent, and what reply counts as correct
    mode: str
    iterations: int
    interval: float | None  # None in rate mode, which has a schedule instead
    timeout: float
    concurrency: int
    rate: float | None
    warmup: int
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
        return Target.from_url(self.base_url, base_path + self.request.path)

    @property
    def label(self) -> str:
        """How messages name what is measured: 'GET http://host:port/get'."""
        return f"{self.request.name} {self.target.url}"

    def as_json(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["request"] = self.request.as_json()
        settings["out"] = str(self.out)
        settings["calibration_file"] = self.calibration_file and str(self.calibration_file)
        settings["url"] = self.target.url
        settings["paired"] = None if self.paired is None else asdict(self.paired)
        settings["sweep"] = None if self.sweep is None else asdict(self.sweep)
        return settings


def build(
    *,
    base_url: str | None,
    mode: str,
    out: str,
    quiet: bool,
    calibration: str,
    request: Request | None = None,
    method: str | None = None,
    path: str | None = None,
    payload: str | None = None,
    paired: list[str] | None = None,
    seed: int | None = None,
    start_at: float | None = None,
    calibration_file: str | None = None,
    **settings: Any,
) -> RunConfig:
    """Check every setting against the others; raise ConfigError naming the first problem.

    ``settings``: bench_client's measurement settings by name (bench_client.settings; None
    or absent: the mode's default). The request is ``request``, or the paper's shorthand:
    ``method`` (GET or POST) with an other ``path`` or POST ``payload``.
    """
    if paired:
        _require(
            mode in SEQUENTIAL_MODES,
            f"--paired applies to the sequential modes ({', '.join(SEQUENTIAL_MODES)}), not {mode}",
        )
    chosen = _request(request, method, path, payload)
    _require(
        chosen.applies_to(mode),
        f"request {chosen.name} carries its own concurrency ({chosen.concurrency}): it is "
        f"measured in the modes that take one, not {mode}",
    )
    if chosen.concurrency is not None:
        given = settings.get("concurrency")
        _require(
            given in (None, chosen.concurrency),
            f"request {chosen.name} carries its own concurrency ({chosen.concurrency}): "
            f"give --concurrency {chosen.concurrency} or none, not {given}",
        )
        settings = {**settings, "concurrency": chosen.concurrency}
    try:
        values = client_values(settings, mode, paired=bool(paired))
    except SettingError as error:
        raise ConfigError(str(error)) from None
    _require(
        calibration in CALIBRATION_CHOICES, f"--calibration must be one of {CALIBRATION_CHOICES}"
    )
    _require(
        calibration_file is None or calibration == "quick",
        f"--calibration-file goes with --calibration quick, not {calibration}",
    )
    if start_at is not None:
        _require(start_at > 0, f"--start-at must be a Unix time in seconds, got {start_at:g}")
    ladder = _sweep(values) if mode == SWEEP_MODE else None
    design = _paired(paired, values["block"], seed, mode, out) if paired else None
    if design is None:
        _require(base_url is not None, "give --base-url URL (or --paired NAME=URL for each stack)")
        assert base_url is not None
        _check_url(base_url, "--base-url")
    else:
        _require(base_url is None, "--base-url and --paired exclude each other")
        base_url = design.stacks[0][1]
    workers = values["concurrency"] or 1  # one request at a time in the sequential modes
    iterations = values["iterations"] or 1  # a sweep sizes each step by its time instead
    return RunConfig(
        base_url=base_url.rstrip("/"),
        request=chosen,
        mode=mode,
        iterations=iterations,
        interval=values["interval"],
        timeout=values["timeout"],
        concurrency=workers,
        rate=values["rate"],
        warmup=values["warmup"],
        out=Path(out),
        quiet=quiet,
        calibration=calibration,
        paired=design,
        processes=_processes(mode, values["processes"], workers, iterations),
        sweep=ladder,
        start_at=start_at,
        calibration_file=None if calibration_file is None else Path(calibration_file),
    )


def _request(
    request: Request | None, method: str | None, path: str | None, payload: str | None
) -> Request:
    """The request to measure: a whole declaration, or the paper's shorthand."""
    if request is not None:
        _require(
            method is None and path is None and payload is None,
            "--request carries the whole request: give --method, --path and --payload without it",
        )
        return request
    method = (method or "GET").upper()
    _require(method in PAPER, f"--method must be GET or POST, got {method!r} (--request "
             "names or declares any other request)")  # fmt: skip
    paper = PAPER[method]
    declaration = paper.as_json()
    if path is not None:
        _require(path.startswith("/"), f"--path must start with '/', got {path!r}")
        declaration["path"] = path
    if payload is not None:
        _require(method == "POST", "--payload only applies to --method POST")
        try:
            echoed = json.loads(payload)
        except ValueError as exc:
            raise ConfigError(f"--payload is not valid JSON: {exc}") from None
        declaration["body"] = payload
        declaration["expect"]["json"]["received_data"] = echoed
    try:
        return Request.from_json(declaration)
    except RequestError as error:
        raise ConfigError(str(error).replace("path", "--path", 1)) from None


def request_argument(text: str) -> Request:
    """--request: a built-in request's name (GET, POST, json, db...) or a declaration as JSON."""
    if text in BUILTIN:
        return BUILTIN[text]
    try:
        return Request.from_json(json.loads(text))
    except ValueError as error:
        known = ", ".join(BUILTIN)
        raise ConfigError(f"--request: {error} (give {known} or a request as JSON)") from None


def _sweep(values: dict[str, Any]) -> Sweep:
    ladder = Sweep(*(values[f"sweep_{key}"] for key in Sweep.__dataclass_fields__))
    top = ladder.rate(ladder.steps)
    limit = SETTINGS["sweep_start_rate"].kind.high  # type: ignore[attr-defined]
    _require(
        top <= limit,
        f"the sweep's last step would offer {top:.0f} requests/s, over {limit}: lower "
        f"{', '.join(SETTINGS[f'sweep_{key}'].flag for key in ('steps', 'factor', 'start_rate'))}",
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
    flags = {name: SETTINGS[name].flag for name in ("processes", "concurrency", "iterations")}
    _require(
        given <= workers,
        f"{flags['processes']} {given} needs {flags['concurrency']} of at least {given} "
        f"(each process has its own connections), got {workers}",
    )
    _require(
        given <= iterations,
        f"{flags['processes']} {given} needs {flags['iterations']} of at least {given}, "
        f"got {iterations}",
    )
    return given


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
