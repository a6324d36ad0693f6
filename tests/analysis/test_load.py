"""Reading results: both CSV formats, and every kind of bad input reported with file and line."""

import hashlib
import json
import math
import shutil
from pathlib import Path

from analysis.load import HTTPLAB_HEADER, load_run, read_csv
from tests.analysis.synthetic import recollect, write_run

HEADER = ",".join(HTTPLAB_HEADER)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_paper_format_zero_is_a_failure_not_a_time(tmp_path):
    path = write(
        tmp_path / "GET.csv",
        "Iteration,Execution Time (seconds)\n1,0.015\n2,0.0\n3,0.004\n4,0\n",
    )
    parsed = read_csv(path)
    assert parsed.source_format == "paper"
    assert parsed.problems == []
    times = parsed.frame["time_s"].tolist()
    assert times[0] == 0.015 and times[2] == 0.004
    assert math.isnan(times[1]) and math.isnan(times[3])
    assert parsed.frame["error"].notna().tolist() == [False, True, False, True]


def test_paper_header_in_lower_case_as_the_papers_client_wrote_it(tmp_path):
    path = write(tmp_path / "POST.csv", "iteration,Execution Time (seconds)\n1,0.01\n")
    assert read_csv(path).source_format == "paper"


def test_httplab_format_failure_has_empty_time_and_an_error(tmp_path):
    path = write(
        tmp_path / "GET.csv",
        f"{HEADER}\n1,0.002,200,,0.0,0\n2,,,ConnectionRefusedError,0.01,0\n3,0.003,200,,0.02,1\n",
    )
    parsed = read_csv(path)
    assert parsed.source_format == "httplab"
    assert parsed.frame["time_s"].notna().tolist() == [True, False, True]
    assert parsed.frame["error"].tolist()[1] == "ConnectionRefusedError"


def test_a_truncated_last_line_is_a_reported_problem_not_a_zero_second_success(tmp_path):
    path = write(tmp_path / "GET.csv", f"{HEADER}\n1,0.002,200,,0.0,0\n2,0.0")
    parsed = read_csv(path)
    assert [(p.line, p.message) for p in parsed.problems] == [
        (3, "row skipped: 2 fields, expected 6")
    ]
    assert parsed.frame["time_s"].tolist() == [0.002]


def test_a_non_2xx_status_is_a_failure_even_without_an_error(tmp_path):
    rows = "1,0.002,200,,0.0,0\n2,0.004,500,,0.1,0\n3,0.003,204,,0.2,0\n"
    parsed = read_csv(write(tmp_path / "GET.csv", f"{HEADER}\n{rows}"))
    assert parsed.problems == []
    assert parsed.frame["time_s"].notna().tolist() == [True, False, True]
    assert parsed.frame["error"].tolist()[1] == "HTTP 500"


def test_a_time_without_a_status_or_an_error_is_a_reported_problem(tmp_path):
    rows = "1,0.002,200,,0.0,0\n2,0.004,,,0.1,0\n"
    parsed = read_csv(write(tmp_path / "GET.csv", f"{HEADER}\n{rows}"))
    assert [p.line for p in parsed.problems] == [3]
    assert "without a Status" in parsed.problems[0].message


def test_error_with_a_quoted_comma_is_read_whole(tmp_path):
    path = write(tmp_path / "GET.csv", f'{HEADER}\n1,,503,"HTTP 503, Service Unavailable",0.0,0\n')
    parsed = read_csv(path)
    assert parsed.problems == []
    assert parsed.frame["error"].tolist() == ["HTTP 503, Service Unavailable"]


