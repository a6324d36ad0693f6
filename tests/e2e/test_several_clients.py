"""Two client containers measure together: deploy to both, one agreed start, merged files.

A lab of its own ($HTTPLAB_TEST_LAB-2c, two clients) whose server runs the contract
server (tests/remote/contract_server.py) on port 8080 instead of provisioned stacks:
what is under test here is the orchestration across client hosts: `httplab deploy`, and the
benchmark's measuring of a group (orchestrator.measure, through tests/remote/driver.py).
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench_client.documents import Status
from bench_client.results_format import Measurement, sha256_file
from bench_client.settings import defaults
from lab import api
from orchestrator.host_facts import finalize
from orchestrator.manifest import Manifest
from tests.conftest import PYTEST_LAB, require_root

ROOT = Path(__file__).resolve().parents[2]
LAB_NAME = f"{PYTEST_LAB[:29]}-2c"
PORT = 8080
SETTINGS = {"iterations": 400, "concurrency": 4, "timeout": 5.0, "warmup": 5, "interval": 0.0,
            "processes": 1}  # fmt: skip
COMPLETE, PARTIAL = Status.COMPLETE, Status.PARTIAL

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]


def httplab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "httplab", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def two_clients() -> Iterator[api.Lab]:
    require_root()
    lab = api.up(LAB_NAME, clients=2, progress=lambda message: print(f"lab: {message}"))
    source = (ROOT / "tests/remote/contract_server.py").read_text()
    source += f"\nThreadingHTTPServer(('0.0.0.0', {PORT}), ContractHandler).serve_forever()\n"
    server = subprocess.Popen(
        [*lab.server.ssh_command, shlex.join(["timeout", "1800", "python3", "-c", source])],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        probe = f"import urllib.request; urllib.request.urlopen('{url(lab)}/get', timeout=2)"
        deadline = time.monotonic() + 60
        while lab.client.run("python3", "-c", probe, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the contract server did not come up"
            time.sleep(0.5)
        deployed = httplab("deploy", f"--inventory={lab.inventory_path}")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        yield lab
    finally:
        server.terminate()
        api.down(LAB_NAME)


def url(lab: api.Lab) -> str:
    return f"http://{lab.server.address}:{PORT}"


def new_run(tmp_path: Path, name: str, **settings: object) -> Path:
    run_dir = tmp_path / name
    Manifest.create(
        run_dir, run_id=name, seed=1, git="test",
        settings=defaults() | {"stacks": ["contract"], **SETTINGS, **settings},
        sources={}, requests={}, lab={"kind": "embedded"},
    )  # fmt: skip
    return run_dir


def measure(lab: api.Lab, run_dir: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.remote.driver", "cells", f"--run-dir={run_dir}",
         f"--inventory={lab.inventory_path}", f"--cell={mode},GET,1",
         "--stack=contract", f"--url={url(lab)}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_both_clients_measure_together_and_their_counts_add_up(two_clients, tmp_path):
    run_dir = new_run(tmp_path, "together")
    done = measure(two_clients, run_dir, "concurrent")
    _, err = done.communicate(timeout=900)
    assert done.returncode == 0, err[-3000:]
    cell = Measurement("concurrent", "contract", "GET")
    manifest = Manifest.load(run_dir)
    entry = manifest.entry(cell)
    assert entry["status"] == COMPLETE and manifest.is_collected(cell)
    hosts = entry["hosts"]
    assert sorted(hosts) == sorted(h.hostname for h in two_clients.clients)
    merged = json.loads((run_dir / cell.meta).read_text())
    shares = {
        name: json.loads((run_dir / host["meta"]).read_text()) for name, host in hosts.items()
    }
    for name, host in hosts.items():
        assert host["status"] == COMPLETE
        assert sha256_file(run_dir / host["csv"]) == host["sha256"]
        assert sha256_file(run_dir / host["meta"]) == host["sha256_meta"]
        assert shares[name]["config"]["iterations"] == SETTINGS["iterations"] // 2
        assert shares[name]["config"]["concurrency"] == SETTINGS["concurrency"]  # per host
        assert "start" in shares[name]
    # The merged counts are the sums of the hosts' counts, and so are the merged CSV's rows.
    for count in ("requests", "successes", "failures"):
        assert merged[count] == sum(share[count] for share in shares.values())
    assert merged["requests"] == merged["config"]["iterations"] == SETTINGS["iterations"]
    merged_rows = rows(run_dir / cell.csv)
    assert len(merged_rows) == sum(len(rows(run_dir / h["csv"])) for h in hosts.values())
    assert [int(r["Iteration"]) for r in merged_rows] == list(range(1, len(merged_rows) + 1))
    assert {r["Worker"].split("/")[0] for r in merged_rows} == set(hosts)
    # The start skew and each host's clock offset are recorded.
    assert entry["start"]["skew_s"] == merged["start_skew_s"] >= 0
    assert sorted(entry["start"]["late_s"]) == sorted(hosts)
    for host in hosts.values():  # the containers share this machine's clock: 0 ± the bound
        assert abs(host["clock"]["offset_s"]) <= host["clock"]["uncertainty_s"]
    # The manifest records each client host's own facts, from its own meta file.
    addresses = {h.hostname: h.address for h in two_clients.clients}
    finalize(Manifest.load(run_dir), {}, dict(addresses), [], None)
    facts = Manifest.load(run_dir).data["hosts"]["clients"]
    assert list(facts) == list(addresses)
    for name, address in addresses.items():
        assert facts[name]["name"] == name  # the container's hostname, in its own words
        assert facts[name]["address"] == address and facts[name]["cpu_model"]
    window = merged["common_window"]
    print(
        f"\nmerged: {merged['requests']} requests = "
        + " + ".join(f"{n} {s['requests']}" for n, s in shares.items())
        + f"; throughput {merged['throughput_rps']:.0f} req/s over the span, "
        f"{window['throughput_rps'] or 0:.0f} req/s in the common window "
        f"({window['duration_s']:.3f} s); start skew {merged['start_skew_s'] * 1e3:.2f} ms; "
        + "; ".join(
            f"{n} clock offset {h['clock']['offset_s'] * 1e3:+.2f} ms "
            f"(±{h['clock']['uncertainty_s'] * 1e3:.2f})"
            for n, h in hosts.items()
        )
    )


def _bench_client_runs(host: api.Host) -> bool:
    return host.run("pgrep", "-f", "[b]ench_client.guard", check=False).returncode == 0


def test_losing_a_client_keeps_the_other_and_marks_the_cell_partial(two_clients, tmp_path):
    # 40 s of requests at 20/s on each host: time to stop a container mid-measurement.
    run_dir = new_run(tmp_path, "lost", iterations=1600, rate=40.0)
    running = measure(two_clients, run_dir, "rate")
    first, lost = two_clients.clients
    deadline = time.monotonic() + 300
    while not (_bench_client_runs(lost) and _bench_client_runs(first)):
        assert running.poll() is None, running.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "bench_client did not start on both clients"
        time.sleep(0.5)
    time.sleep(20)  # past the agreed start (15 s ahead) and into the timed requests
    assert lost.pid is not None
    os.kill(lost.pid, signal.SIGTERM)  # systemd-nspawn halts the container: sshd goes too
    _, err = running.communicate(timeout=900)
    assert running.returncode == 4, err[-3000:]  # UNREACHABLE: a host was lost
    assert f"{lost.hostname}" in err and "marked partial" in err
    cell = Measurement("rate", "contract", "GET")
    manifest = Manifest.load(run_dir)
    entry = manifest.entry(cell)
    assert entry["status"] == PARTIAL and lost.hostname in entry["message"]
    assert not manifest.is_collected(cell), "a resumed run measures a partial cell again"
    kept, gone = entry["hosts"][first.hostname], entry["hosts"][lost.hostname]
    assert kept["status"] == COMPLETE and gone["status"] == "lost"
    assert sha256_file(run_dir / kept["csv"]) == kept["sha256"]
    share = json.loads((run_dir / kept["meta"]).read_text())
    merged = json.loads((run_dir / cell.meta).read_text())
    assert share["requests"] == merged["requests"] == 800
    assert [h["host"] for h in merged["hosts"]] == [first.hostname]
    print(
        f"\nlost {lost.hostname}: {err.strip().splitlines()[-1][:300]}\n"
        f"kept {first.hostname}: {share['requests']} requests, {share['successes']} ok; "
        f"cell {entry['status']}: {entry['message']}"
    )
