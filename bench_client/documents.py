"""Typed readers of a run's JSON documents: meta files, sweep blocks, server samples, manifests.

Everything that reads a run (the orchestrator as files arrive, analysis afterwards) reads
through these, and each checks what it reads: the schema's version (an unknown one is
refused with the file's name and the version, so that an older httplab never misreads a
newer run), then the type of every field its readers use. A document that fails is
refused with :class:`DocumentError` naming the file and the field; the caller skips that
one cell, never the run. Files come from a client host that may be broken or hostile:
nothing here trusts a field it has not checked.

Statuses of a run's cells and the reasons a sweep stops are one enumeration each
(:class:`Status`, :class:`StopReason`). The CSV's reader is analysis.load's (pandas);
its header is results_format.CSV_HEADER. Standard library only: it ships with bench_client.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_client.results_format import (
    MANIFEST_SCHEMA,
    MANIFEST_SCHEMAS_READ,
    META_SCHEMA,
    SAMPLES_SCHEMA,
    SWEEP_SCHEMA,
    Measurement,
)

META_SCHEMAS_READ = (1, META_SCHEMA)
# Bigger than any real document (a meta file is a few kB, samples a few MB): not read.
MAX_DOCUMENT_BYTES = 64 * 1024**2


class Status(str, enum.Enum):
    """A cell's state in the manifest (and a client host's share of it)."""

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # bench_client was stopped; what it measured is kept
    FAILED = "failed"  # nothing usable; the message says why; a resume measures it again
    PARTIAL = "partial"  # several client hosts, one lost: the others' files are kept
    LOST = "lost"  # a client host's share that never arrived
    # Its stack failed the workload's verification before timing (orchestrator/workload_gate.py):
    # no files; the message names the failing check; a resume verifies and measures it again.
    NOT_MEASURED = "not-measured"

    def __str__(self) -> str:
        return self.value


class StopReason(str, enum.Enum):
    """A sweep step's verdict: within the rule, or why the sweep stops there."""

    WITHIN = "within"
    CLIENT_LIMITED = "client-limited"
    FAILURES = "failures"
    SHORTFALL = "shortfall"
    LATENCY = "latency"
    LADDER_END = "ladder-end"  # every step was within the rule
    NO_ANSWER = "first-request-failed"  # a step's first request got no right answer
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


