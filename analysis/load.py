"""Read a results folder: ``<mode>/<stack>/<REQUEST>[.rep<k>].csv``, meta files, the manifest.

File names follow results_format's one grammar (Measurement.from_csv_path); meta files and the
manifest are read through bench_client.documents, which checks their schema and fields.

Two CSV formats are understood:

- httplab's: ``Iteration,Execution Time (seconds),Status,Error,Start (s),Worker``; a failed request
  has an empty time and a non-empty Error.
- the paper's: ``Iteration,Execution Time (seconds)``; its client wrote 0 s for a failed request,
  so 0 is read as a failure, never as a time.

Bad input never stops the analysis: each problem becomes a :class:`Problem` naming the file and,
where there is one, the line; the rest of the folder is still read.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import sanitize
from analysis.problems import Problem
from bench_client.documents import DocumentError, Meta, Status, read_manifest, read_meta
from bench_client.request import Request, RequestError, measured_in
from bench_client.results_format import (
    CSV_HEADER,
    PAPER_CSV_HEADER,
    SWEEP_MODE,
    Measurement,
    meta_path_for,
    sha256_file,
)

HTTPLAB_HEADER = CSV_HEADER
PAPER_HEADER = PAPER_CSV_HEADER
PAPER_ZERO_ERROR = "0 s in a paper-format CSV (the paper's client wrote 0 for a failed request)"
MAX_ROW_PROBLEMS = 20  # bad rows listed per file; the rest are counted
SAMPLE_COLUMNS = ("mode", "stack", "request", "repetition", "iteration", "time_s", "ok", "error")


@dataclass
class LoadedCsv:
    """One measurement's CSV as read, with what its meta file and the manifest say of it."""

    mode: str
    stack: str
    request: str
    repetition: int
    csv: Path
    source_format: str  # "httplab" or "paper"
    rows: int
    meta: Meta | None = None
    client_limit: str | None = None  # why the client was the bottleneck, if its meta says so
    client_overhead_s: float | None = None  # the client's own time per request, if calibrated
    client_overhead_concurrency: int | None = None  # the concurrency it was calibrated at
    concurrency: int | None = None  # the concurrency the measurement ran at
    host_busy: str | None = None  # why the hosts were busy during it, if its meta file says so
    http_method: str | None = None  # the request's HTTP method, as its meta file says
    suspect: str | None = None  # why the manifest does not vouch for it (kept by --include-suspect)


@dataclass
class Run:
    root: Path
    run_id: str
    manifest: dict[str, Any] | None
    samples: pd.DataFrame  # columns SAMPLE_COLUMNS, one row per request
    measurements: list[LoadedCsv]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # suspect CSVs kept out of the statistics


@dataclass
class _Parsed:
    frame: pd.DataFrame | None  # iteration, time_s (NaN = failed), error
    source_format: str
    problems: list[Problem]


def load_run(root: Path, exclude: Path | None = None, include_suspect: bool = False) -> Run:
    """Read everything under ``root``; ``exclude`` (the report folder) is never read as data.

    A CSV whose sha256 no longer matches the manifest, or whose manifest status is not complete
    (interrupted, failed), is suspect: left out of the statistics and listed in ``left_out``,
    unless ``include_suspect``.
    """
    problems: list[Problem] = []
    notes: list[str] = []
    left_out: list[str] = []
    manifest = _read_manifest(root, problems)
    suspects = _check_manifest(root, manifest, problems, notes) if manifest is not None else {}
    frames: list[pd.DataFrame] = []
    measurements: list[LoadedCsv] = []
    found: set[tuple[str, str, str, int]] = set()
    for path in sorted(root.glob("*/*/*.csv")):
        if exclude is not None and path.resolve().is_relative_to(exclude.resolve()):
            continue
        if sanitize.leaves(root, path):
            problems.append(Problem(path, None, sanitize.LEAVES_FOLDER))
            continue
        if path.parent.parent.name == SWEEP_MODE:
            continue  # a sweep's steps: analysis/sweep.py reads them
        try:
            cell = Measurement.from_csv_path(path.relative_to(root))
        except ValueError:
            message = "skipped: name is not REQUEST.csv or REQUEST.repK.csv in <mode>/<stack>/"
            problems.append(Problem(path, None, message))
            continue
        key = (cell.mode, cell.stack, cell.request, cell.repetition)
        found.add(key)
        suspect = suspects.get(path.relative_to(root).as_posix())
        if suspect and not include_suspect:
            left_out.append(f"{path.relative_to(root)}: {suspect}")
            continue
        measurement, frame = _read_measurement(root, path, key, problems, notes)
        if measurement is not None and frame is not None:
            measurement.suspect = suspect
            measurements.append(measurement)
            frames.append(frame)
    _check_missing(root, manifest, found, problems)
    run_id = str(manifest.get("run_id", root.name)) if manifest else root.name
    samples = _combine(frames)
    return Run(root, run_id, manifest, samples, measurements, problems, notes, left_out)


