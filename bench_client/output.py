"""Write one measurement's CSV and meta file (atomically, see results_format.write_atomic).

The CSV is written before the meta file, so a meta file means a finished CSV.
Lines end in "\\n" on every OS, so a CSV's sha256 does not depend on the client.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench_client.results_format import CSV_HEADER, meta_path_for, write_atomic
from bench_client.timing import Sample


class OutputError(Exception):
    """The output path cannot be written; the message says why."""


def check_writable(csv_path: Path) -> None:
    """Fail before any request if the CSV or its meta file could not be written."""
    if csv_path.suffix.lower() != ".csv":
        raise OutputError(f"--out must name a .csv file, got {str(csv_path)!r}")
    for path in (csv_path, Path(meta_path_for(csv_path))):
        if path.is_dir():
            raise OutputError(f"{path} is a directory")
    directory = csv_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # The real test: can we create (and so later rename) a file there?
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to {directory}: {exc.strerror or exc}") from None


def csv_text(samples: Iterable[Sample], origin: float) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for sample in sorted(samples, key=lambda s: s.iteration):
        writer.writerow(
            (
                sample.iteration,
                "" if sample.elapsed is None else f"{sample.elapsed:.9f}",
                "" if sample.status is None else sample.status,
                sample.error,
                f"{sample.start - origin:.6f}",
                sample.worker,
            )
        )
    return buffer.getvalue()


def write_results(
    csv_path: Path, samples: list[Sample], origin: float, meta: dict[str, Any]
) -> None:
    """CSV first, then the meta file that names the CSV and its sha256."""
    digest = write_atomic(csv_path, csv_text(samples, origin))
    meta = {**meta, "csv": csv_path.name, "csv_sha256": digest}
    write_atomic(Path(meta_path_for(csv_path)), json.dumps(meta, indent=2, sort_keys=False) + "\n")
