"""The report's files, each written atomically (results_format.write_atomic)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from analysis.sanitize import spreadsheet_safe
from bench_client.results_format import write_atomic


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """A table as CSV, floats at full precision, no index; every text cell safe to open in
    a spreadsheet (text from a client host may start like a formula)."""
    buffer = io.StringIO()
    spreadsheet_safe(frame).to_csv(buffer, index=False, lineterminator="\n")
    write_atomic(path, buffer.getvalue())
