"""A group of cells through real SSH (orchestrator.measure): one session, each cell on its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench_client.documents import Status
from bench_client.request import BUILTIN
from bench_client.settings import defaults
from orchestrator.manifest import CHECKSUM_KEYS, Manifest
from orchestrator.measure import Study, measure_groups
from orchestrator.plan import Cell, Group
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import read_client
from orchestrator.server_noise import lab_hosts
from orchestrator.stack_switch import StackSwitch
from tests.remote import sshd as sshd_tools
from tests.remote.helpers import sending_to, wait_until_gone, with_server

REPO = Path(__file__).resolve().parents[2]
STACK = "flask-gunicorn"


def new_run(run_dir: Path, iterations: int = 8, interval: float = 0.0) -> Manifest:
    settings = defaults() | {
        "stacks": [STACK], "modes": ["constant", "concurrent", "keepalive"],
        "requests": ["GET", "POST"], "repetitions": 2, "iterations": iterations,
        "interval": interval, "concurrency": 2, "warmup": 1, "block": 2, "processes": 1,
    }  # fmt: skip
    return Manifest.create(
        run_dir, run_id=run_dir.name, seed=7, git="test", settings=settings,
        sources={}, requests={}, lab={"kind": "real", "notes": []},
    )  # fmt: skip


def entries(run_dir: Path) -> dict[str, dict]:
    return {e["csv"]: e for e in Manifest.load(run_dir).data["measurements"]}


def cells(*specs: str) -> tuple[Cell, ...]:
    split = (spec.split(",") for spec in specs)
    return tuple(Cell(m, r, int(rep[0]) if rep else 1, (STACK,)) for m, r, *rep in split)


def driver(inventory: Path, run_dir: Path, url: str, *specs: str) -> list[str]:
    """`python -m tests.remote.driver cells`: the group in a process of its own."""
    return [sys.executable, "-m", "tests.remote.driver", "cells", f"--inventory={inventory}",
            f"--run-dir={run_dir}", f"--stack={STACK}", f"--url={url}",
            *(f"--cell={spec}" for spec in specs)]  # fmt: skip


def test_each_cell_is_fetched_and_recorded_on_its_own_and_a_failed_one_does_not_stop_the_rest(
    deployed, inventory, contract_url, tmp_path
):
    manifest = new_run(tmp_path / "run-cells")
    study = Study(manifest, {STACK: contract_url}, BUILTIN)
    # No rate in the run's settings: bench_client refuses the rate cell.
    group = Group((STACK,), cells("constant,GET", "rate,GET", "concurrent,POST,2"))
    outcomes = measure_groups([read_client(inventory)], None, study, [group])
    assert [o.status for o in outcomes] == [Status.COMPLETE, Status.FAILED, Status.COMPLETE]
    assert isinstance(outcomes[1].error, RemoteError) and "--rate" in str(outcomes[1].error)
    recorded = entries(manifest.run_dir)
    assert recorded["rate/flask-gunicorn/GET.csv"]["status"] == "failed"
    for csv in ("constant/flask-gunicorn/GET.csv", "concurrent/flask-gunicorn/POST.rep2.csv"):
        assert recorded[csv]["status"] == "complete"
        assert manifest.checksum_problems(recorded[csv]) == []
        meta = json.loads((manifest.run_dir / recorded[csv]["meta"]).read_text())
        assert meta["successes"] == 8
        assert meta["host_noise"]["server_unavailable"]  # the inventory has no server here
    assert outcomes[0].summary.startswith("flask-gunicorn constant GET: 8 ok, 0 failed")


def test_the_server_is_read_around_each_cell_and_the_failed_cells_are_named(
    deployed, inventory, contract_url, tmp_path
):
    run_dir = tmp_path / "run-cli"
    new_run(run_dir)
    lab = with_server(inventory, tmp_path)
    done = subprocess.run(driver(lab, run_dir, contract_url, "keepalive,GET", "constant,POST,2"),
                          capture_output=True, text=True, cwd=REPO, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summaries = [summary for _, summary in json.loads(done.stdout)]
    assert [line.split(":")[0] for line in summaries] == [
        "flask-gunicorn keepalive GET", "flask-gunicorn constant POST rep 2"
    ]  # fmt: skip
    for entry in entries(run_dir).values():
        noise = json.loads((run_dir / entry["meta"]).read_text())["host_noise"]
        assert noise["server"]["window_s"] > 0, noise  # read before and after this cell
        assert Manifest.load(run_dir).checksum_problems(entry) == []

    # The same cells again with a refused one among them: the others are measured again,
    # the command fails naming the cell, and the manifest says which one failed.
    again = subprocess.run(
        driver(lab, run_dir, contract_url, "keepalive,GET", "constant,POST,2", "rate,POST"),
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert again.returncode == 2  # the refused cell's exit (usage)
    assert "1 of 3 cell(s) failed" in again.stderr
    assert {e["csv"]: e["status"] for e in entries(run_dir).values()} == {
        "keepalive/flask-gunicorn/GET.csv": "complete",
        "constant/flask-gunicorn/POST.rep2.csv": "complete",
        "rate/flask-gunicorn/POST.csv": "failed",
    }


def test_an_unreachable_client_records_every_cell_as_failed(
    sshd, known_hosts, contract_url, tmp_path
):
    lab = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w",
        port=sshd_tools.free_port(),
    )  # fmt: skip
    manifest = new_run(tmp_path / "run-gone")
    study = Study(manifest, {STACK: contract_url}, BUILTIN)
    later = Group(("django-daphne",), (Cell("constant", "GET", 1, ("django-daphne",)),))
    outcomes = measure_groups(
        [read_client(lab)],
        None,
        study,
        [Group((STACK,), cells("constant,GET", "constant,POST")), later],
    )
    assert [o.status for o in outcomes] == [Status.FAILED] * 3
    assert all(o.error is not None and o.error.exit_code == 4 for o in outcomes)
    assert {e["status"] for e in entries(manifest.run_dir).values()} == {"failed"}
    assert len(entries(manifest.run_dir)) == 3


def test_a_server_that_cannot_run_only_the_stack_records_every_cell_as_failed(
    inventory, contract_url, tmp_path
):
    """The switch comes first; here the test sshd has no such unit to start."""
    manifest = new_run(tmp_path / "run-no-switch")
    switch = StackSwitch(("django-daphne",), (STACK,), (f"{contract_url}/health",))
    study = Study(manifest, {STACK: contract_url}, BUILTIN, switch=lambda _: switch)
    clients, server = lab_hosts(with_server(inventory, tmp_path))
    group = Group((STACK,), cells("constant,GET", "keepalive,POST"))
    outcomes = measure_groups(clients, server, study, [group])
    assert [o.status for o in outcomes] == [Status.FAILED] * 2
    assert f"running only {STACK} failed (exit" in str(outcomes[0].error)
    recorded = entries(manifest.run_dir)
    assert {e["status"] for e in recorded.values()} == {"failed"} and len(recorded) == 2
    assert all(f"running only {STACK}" in e["message"] for e in recorded.values())


def test_ctrl_c_keeps_the_cells_measured_and_what_the_interrupted_one_measured(
    deployed, inventory, contract_url, workdir, tmp_path
):
    run_dir = tmp_path / "run-ctrl-c"
    new_run(run_dir, iterations=400, interval=0.02)
    command = driver(inventory, run_dir, contract_url, "concurrent,GET", "keepalive,GET",
                     "keepalive,POST")  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    ) as running:
        deadline = time.monotonic() + 120
        # The first cell is recorded, then the second holds its kept-alive connection.
        while time.monotonic() < deadline and not (
            (run_dir / "concurrent" / STACK / "GET.csv").exists()
            and sending_to(workdir, contract_url)
        ):
            time.sleep(0.1)
        if not sending_to(workdir, contract_url):
            running.kill()
            pytest.fail("the second cell never started measuring")
        running.send_signal(signal.SIGINT)
        _, stderr = running.communicate(timeout=120)
    assert running.returncode == 130, stderr
    assert wait_until_gone(workdir) == []
    recorded = entries(run_dir)
    assert recorded["concurrent/flask-gunicorn/GET.csv"]["status"] == "complete"
    interrupted = recorded["keepalive/flask-gunicorn/GET.csv"]
    assert interrupted["status"] == "interrupted" and interrupted[CHECKSUM_KEYS["csv"]]
    assert "keepalive/flask-gunicorn/POST.csv" not in recorded  # left for a resume
