"""Nothing from a results folder is trusted: links out of it, spreadsheet formulas, Markdown.

A results folder comes from a client host and may be analysed by another user (or root):
a ``GET.csv`` linked to ``/etc/shadow`` must not be read, a reason starting with ``=`` must
not become a formula in ``summary.csv``, and a cell must not become Markdown or HTML in
``tables.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

LEAVES_FOLDER = "skipped: a link to outside the results folder"
# A spreadsheet evaluates a cell starting with one of these (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def leaves(root: Path, path: Path) -> bool:
    """Whether ``path`` (or a link on its way) resolves outside ``root``."""
    return not path.resolve().is_relative_to(root.resolve())


def spreadsheet_text(value: object) -> object:
    """A text cell a spreadsheet shows as text: a leading formula character gets a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell made safe to open in a spreadsheet (numbers untouched)."""
    text = frame.select_dtypes(include=["object", "string"]).columns
    return frame.assign(**{name: frame[name].map(spreadsheet_text) for name in text})


def markdown_cell(value: str) -> str:
    """A table cell as literal text: Markdown and HTML characters escaped, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(value.splitlines()))
