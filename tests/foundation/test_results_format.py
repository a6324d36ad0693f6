"""bench_client/results_format.py is the one owner of the run format; everyone else uses it."""

from __future__ import annotations

from pathlib import Path, PurePath, PureWindowsPath

import pytest

from bench_client import modes, results_format
from bench_client.results_format import (
    CSV_HEADER,
    ExitCode,
    Measurement,
    check_name,
    meta_path_for,
    sha256_file,
    write_atomic,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_client_defines_every_mode_of_the_format_and_no_other() -> None:
    assert set(modes.MODES) == set(results_format.MODES)


@pytest.mark.parametrize(
    ("cell", "csv"),
    [
        (Measurement("constant", "flask-dev", "GET"), "constant/flask-dev/GET.csv"),
        (Measurement("rate", "x.y_z", "POST", 3), "rate/x.y_z/POST.rep3.csv"),
    ],
)
def test_a_cell_names_its_files_and_is_read_back_from_them(cell: Measurement, csv: str) -> None:
    assert cell.csv == csv
    assert cell.meta == csv.removesuffix(".csv") + ".meta.json"
    assert Measurement.from_csv_path(PurePath("results/run", csv)) == cell


@pytest.mark.parametrize(
    "path",
    ["constant/GET.csv", "constant/x/G.E.T.csv", "constant/x/GET.rep0.csv", "a/b/GET.csv",
     "constant/x/.csv", "constant/x/GET.step1.csv"],
)  # fmt: skip
def test_paths_that_name_no_cell_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match=r"not <mode>/<stack>/<REQUEST>\.csv|mode must be|step"):
        Measurement.from_csv_path(PurePath(path))


def test_a_declared_request_names_its_cells_files() -> None:
    cell = Measurement("concurrent", "flask-gunicorn", "orders_v2", 2)
    assert cell.csv == "concurrent/flask-gunicorn/orders_v2.rep2.csv"
    assert Measurement.from_csv_path(PurePath(cell.csv)) == cell
    for bad in ("a.b", "", "-x", "x" * 33, "é"):
        with pytest.raises(ValueError, match="request name"):
            Measurement("constant", "s", bad)


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a b", "-x", "x" * 65, "é"])
def test_names_that_cannot_be_a_folder_everywhere_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        check_name("run id", bad)
    with pytest.raises(ValueError, match="stack"):
        Measurement("constant", bad, "GET")


def test_meta_path_keeps_windows_paths_windows() -> None:
    assert meta_path_for(PureWindowsPath(r"C:\r\GET.csv")) == PureWindowsPath(r"C:\r\GET.meta.json")


def test_atomic_write_returns_the_sha256_of_the_bytes_on_disk(tmp_path: Path) -> None:
    target = tmp_path / "a" / "GET.csv"
    digest = write_atomic(target, ",".join(CSV_HEADER) + "\n")
    assert digest == sha256_file(target)
    assert target.read_bytes().endswith(b"Worker\n")
    assert [p.name for p in target.parent.iterdir()] == ["GET.csv"]  # no temp file left


def test_exit_codes_are_distinct_and_documented() -> None:
    help_text = results_format.exit_codes_help()
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    assert all(f"  {int(code):<4} " in help_text for code in ExitCode)


def test_no_other_module_restates_the_format() -> None:
    """The constants live in results_format only (the drift issue 12 found)."""
    restated = []
    for path in [*ROOT.glob("bench_client/*.py"), *ROOT.glob("orchestrator/**/*.py"),
                 *ROOT.glob("analysis/*.py")]:  # fmt: skip
        if path.name == "results_format.py":
            continue
        text = path.read_text()
        for needle in ('"Execution Time (seconds)"', 'f".rep{', '("constant", "concurrent"'):
            if needle in text:
                restated.append(f"{path.relative_to(ROOT)}: {needle}")
    assert restated == []
