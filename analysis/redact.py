"""``report --redact``: a report to publish, without the paths and names of the hosts.

A report shows where the results were (an absolute path on the control node), the client's
paths (its Python, its venv, its home) and user name from the meta files and the manifest,
and failure messages name ``user@address:port``. Redaction rewrites the report's text
files (index.html, tables.md, summary.csv) with these replaced by placeholders; the
figures carry no such text. The results folder itself is left as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_client.results_format import write_atomic

TEXT_OUTPUTS = ("index.html", "tables.md", "summary.csv")
USER_KEYS = frozenset({"user", "username", "ansible_user", "login", "owner"})
_ABSOLUTE_PATH = re.compile(r"^(/[^/\s]|[A-Za-z]:[\\/])")
_USER_AT_HOST = re.compile(r"[\w.-]+@[\w.-]+:[0-9]+")


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) pair in a JSON document, at any depth."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, str(name))
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, key)
    elif isinstance(node, str):
        yield key, node


def _documents(results: Path) -> Iterator[Any]:
    for path in [results / "manifest.json", *sorted(results.glob("*/*/*.meta.json"))]:
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # the report already lists unreadable files


def replacements(results: Path) -> dict[str, str]:
    """What to replace, longest first: the results path, host paths and user names."""
    found = {str(results.resolve()): f"<results>/{results.resolve().name}"}
    found[str(results.absolute())] = f"<results>/{results.resolve().name}"
    for document in _documents(results):
        for key, value in _strings(document):
            if key.lower() in USER_KEYS and value:
                found.setdefault(value, "<user>")
            elif _ABSOLUTE_PATH.match(value) and "\n" not in value:
                found.setdefault(value, "<path>")
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def redact_text(text: str, found: dict[str, str]) -> str:
    text = _USER_AT_HOST.sub("<user>@<host>:<port>", text)
    for secret, placeholder in found.items():
        if len(secret) < 2:
            continue
        if placeholder == "<user>":
            # A user name only as a whole word: "ab" must not eat "table".
            text = re.sub(rf"(?<![\w.-]){re.escape(secret)}(?![\w-])", placeholder, text)
        else:
            text = text.replace(secret, placeholder)
    return text


def redact_report(out: Path, results: Path) -> list[Path]:
    """Rewrite the report's text files in ``out``; returns the files rewritten."""
    found = replacements(results)
    written = []
    for name in TEXT_OUTPUTS:
        path = out / name
        if path.is_file():
            write_atomic(path, redact_text(path.read_text(encoding="utf-8"), found))
            written.append(path)
    return written