class DocumentError(ValueError):
    """A document cannot be read as what it should be; the message names the file."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def load_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or DocumentError saying why not."""
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise DocumentError(path, f"over {MAX_DOCUMENT_BYTES} bytes, not a run's document")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DocumentError(path, f"unreadable ({error})") from None
    except json.JSONDecodeError as error:
        raise DocumentError(path, f"not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, dict):
        raise DocumentError(path, "not a JSON object")
    return data


def check_schema(
    path: Path | str, data: Mapping[str, Any], what: str, known: tuple[int, ...]
) -> int:
    """The document's schema number, if this httplab reads it."""
    schema = data.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise DocumentError(path, f"no {what} schema number (got {schema!r})")
    if schema not in known:
        newest = max(known)
        hint = ": written by a newer httplab; update this one" if schema > newest else ""
        raise DocumentError(
            path, f"{what} schema {schema} is not one this httplab reads ({known}){hint}"
        )
    return schema


class _Fields:
    """Checked access to one document's fields; errors name the file and the field."""

    def __init__(self, path: Path | str, data: Mapping[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix

    def _fail(self, key: str, want: str) -> DocumentError:
        return DocumentError(
            self.path, f"{self.prefix}{key} must be {want}, not {self.data.get(key)!r}"
        )

    def whole(self, key: str, *, optional: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._fail(key, "a whole number of 0 or more")
        return value

    def number(self, key: str, *, optional: bool = False) -> float | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise self._fail(key, "a number")
        return float(value)

    def text(self, key: str, *, optional: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self._fail(key, "text")
        return value

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def mapping(self, key: str, *, optional: bool = False) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._fail(key, "a list of text")
        return tuple(value)

    def within(self, key: str, *, optional: bool = False) -> _Fields | None:
        inner = self.mapping(key, optional=optional)
        return None if inner is None else _Fields(self.path, inner, f"{self.prefix}{key}.")


@dataclass(frozen=True)
class SweepStep:
    """A sweep step's "sweep" block (bench_client/sweep.py)."""

    step: int
    offered_rps: float
    p50_s: float | None
    p99_s: float | None
    verdict: StopReason
    why: str
    stopped: StopReason | None  # on the sweep's last step: why it stopped there
    stopped_detail: str


@dataclass(frozen=True)
class Meta:
    """A measurement's meta file (bench_client/meta.py; the orchestrator adds host_noise)."""

    path: Path
    document: Mapping[str, Any]  # all of it, as written: shown in the report as is
    mode: str
    request: str
    http_method: str
    concurrency: int
    requests: int
    successes: int
    failures: int
    errors: Mapping[str, int]
    mean_s: float | None
    throughput_rps: float | None
    started: str
    finished: str
    duration_s: float
    interrupted: bool
    client: Mapping[str, Any]  # the client host's facts
    client_bottleneck: bool
    client_reasons: tuple[str, ...]  # why the client was the limit, if it was
    overhead_s: float | None  # the client's own time per request, if calibrated
    overhead_concurrency: int | None  # the concurrency it was calibrated at
    busy_reasons: tuple[str, ...]  # why the hosts were busy meanwhile, if they were
    sweep: SweepStep | None


def read_meta(path: Path) -> Meta:
    """A meta file, checked (DocumentError names the file and the field that is wrong)."""
    data = load_json(path)
    schema = check_schema(path, data, "meta", META_SCHEMAS_READ)
    fields = _Fields(path, data)
    config = fields.within("config")
    assert config is not None
    if schema == 1:  # the paper's GET and POST were its only requests, named by method
        request = method = config.text("method")
    else:
        request_fields = config.within("request")
        assert request_fields is not None
        request, method = request_fields.text("name"), request_fields.text("method")
    limits = fields.within("client_limits")
    assert limits is not None
    overhead = fields.within("client_overhead", optional=True)
    mean = None if overhead is None else overhead.number("mean_s", optional=True)
    noise = fields.within("host_noise", optional=True)
    errors = fields.mapping("errors", optional=True) or {}
    if not all(isinstance(k, str) and isinstance(v, int) for k, v in errors.items()):
        raise DocumentError(path, "errors must map each error to its count")
    return Meta(
        path=path,
        document=data,
        mode=config.text("mode") or "",
        request=request or "",
        http_method=method or "",
        concurrency=config.whole("concurrency") or 1,
        requests=fields.whole("requests") or 0,
        successes=fields.whole("successes") or 0,
        failures=fields.whole("failures") or 0,
        errors=errors,
        mean_s=fields.number("mean_s", optional=True),
        throughput_rps=fields.number("throughput_rps", optional=True),
        started=fields.text("started") or "",
        finished=fields.text("finished") or "",
        duration_s=fields.number("duration_s") or 0.0,
        interrupted=fields.flag("interrupted"),
        client=fields.mapping("client", optional=True) or {},
        client_bottleneck=limits.flag("client_bottleneck"),
        client_reasons=limits.texts("reasons"),
        overhead_s=mean,
        # bench_client calibrated at one connection before it recorded the concurrency.
        overhead_concurrency=None
        if mean is None
        else overhead.whole("concurrency", optional=True) or 1,  # type: ignore[union-attr]
        busy_reasons=_busy(noise),
        sweep=_sweep(path, fields.within("sweep", optional=True)),
    )


def _busy(noise: _Fields | None) -> tuple[str, ...]:
    if noise is None or not noise.flag("busy"):
        return ()
    return noise.texts("reasons") or ("busy (no reason given)",)


def _sweep(path: Path, block: _Fields | None) -> SweepStep | None:
    if block is None:
        return None
    check_schema(path, block.data, "sweep block", (SWEEP_SCHEMA,))
    stopped = block.within("stopped", optional=True)
    return SweepStep(
        step=block.whole("step") or 0,
        offered_rps=block.number("offered_rps") or 0.0,
        p50_s=block.number("p50_s", optional=True),
        p99_s=block.number("p99_s", optional=True),
        verdict=_reason(path, block.data.get("verdict")),
        why=block.text("why") or "",
        stopped=None if stopped is None else _reason(path, stopped.data.get("reason")),
        stopped_detail="" if stopped is None else stopped.text("detail") or "",
    )


def _reason(path: Path, value: Any) -> StopReason:
    try:
        return StopReason(value)
    except ValueError:
        raise DocumentError(path, f"{value!r} is not a sweep verdict") from None


def read_samples(path: Path) -> dict[str, Any]:
    """A cell's server resource samples (orchestrator/resource_sampler.py)."""
    data = load_json(path)
    check_schema(path, data, "samples", (SAMPLES_SCHEMA,))
    _Fields(path, data).texts("columns")
    if not isinstance(data.get("samples"), list):
        raise DocumentError(path, "samples must be a list")
    return data


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest in the current schema, whatever schema (MANIFEST_SCHEMAS_READ) wrote
    it; every cell entry checked. Older manifests are converted: a cell's "method" is its
    request, and "selection" with "client_settings" are the run's "settings"."""
    data = load_json(path)
    schema = check_schema(path, data, "manifest", MANIFEST_SCHEMAS_READ)
    if schema < 4:
        selection = data.pop("selection", None) or {}
        client_settings = data.pop("client_settings", None) or {}
        settings = {**client_settings, **selection}
        if "methods" in settings:
            settings["requests"] = settings.pop("methods")
        settings.setdefault("design", "sequential")
        data["settings"] = settings
        data.setdefault("setting_sources", {})
        data.setdefault("requests", {})
        for entry in data.get("measurements") or []:
            if isinstance(entry, dict) and "method" in entry:
                entry["request"] = entry.pop("method")
    for key in ("run_id", "settings", "measurements"):
        if key not in data:
            raise DocumentError(path, f"no {key!r}")
    if not isinstance(data["measurements"], list):
        raise DocumentError(path, "measurements must be a list")
    for index, entry in enumerate(data["measurements"]):
        _check_entry(path, index, entry)
    data["schema"] = MANIFEST_SCHEMA
    return data


def _check_entry(path: Path, index: int, entry: Any) -> None:
    where = f"measurements[{index}]"
    if not isinstance(entry, dict):
        raise DocumentError(path, f"{where} is not an object")
    try:
        cell = Measurement(
            entry["mode"],
            entry["stack"],
            entry["request"],
            entry["repetition"],
            entry.get("step", 0),
        )
        entry["status"] = Status(entry["status"]).value
    except (KeyError, TypeError, ValueError) as error:
        raise DocumentError(path, f"{where}: not a cell of a run ({error})") from None
    if entry.get("csv") != cell.csv or entry.get("meta") != cell.meta:
        raise DocumentError(path, f"{where}: its files are not {cell.csv} and {cell.meta}")
