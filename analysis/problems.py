"""What analysis refuses or skips, in a module of its own: the command line names these
without importing pandas (analysis.load), so that every `httplab` command starts fast."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class NothingToAnalyse(ValueError):
    """A folder holds no measurement a report could be made of: nothing was written."""


@dataclass(frozen=True)
class Problem:
    """Something that was skipped or does not match the run's own records."""

    file: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        return f"{where}: {self.message}"
