"""`httplab measure` with several cells, through real SSH: one session, each cell on its own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.manifest import CHECKSUM_KEYS, Manifest
from orchestrator.measure import Cell, Group, measure_groups
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import read_client
from tests.remote import sshd as sshd_tools
from tests.remote.test_noise_and_paired import with_server
from tests.remote.test_orphans import sending_to, wait_until_gone

REPO = Path(__file__).resolve().parents[2]
STACK = "flask-gunicorn"


def new_run(run_dir: Path, iterations: int = 8, interval: float = 0.0) -> Manifest:
    return Manifest.create(
        run_dir, run_id=run_dir.name, seed=7, git="test",
        selection={"stacks": [STACK], "modes": ["constant", "concurrent", "keepalive"],
                   "methods": ["GET", "POST"], "repetitions": 2, "design": "sequential"},
        client_settings={"iterations": iterations, "interval": interval, "timeout": 5,
                         "concurrency": 2, "rate": None, "warmup": 1, "block": 2},
        lab={"kind": "real", "notes": []},
    )  # fmt: skip


PLAN_SETTINGS = [
    "--design=sequential", "--block=2", "--seed=7", "--iterations=8", "--interval=0",
    "--timeout=5", "--concurrency=2", "--rate=", "--warmup=1", "--sweep-start-rate=50",
    "--sweep-factor=1.5", "--sweep-steps=2", "--sweep-step-seconds=1",
    "--sweep-latency-factor=5", "--sweep-shortfall=0.1", "--sweep-max-failures=0.01",
]  # fmt: skip


def entries(run_dir: Path) -> dict[str, dict]:
    return {e["csv"]: e for e in Manifest.load(run_dir).data["measurements"]}


def test_each_cell_is_fetched_and_recorded_on_its_own_and_a_failed_one_does_not_stop_the_rest(
    deployed, inventory, contract_url, tmp_path
):
    manifest = new_run(tmp_path / "run-cells")
    target = ((STACK, contract_url),)
    cells = [
        Cell("constant", "GET", 1, target),
        Cell("rate", "GET", 1, target),  # no rate in the run's settings: bench_client refuses
        Cell("concurrent", "POST", 2, target),
    ]
    outcomes = measure_groups([read_client(inventory)], None, manifest, [Group(tuple(cells))])
    assert [o.status for o in outcomes] == ["complete", "failed", "complete"]
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


def test_the_command_reads_the_server_around_each_cell_and_says_which_cells_failed(
    deployed, inventory, contract_url, tmp_path, capsys
):
    run_dir = tmp_path / "run-cli"
    new_run(run_dir)
    lab = with_server(inventory, tmp_path)
    argv = ["measure", f"--run-dir={run_dir}", f"--inventory={lab}", f"--stack={STACK}",
            f"--url={contract_url}", "--cell=keepalive,GET", "--cell=constant,POST,2"]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["csv"] == [
        "keepalive/flask-gunicorn/GET.csv",
        "constant/flask-gunicorn/POST.rep2.csv",
    ]
    assert [line.split(":")[0] for line in printed["summary"]] == [
        "flask-gunicorn keepalive GET", "flask-gunicorn constant POST rep 2"
    ]  # fmt: skip
    for entry in entries(run_dir).values():
        noise = json.loads((run_dir / entry["meta"]).read_text())["host_noise"]
        assert noise["server"]["window_s"] > 0, noise  # read before and after this cell
        assert Manifest.load(run_dir).checksum_problems(entry) == []

    # The same cells again with a refused one among them: the others are measured again,
    # the command fails naming the cell, and the manifest says which one failed.
    assert main([*argv, "--cell=rate,POST"]) == 2  # the refused cell's exit (usage)
    assert "1 of 3 cell(s) failed" in capsys.readouterr().err
    assert {e["csv"]: e["status"] for e in entries(run_dir).values()} == {
        "keepalive/flask-gunicorn/GET.csv": "complete",
        "constant/flask-gunicorn/POST.rep2.csv": "complete",
        "rate/flask-gunicorn/POST.csv": "failed",
    }


def test_the_plans_groups_are_measured_in_one_command(
    deployed, inventory, contract_url, tmp_path, capsys
):
    """--groups: what `httplab plan` printed (its by_stack), each group's URL built from the
    matrix's port and --target-address; the playbook passes one repetition's groups."""
    address, port = contract_url.removeprefix("http://").rsplit(":", 1)
    matrix = [{"name": STACK, "port": int(port)}, {"name": "django-daphne", "port": 1}]
    selection = ["--stacks=[]", "--modes=constant,keepalive", "--methods=GET", "--repetitions=2"]
    planned = main(["plan", f"--results={tmp_path / 'results'}", f"--matrix={json.dumps(matrix)}",
                    *selection, *PLAN_SETTINGS])  # fmt: skip
    assert planned == 0
    plan = json.loads(capsys.readouterr().out)
    run_dir = Path(plan["run_dir"])
    mine = [group for group in plan["by_stack"] if group["stack"] == STACK]
    assert [group["stop"] for group in mine] == [["django-daphne"]] * len(mine)
    assert [len(batch) for batch in plan["batches"]] == [2, 2]  # a repetition each
    argv = ["measure", f"--run-dir={run_dir}", f"--inventory={inventory}",
            f"--groups={json.dumps(mine)}", f"--target-address={address}"]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted(printed["csv"]) == [
        "constant/flask-gunicorn/GET.csv",
        "constant/flask-gunicorn/GET.rep2.csv",
        "keepalive/flask-gunicorn/GET.csv",
        "keepalive/flask-gunicorn/GET.rep2.csv",
    ]
    assert {e["status"] for e in entries(run_dir).values()} == {"complete"}
    assert main([*argv[:-1]]) == 1  # no --target-address: the URLs cannot be built
    assert "--target-address" in capsys.readouterr().err


def test_an_unreachable_client_records_every_cell_as_failed(
    sshd, known_hosts, contract_url, tmp_path, capsys
):
    lab = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w",
        port=sshd_tools.free_port(),
    )  # fmt: skip
    run_dir = tmp_path / "run-gone"
    new_run(run_dir)
    argv = ["measure", f"--run-dir={run_dir}", f"--inventory={lab}", f"--stack={STACK}",
            f"--url={contract_url}", "--cell=constant,GET", "--cell=constant,POST"]  # fmt: skip
    assert main(argv) == 4
    assert "2 of 2 cell(s) failed" in capsys.readouterr().err
    assert {e["status"] for e in entries(run_dir).values()} == {"failed"}
    assert len(entries(run_dir)) == 2


def test_a_server_that_cannot_run_only_the_stack_records_every_cell_as_failed(
    inventory, contract_url, tmp_path, capsys
):
    """--health-url: the switch comes first; here the test sshd has no such unit to start."""
    run_dir = tmp_path / "run-no-switch"
    new_run(run_dir)
    lab = with_server(inventory, tmp_path)
    argv = ["measure", f"--run-dir={run_dir}", f"--inventory={lab}", f"--stack={STACK}",
            f"--url={contract_url}", "--cell=constant,GET", "--cell=keepalive,POST",
            f"--health-url={contract_url}/health", "--stop-stack=django-daphne"]  # fmt: skip
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "2 of 2 cell(s) failed" in error
    assert f"running only {STACK} failed (exit" in error
    recorded = entries(run_dir)
    assert {e["status"] for e in recorded.values()} == {"failed"} and len(recorded) == 2
    assert all(f"running only {STACK}" in e["message"] for e in recorded.values())


def test_ctrl_c_keeps_the_cells_measured_and_what_the_interrupted_one_measured(
    deployed, inventory, contract_url, workdir, tmp_path
):
    run_dir = tmp_path / "run-ctrl-c"
    new_run(run_dir, iterations=400, interval=0.02)
    cells = ["--cell=concurrent,GET", "--cell=keepalive,GET", "--cell=keepalive,POST"]
    command = [sys.executable, "-m", "httplab", "measure", f"--run-dir={run_dir}",
               f"--inventory={inventory}", f"--stack={STACK}", f"--url={contract_url}",
               *cells]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    ) as driver:
        deadline = time.monotonic() + 120
        # The first cell is recorded, then the second holds its kept-alive connection.
        while time.monotonic() < deadline and not (
            (run_dir / "concurrent" / STACK / "GET.csv").exists()
            and sending_to(workdir, contract_url)
        ):
            time.sleep(0.1)
        if not sending_to(workdir, contract_url):
            driver.kill()
            pytest.fail("the second cell never started measuring")
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    assert wait_until_gone(workdir) == []
    recorded = entries(run_dir)
    assert recorded["concurrent/flask-gunicorn/GET.csv"]["status"] == "complete"
    interrupted = recorded["keepalive/flask-gunicorn/GET.csv"]
    assert interrupted["status"] == "interrupted" and interrupted[CHECKSUM_KEYS["csv"]]
    assert "keepalive/flask-gunicorn/POST.csv" not in recorded  # left for a resume