def _read_measurement(
    root: Path,
    path: Path,
    key: tuple[str, str, str, int],
    problems: list[Problem],
    notes: list[str],
) -> tuple[LoadedCsv | None, pd.DataFrame | None]:
    """One CSV and its meta file, or (None, None) if the CSV has nothing usable."""
    try:
        parsed = read_csv(path)
    except OSError as error:
        problems.append(Problem(path, None, f"skipped: unreadable ({error.strerror or error})"))
        return None, None
    problems.extend(parsed.problems)
    if parsed.frame is None:
        return None, None
    if parsed.frame.empty:
        if not parsed.problems:
            problems.append(Problem(path, 2, "skipped: a header but no requests"))
        return None, None
    meta = _read_meta(root, Path(meta_path_for(path)), problems)
    relative = path.relative_to(root)
    if meta and meta.interrupted:
        notes.append(f"{relative}: the client was interrupted; partial data")
    if parsed.source_format == "paper":
        zeros = int(parsed.frame["time_s"].isna().sum())
        notes.append(f"{relative}: paper format; {zeros} zero times counted as failures")
    mode, stack, request, repetition = key
    measurement = LoadedCsv(
        mode,
        stack,
        request,
        repetition,
        path,
        parsed.source_format,
        len(parsed.frame),
        meta,
        (
            ("; ".join(meta.client_reasons) or "client_bottleneck")
            if meta and meta.client_bottleneck
            else None
        ),
        meta.overhead_s if meta else None,
        meta.overhead_concurrency if meta else None,
        meta.concurrency if meta else None,
        ("; ".join(meta.busy_reasons) or None) if meta else None,
        meta.http_method if meta else None,
    )
    frame = parsed.frame.assign(mode=mode, stack=stack, request=request, repetition=repetition)
    return measurement, frame


def read_csv(path: Path) -> _Parsed:
    """Parse one CSV: a fast vectorised read, or a line-by-line one that names each bad line."""
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").strip()
    if not first:
        return _Parsed(None, "", [Problem(path, 1, "skipped: empty file (no header)")])
    header = tuple(cell.strip() for cell in first.split(","))
    if header == HTTPLAB_HEADER:
        source_format = "httplab"
    elif tuple(cell.lower() for cell in header) == tuple(h.lower() for h in PAPER_HEADER):
        source_format = "paper"  # the paper's client wrote "iteration" in lower case
    else:
        expected = f"'{','.join(HTTPLAB_HEADER)}' or '{','.join(PAPER_HEADER)}'"
        message = f"skipped: unexpected header '{first}', expected {expected}"
        return _Parsed(None, "", [Problem(path, 1, message)])
    frame = _read_fast(path, source_format)
    if frame is not None:
        return _Parsed(frame, source_format, [])
    return _read_by_line(path, source_format)


def _read_fast(path: Path, source_format: str) -> pd.DataFrame | None:
    """Vectorised read of a well-formed file; None when any line needs a closer look."""
    paper = source_format == "paper"
    names = ["iteration", "time_s"] if paper else ["iteration", "time_s", "status", "error"]
    names += [] if paper else ["start", "worker"]
    try:
        frame = pd.read_csv(
            path,
            header=0,
            names=names,
            dtype={
                "iteration": "int64",
                "time_s": "float64",
                "status": "object",
                "error": "object",
            },
            skip_blank_lines=False,
            engine="c",
            encoding="utf-8-sig",
        )
    except (ValueError, pd.errors.ParserError):
        return None  # too many fields, or a cell that is not a number
    times = frame["time_s"]
    if paper:
        if times.isna().any() or (times < 0).any() or not np.isfinite(times).all():
            return None
        failed = times == 0
        frame["error"] = np.where(failed, PAPER_ZERO_ERROR, None)
        frame["time_s"] = times.mask(failed)
        return frame[["iteration", "time_s", "error"]]
    if frame["worker"].isna().any():
        return None  # a short line (pandas fills missing fields with NaN): name it line by line
    has_error = frame["error"].notna()
    timed_without_status = times.notna() & ~has_error & frame["status"].isna()
    if (times.isna() & ~has_error).any() or timed_without_status.any():
        return None
    if (times < 0).any() or np.isinf(times).any():
        return None
    status_ok = frame["status"].fillna("").astype(str).map(_is_success_status).astype(bool)
    refused = ~has_error & ~status_ok
    frame["error"] = frame["error"].mask(refused, "HTTP " + frame["status"].astype(str))
    frame["time_s"] = times.mask(has_error | refused)  # an Error or a non-2xx makes it a failure
    return frame[["iteration", "time_s", "error"]]


