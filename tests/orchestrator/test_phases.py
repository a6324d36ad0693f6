"""A run's breakdown by phase: the phases file `make run` and the playbook write, recorded
in the manifest and printed one line per phase (orchestrator/phases.py and
plugins/callback/httplab_phases.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.summary import run_summary
from httplab.cli import main
from orchestrator.manifest import Manifest
from orchestrator.phases import PhasesError, breakdown, parse_phases

ROOT = Path(__file__).resolve().parents[2]

# The lab comes up beside the venv and the wheelhouse, then the playbook's phases in turn;
# check_inventory twice (run_all.yml's and again inside the benchmark phase).
PHASES = """\
lab-up 1000.0 1090.5
venv 1000.2 1012.2
wheelhouse 1012.3 1020.3
check_inventory 1090.6 1092.6
provision 1092.6 1140.6
check_inventory 1140.6 1141.1
benchmark 1141.1 1300.0
"""


def test_phases_are_summed_by_name_in_the_order_they_started_with_the_wall_time() -> None:
    recorded = breakdown(parse_phases(PHASES))
    assert recorded["wall_s"] == 300.0  # first start to last end: overlaps counted once
    assert [(p["name"], p["seconds"], p["from_s"]) for p in recorded["phases"]] == [
        ("lab-up", 90.5, 0.0),
        ("venv", 12.0, 0.2),
        ("wheelhouse", 8.0, 12.3),
        ("check_inventory", 2.5, 90.6),
        ("provision", 48.0, 92.6),
        ("benchmark", 158.9, 141.1),
    ]


@pytest.mark.parametrize(
    "line", ["venv 1000.0", "venv 1000.0 soon", "venv 1000.0 999.0", "venv 1 2 3"]
)
def test_a_line_that_is_not_name_start_end_is_refused_naming_it(line: str) -> None:
    with pytest.raises(PhasesError, match="line 2"):
        parse_phases(f"lab-up 1 2\n{line}\n")


def _run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    Manifest.create(run_dir, run_id="run", seed=1, git="x", settings={}, sources={},
                    requests={}, lab={"kind": "embedded", "notes": []})  # fmt: skip
    return run_dir


def test_httplab_phases_records_the_breakdown_in_the_manifest_and_prints_it(
    capsys, tmp_path: Path
) -> None:
    run_dir = _run(tmp_path)
    (tmp_path / "phases").write_text(PHASES)
    assert main(["phases", str(run_dir), str(tmp_path / "phases")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Time by phase: 300.0 s from first start to last end"
    assert lines[1].split() == ["lab-up", "90.5", "s", "(from", "0.0", "s)"]
    assert len(lines) == 1 + 6
    recorded = Manifest.load(run_dir).data["phases"]
    assert recorded == breakdown(parse_phases(PHASES))
    # The end-of-run summary (httplab report) shows them too, once recorded.
    summary = run_summary(Manifest.load(run_dir).data, run_dir / "report")
    assert lines[0] in summary and lines[-1] in summary


def test_httplab_phases_refuses_a_broken_file_and_leaves_the_manifest(
    capsys, tmp_path: Path
) -> None:
    run_dir = _run(tmp_path)
    (tmp_path / "phases").write_text("venv 12 soon\n")
    assert main(["phases", str(run_dir), str(tmp_path / "phases")]) != 0
    assert "line 1" in capsys.readouterr().err
    assert "phases" not in Manifest.load(run_dir).data


@pytest.mark.slow  # an ansible-playbook run
def test_the_callback_times_each_playbook_file_a_play_comes_from(tmp_path: Path) -> None:
    play = (
        "- name: {name}\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Wait\n      ansible.builtin.command: sleep {sleep}\n"
        "      changed_when: false\n"
    )
    (tmp_path / "first.yml").write_text("---\n" + play.format(name="A", sleep=0.3)
                                        + play.format(name="B", sleep=0.3))  # fmt: skip
    (tmp_path / "second.yml").write_text("---\n" + play.format(name="C", sleep=0.5))
    (tmp_path / "all.yml").write_text(
        "---\n- name: First\n  ansible.builtin.import_playbook: first.yml\n"
        "- name: Second\n  ansible.builtin.import_playbook: second.yml\n"
    )
    phases = tmp_path / "phases"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         str(tmp_path / "all.yml")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "HTTPLAB_PHASES": str(phases)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (first, second) = parse_phases(phases.read_text())  # A and B: one phase
    assert (first.name, second.name) == ("first", "second")
    assert first.seconds >= 0.6 and second.seconds >= 0.5
    assert second.start >= first.end
