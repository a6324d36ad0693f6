"""The report's files, each written atomically (results_format.write_atomic)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from bench_client.results_format import write_atomic


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """A table as CSV, floats at full precision, no index."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    write_atomic(path, buffer.getvalue())