def test_bad_rows_are_reported_with_their_line_and_the_rest_kept(tmp_path):
    path = write(
        tmp_path / "GET.csv",
        f"{HEADER}\n1,0.002,200,,0.0,0\n2,fast,200,,0.1,0\n\n4,0.004,200,,0.3\n"
        "5,,,,0.4,0\n6,-0.1,200,,0.5,0\n7,0.007,200,,0.6,0\n",
    )
    parsed = read_csv(path)
    by_line = {p.line: p.message for p in parsed.problems}
    assert set(by_line) == {3, 4, 5, 6, 7}
    assert "non-numeric Execution Time 'fast'" in by_line[3]
    assert "blank line" in by_line[4]
    assert "5 fields, expected 6" in by_line[5]
    assert "neither a time nor a failure" in by_line[6]
    assert "not a duration" in by_line[7]
    assert parsed.frame["iteration"].tolist() == [1, 7]
    assert parsed.frame["time_s"].tolist() == [0.002, 0.007]


def test_wrong_header_and_empty_file_skip_the_file_at_line_1(tmp_path):
    wrong = read_csv(write(tmp_path / "a" / "GET.csv", "n,seconds\n1,0.1\n"))
    empty = read_csv(write(tmp_path / "b" / "GET.csv", ""))
    assert wrong.frame is None and empty.frame is None
    assert (
        wrong.problems[0].line == 1 and "unexpected header 'n,seconds'" in wrong.problems[0].message
    )
    assert empty.problems[0].line == 1 and "empty file" in empty.problems[0].message


def test_bad_files_are_reported_and_the_rest_of_the_folder_analysed(run_dir):
    recollect(run_dir, "constant/flask-gunicorn/GET.csv", "bogus,header\n1,2\n")
    recollect(run_dir, "constant/django-gunicorn/POST.csv", "")
    bad_cell = "concurrent/fastapi-uvicorn/GET.csv"
    lines = (run_dir / bad_cell).read_text().splitlines()
    lines[10] = "10,oops,200,,0.1,0"  # file line 11
    recollect(run_dir, bad_cell, "\n".join(lines) + "\n")
    (run_dir / "concurrent" / "django-gunicorn" / "POST.csv").unlink()  # a missing stack

    run = load_run(run_dir)
    reported = {(p.file.name, p.line): p.message for p in run.problems}
    constant_dir = run_dir / "constant"
    assert any(
        p.file == constant_dir / "flask-gunicorn" / "GET.csv" and p.line == 1 for p in run.problems
    )
    assert any(
        p.file == constant_dir / "django-gunicorn" / "POST.csv" and p.line == 1
        for p in run.problems
    )
    assert "non-numeric Execution Time 'oops'" in reported[("GET.csv", 11)]
    missing = [p for p in run.problems if "concurrent/django-gunicorn/POST.csv" in p.message]
    assert missing and missing[0].file.name == "manifest.json" and missing[0].line is not None
    manifest_lines = (run_dir / "manifest.json").read_text().splitlines()
    assert "concurrent/django-gunicorn/POST.csv" in manifest_lines[missing[0].line - 1]
    # The rest is still there: 48 files (24 cells × 2 repetitions) less the 3 skipped or missing.
    assert len(run.measurements) == 45
    assert len(run.samples) == 45 * 75 - 1


def test_missing_manifest_is_reported_and_csvs_still_read(tmp_path):
    root = write_run(
        tmp_path / "bare", rows=20, stacks=("flask-gunicorn", "fastapi-uvicorn"), manifest=False
    )
    (root / "constant" / "fastapi-uvicorn" / "POST.csv").unlink()
    run = load_run(root)
    messages = [str(p) for p in run.problems]
    assert any(str(root / "manifest.json") in m and "missing" in m for m in messages)
    assert any("constant/fastapi-uvicorn/POST.csv" in m for m in messages)
    assert len(run.measurements) == 7 and run.manifest is None


