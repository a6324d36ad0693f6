"""run_all.yml and the benchmark phase refuse a broken inventory, saying what to fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # an ansible-playbook run each
PLAYBOOKS = ["run_all.yml", "playbooks/benchmark.yml"]


# A matrix of one stack, for an inventory outside inventory/ (where group_vars do not apply).
ONE_STACK = {
    "httplab_apps": {"app": {"module": "app:app", "protocol": "wsgi"}},
    "httplab_stacks": [{"name": "app-gunicorn", "app": "app", "server": "gunicorn", "port": 5001}],
}


def run_playbook(playbook: str, inventory: Path, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         playbook, "-e", f"httplab_results_dir={results}"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "inventory_text",
    [
        pytest.param(
            "all:\n  children:\n    servers:\n      hosts:\n        s1:\n", id="no-client"
        ),
        pytest.param(
            "all:\n  children:\n    servers:\n      hosts:\n        s1:\n        s2:\n"
            "    clients:\n      hosts:\n        c1:\n",
            id="two-servers",
        ),
    ],
)
@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_broken_inventory_stops_before_anything_runs(
    tmp_path: Path, inventory_text: str, playbook: str
) -> None:
    inventory = tmp_path / "lab.yml"
    inventory.write_text(inventory_text)
    done = run_playbook(playbook, inventory, tmp_path / "results")
    assert done.returncode != 0
    assert "needs exactly one host in group `servers`" in done.stdout
    assert str(inventory) in done.stdout
    assert not (tmp_path / "results").exists(), "nothing is planned or written"


def test_an_inventory_outside_inventory_dir_is_told_where_the_matrix_is(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.yml"
    inventory.write_text(
        "all:\n  children:\n    servers:\n      hosts:\n        s1:\n"
        "    clients:\n      hosts:\n        c1:\n"
    )
    done = run_playbook("playbooks/benchmark.yml", inventory, tmp_path / "results")
    assert done.returncode != 0
    assert "inventory/group_vars/all/stacks.yml" in done.stdout


@pytest.mark.parametrize("modes", ['"sweep"', '"constant,sweep"', '["rate", "sweep"]', "[]"])
def test_the_sweep_with_several_clients_stops_before_anything_runs(
    tmp_path: Path, modes: str
) -> None:
    """[] asks for every mode, the sweep's included; the message says what to do instead."""
    inventory = tmp_path / "lab.yml"
    inventory.write_text(
        "all:\n  children:\n    servers:\n      hosts:\n        s1:\n"
        "    clients:\n      hosts:\n        c1:\n        c2:\n"
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         "playbooks/check_inventory.yml", "-e", json.dumps(ONE_STACK),
         "-e", f'{{"httplab_bench_modes": {modes}, "httplab_bench_rate": 100}}'],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    message = " ".join(done.stdout.split())
    assert "the sweep mode runs on one client host" in message
    assert "lists 2 client hosts" in message and "make lab-up LAB_CLIENTS=1" in message


UNREACHABLE = (
    "all:\n  children:\n    servers:\n      hosts:\n        s1: {ansible_host: 192.0.2.10}\n"
    "    clients:\n      hosts:\n        c1: {ansible_host: 192.0.2.20}\n"
)


@pytest.mark.parametrize(
    ("setting", "wrong", "right"),
    [("httplab_bench_stacks", "fastapi-uvicon", "fastapi-uvicorn"),
     ("httplab_bench_modes", "concurent", "concurrent")],
)  # fmt: skip
def test_a_misspelt_value_stops_the_run_before_any_host_is_reached(
    tmp_path: Path, setting: str, wrong: str, right: str
) -> None:
    """The hosts do not exist (TEST-NET addresses): reaching one would hang, then fail."""
    inventory = ROOT / "inventory" / f".test-{tmp_path.name}.yml"  # where group_vars apply
    inventory.write_text(UNREACHABLE)
    try:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
             "run_all.yml", "-e", f"{setting}={wrong}", "-e", f"httplab_results_dir={tmp_path}"],
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
    finally:
        inventory.unlink()
    assert done.returncode != 0
    message = " ".join(done.stdout.split())
    assert f"unknown '{wrong}' (did you mean '{right}'?)" in message
    assert "Preflight" not in done.stdout and "UNREACHABLE" not in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing planned or written


def test_a_malformed_inventory_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.yml"
    inventory.write_text("all:\n  children:\n    servers:\n      hosts:\n        s1:\n   c: [\n")
    done = run_playbook("run_all.yml", inventory, tmp_path / "results")
    assert done.returncode != 0
    assert f"Origin: {inventory}:6:4" in done.stdout + done.stderr
    assert "has no host" not in done.stdout