def _is_success_status(status: str) -> bool:
    """A 2xx HTTP status; anything else, even with a time and no Error, is a failed request."""
    return status.strip().isdigit() and 200 <= int(status) < 300


def _read_by_line(path: Path, source_format: str) -> _Parsed:
    """Slow path: parse row by row so that every bad line is reported with its number."""
    paper = source_format == "paper"
    width = len(PAPER_HEADER) if paper else len(HTTPLAB_HEADER)
    problems: list[Problem] = []
    iterations: list[int] = []
    times: list[float] = []
    errors: list[str | None] = []
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            line = reader.line_num
            parsed = _parse_row(row, width, paper)
            if isinstance(parsed, str):
                problems.append(Problem(path, line, f"row skipped: {parsed}"))
                continue
            iterations.append(parsed[0])
            times.append(parsed[1])
            errors.append(parsed[2])
    frame = pd.DataFrame(
        {"iteration": np.array(iterations, dtype="int64"), "time_s": times, "error": errors}
    )
    if len(problems) > MAX_ROW_PROBLEMS:  # a broken file should not drown the other messages
        hidden = len(problems) - MAX_ROW_PROBLEMS
        more = Problem(path, None, f"and {hidden} more bad rows, not listed one by one")
        problems = [*problems[:MAX_ROW_PROBLEMS], more]
    return _Parsed(frame, source_format, problems)


def _parse_row(row: list[str], width: int, paper: bool) -> tuple[int, float, str | None] | str:
    """(iteration, time or NaN, error) for a good row, else what is wrong with it."""
    if not row:
        return "blank line"
    if len(row) != width:
        return f"{len(row)} fields, expected {width}"
    try:
        iteration = int(row[0])
    except ValueError:
        return f"non-numeric Iteration {row[0]!r}"
    error = None if paper else (row[3].strip() or None)
    cell = row[1].strip()
    if not cell:
        if error is None:
            return "empty Execution Time without an Error (neither a time nor a failure)"
        return iteration, math.nan, error
    try:
        seconds = float(cell)
    except ValueError:
        return f"non-numeric Execution Time {cell!r}"
    if not math.isfinite(seconds) or seconds < 0:
        return f"Execution Time {cell!r} is not a duration"
    if paper:
        return (
            (iteration, math.nan, PAPER_ZERO_ERROR) if seconds == 0 else (iteration, seconds, None)
        )
    status = row[2].strip()
    if error is None and not status:
        return "an Execution Time without a Status or an Error"
    if error is None and not _is_success_status(status):
        error = f"HTTP {status}"
    return iteration, (math.nan if error else seconds), error


def _combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in SAMPLE_COLUMNS})
        return empty.astype({"time_s": "float64", "ok": "bool"})
    samples = pd.concat(frames, ignore_index=True)
    samples["ok"] = samples["time_s"].notna()
    for column in ("mode", "stack", "request"):
        samples[column] = samples[column].astype("category")
    return samples[list(SAMPLE_COLUMNS)]


def _read_meta(root: Path, path: Path, problems: list[Problem]) -> Meta | None:
    """A CSV's meta file, if it has one (a paper-format CSV has none)."""
    if not path.exists():
        return None
    if sanitize.leaves(root, path):
        problems.append(Problem(path, None, sanitize.LEAVES_FOLDER))
        return None
    try:
        return read_meta(path)
    except DocumentError as error:
        problems.append(Problem(path, None, f"ignored: {str(error).removeprefix(f'{path}: ')}"))
        return None