def test_suspect_csvs_are_left_out_unless_asked_for(run_dir):
    """An interrupted measurement and a CSV edited after collection stay out of the statistics."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    interrupted, edited = manifest["measurements"][0], manifest["measurements"][1]
    interrupted["status"] = "interrupted"
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    target = run_dir / edited["csv"]
    target.write_text(target.read_text() + "76,0.003,200,,9.9,0\n")
    assert hashlib.sha256(target.read_bytes()).hexdigest() != edited["sha256"]

    run = load_run(run_dir)
    assert [p.file for p in run.problems if "sha256" in p.message] == [target]
    assert any("interrupted" in note for note in run.notes)
    assert [line.split(":")[0] for line in run.left_out] == [interrupted["csv"], edited["csv"]]
    read = {m.csv.relative_to(run_dir).as_posix() for m in run.measurements}
    assert interrupted["csv"] not in read and edited["csv"] not in read
    assert len(run.samples) == 46 * 75

    kept = load_run(run_dir, include_suspect=True)
    assert kept.left_out == [] and len(kept.samples) == 48 * 75 + 1
    suspects = {m.csv.name: m.suspect for m in kept.measurements if m.suspect}
    assert "interrupted" in suspects[Path(interrupted["csv"]).name]


def test_repetitions_are_read_from_their_files(run_dir):
    run = load_run(run_dir)
    s = run.samples
    chosen = (s["mode"] == "constant") & (s["stack"] == "flask-gunicorn") & (s["request"] == "GET")
    reps = s.loc[chosen, "repetition"]
    assert sorted(reps.unique()) == [1, 2] and len(reps) == 150


def test_modes_requests_and_repetitions_come_from_the_manifests_settings(tmp_path):
    """The orchestrator writes the matrix in the settings; a run that stopped early must report
    every CSV it did not measure: a whole mode, and a missing repetition."""
    stacks = ("flask-gunicorn", "fastapi-uvicorn")
    root = write_run(
        tmp_path / "r", rows=10, repetitions=2, stacks=stacks, modes=("constant", "keepalive")
    )
    shutil.rmtree(root / "keepalive")
    (root / "constant" / "fastapi-uvicorn" / "POST.rep2.csv").unlink()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["settings"]["modes"] == ["constant", "keepalive"]
    manifest["measurements"] = [  # as if the run stopped before measuring these
        e
        for e in manifest["measurements"]
        if e["mode"] != "keepalive" and e["csv"] != "constant/fastapi-uvicorn/POST.rep2.csv"
    ]
    (root / "manifest.json").write_text(json.dumps(manifest))

    messages = [p.message for p in load_run(root).problems]
    missing = sorted(m.split("no ")[1].split(" ")[0] for m in messages if "missing stack" in m)
    expected = [
        f"keepalive/{stack}/{name}"
        for stack in stacks
        for name in ("GET.csv", "GET.rep2.csv", "POST.csv", "POST.rep2.csv")
    ]
    assert missing == sorted([*expected, "constant/fastapi-uvicorn/POST.rep2.csv"])


def test_report_folder_is_not_read_as_data(run_dir):
    write(run_dir / "report" / "x" / "GET.csv", "Iteration,Execution Time (seconds)\n1,0.1\n")
    assert not any(
        "report" in str(p.file) for p in load_run(run_dir, exclude=run_dir / "report").problems
    )


def test_a_header_without_requests_is_reported_at_line_2(run_dir):
    path = recollect(run_dir, "constant/fastapi-uvicorn/POST.csv", HEADER + "\n")
    run = load_run(run_dir)
    assert [(p.file, p.line) for p in run.problems if "no requests" in p.message] == [(path, 2)]
    assert len(run.measurements) == 47


def test_a_file_of_bad_rows_is_summarised_not_listed_line_by_line(tmp_path):
    rows = "".join(f"{i},x{i},200,,0,0\n" for i in range(1, 101))
    parsed = read_csv(write(tmp_path / "GET.csv", f"{HEADER}\n{rows}"))
    assert [p.line for p in parsed.problems[:20]] == list(range(2, 22))
    assert parsed.problems[20].line is None and "80 more bad rows" in parsed.problems[20].message
    assert len(parsed.problems) == 21 and parsed.frame.empty
