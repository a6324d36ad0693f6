"""One run's settings, checked before any request is sent."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_client.engine_async import MAX_CONNECTIONS
from bench_client.http11 import Target
from bench_client.verify import DEFAULT_PATHS, DEFAULT_PAYLOAD

# The same defaults as a run's (inventory/group_vars/all/benchmark.yml; a test checks).
DEFAULT_INTERVAL = 0.005
DEFAULT_CONCURRENCY = 16
DEFAULT_WARMUP = 50
CALIBRATION_CHOICES = ("quick", "cached", "off")


class ConfigError(ValueError):
    """A setting is wrong; the message says which and what would be right."""


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
        settings["url"] = self.target.url
        return settings


def build(
    *,
    base_url: str,
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
    if mode == "rate":
        _require(rate is not None, "--mode rate needs --rate REQUESTS_PER_SECOND")
        _require(
            interval is None, "--interval has no meaning in rate mode (the schedule is --rate)"
        )
    else:
        _require(rate is None, f"--rate only applies to --mode rate, not {mode}")
    if rate is not None:
        _require(0 < rate <= 100_000, f"--rate must be in (0, 100000], got {rate:g}")
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
    try:
        Target.from_url(base_url, "/")
    except ValueError as exc:
        raise ConfigError(f"--base-url: {exc}") from None
    return RunConfig(
        base_url=base_url.rstrip("/"),
        method=method,
        mode=mode,
        iterations=iterations,
        interval=_interval(mode, interval),
        timeout=timeout,
        concurrency=_concurrency(mode, concurrency),
        rate=rate,
        warmup=warmup,
        path=path or DEFAULT_PATHS[method],
        payload=_payload(method, payload),
        out=Path(out),
        quiet=quiet,
        calibration=calibration,
    )


def _interval(mode: str, given: float | None) -> float | None:
    if mode == "rate":
        return None
    return DEFAULT_INTERVAL if given is None else given


def _concurrency(mode: str, given: int | None) -> int:
    if mode in ("constant", "keepalive"):
        return 1  # one request at a time, by definition of these modes
    return DEFAULT_CONCURRENCY if given is None else given


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