def _read_manifest(root: Path, problems: list[Problem]) -> dict[str, Any] | None:
    path = root / "manifest.json"
    if not path.exists():
        message = "missing: no device table, stack list or checksums; CSVs analysed without them"
        problems.append(Problem(path, None, message))
        return None
    if sanitize.leaves(root, path):
        problems.append(Problem(path, None, sanitize.LEAVES_FOLDER))
        return None
    try:
        return read_manifest(path)
    except DocumentError as error:
        problems.append(Problem(path, None, f"ignored: {str(error).removeprefix(f'{path}: ')}"))
        return None


def _line_of(path: Path, needle: str) -> int | None:
    """First line of ``path`` that contains ``needle`` (to point a reader at a manifest entry)."""
    try:
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in text:
                return number
    except OSError:
        return None
    return None


def _check_manifest(
    root: Path,
    manifest: dict[str, Any],
    problems: list[Problem],
    notes: list[str],
) -> dict[str, str]:
    """Compare the files on disk with the manifest's list: missing files, checksums, statuses.

    Returns the suspect CSVs (relative path -> why): a status other than complete, or a sha256
    that no longer matches.
    """
    manifest_path = root / "manifest.json"
    suspects: dict[str, str] = {}
    for entry in manifest.get("measurements") or []:
        if not isinstance(entry, dict) or not entry.get("csv"):
            continue
        relative = str(entry["csv"])
        csv_path = root / relative
        label = f"{entry['mode']}/{entry['stack']}/{entry['request']}"
        status = entry["status"]
        if status == Status.NOT_MEASURED:
            continue  # failed its workload's verification: no files; the report lists it
        if status != Status.COMPLETE:
            why = f"manifest status '{status}' {entry.get('message') or ''}".strip()
            notes.append(f"{label}: {why}")
            suspects[relative] = why
        if not csv_path.exists():
            line = _line_of(manifest_path, f'"{relative}"')
            problems.append(
                Problem(manifest_path, line, f"{label}: listed, but {csv_path} is missing")
            )
            continue
        if sanitize.leaves(root, csv_path):
            problems.append(Problem(csv_path, None, sanitize.LEAVES_FOLDER))
            continue
        expected = entry.get("sha256")
        if expected and sha256_file(csv_path) != expected:
            message = "sha256 differs from manifest.json: the file changed after it was collected"
            problems.append(Problem(csv_path, None, message))
            suspects[relative] = message
    return suspects


def _declared(requests: Any) -> dict[str, Request]:
    """The run's requests as it recorded them (those it cannot read count as plain ones)."""
    found = {}
    for name, declaration in (requests or {}).items() if isinstance(requests, dict) else ():
        try:
            found[str(name)] = Request.from_json(declaration)
        except RequestError:
            continue
    return found


def _check_missing(
    root: Path,
    manifest: dict[str, Any] | None,
    found: set[tuple[str, str, str, int]],
    problems: list[Problem],
) -> None:
    """Report every CSV of the run's matrix (the manifest's settings: stacks, modes, requests,
    repetitions) that is not on disk, and, without a manifest, the gaps between the cells found."""
    settings = (manifest or {}).get("settings") or {}
    stacks = {key[1] for key in found} | set(settings.get("stacks") or [])
    modes = {key[0] for key in found} | set(settings.get("modes") or [])
    requests = {key[2] for key in found} | set(settings.get("requests") or [])
    # A run records which requests each stack is measured on (an app answers its own).
    cells = (manifest or {}).get("cells") or {}
    planned = settings.get("repetitions")
    repetitions = set(range(1, int(planned) + 1)) if planned else {key[3] for key in found}
    manifest_path = root / "manifest.json"
    listed = {str(e.get("csv")) for e in (manifest or {}).get("measurements") or []}
    measured = measured_in(_declared((manifest or {}).get("requests")))
    for mode, stack, request, repetition in product(
        sorted(modes), sorted(stacks), sorted(requests), sorted(repetitions)
    ):
        if stack in cells and request not in cells[stack]:
            continue  # not a cell of the run
        if not measured(mode, request):
            continue  # a level in a mode without a concurrency, or its base in one with
        try:
            relative = Measurement(mode, stack, request, repetition).csv
        except ValueError:
            continue  # a folder that is no cell of a run; reported when its CSVs were read
        if (mode, stack, request, repetition) in found or relative in listed:
            continue  # present, or already reported by the manifest check
        line = _line_of(manifest_path, f'"{stack}"') if manifest else None
        where = manifest_path if line is not None else root / relative
        message = f"missing stack data: no {relative} (expected by the run's matrix)"
        problems.append(Problem(where, line, message))
