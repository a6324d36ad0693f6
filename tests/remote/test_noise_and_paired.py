"""Through real SSH (a throwaway sshd): the server's half of the noise guard, the paired design."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex

from bench_client.request import BUILTIN
from bench_client.results_format import Measurement
from orchestrator.remote.guard import RemoteGuard
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementSpec, measure_together
from orchestrator.remote.session import open_session
from orchestrator.server_noise import ServerWatch, add_to_meta, lab_hosts
from tests.remote import sshd as sshd_tools
from tests.remote.helpers import with_server


def test_the_server_is_read_before_and_after_over_ssh(inventory, tmp_path):
    (client,), server = lab_hosts(with_server(inventory, tmp_path))
    assert (client.name, server and server.name) == ("testclient", "testserver")
    with ServerWatch(server) as watch:
        windows = []
        for _ in range(2):  # one connection, a reading before and after each measurement
            # A stack no lab on this machine runs: a lab's containers are visible from here.
            watch.start(["no-such-stack"])
            windows.append(watch.stop())
    assert watch.problem == ""
    for window in windows:
        assert window is not None and window["window_s"] > 0
        assert window["own_cpu_cores"] == 0  # no httplab-no-such-stack.service anywhere
        assert window["others_cpu_cores"] is not None and window["cpus"]

    meta = tmp_path / "GET.meta.json"
    client_window = {**window, "others_cpu_cores": 0.0}
    meta.write_text(json.dumps({"mean_s": 0.001, "host_noise": {"client": client_window}}))
    digest = add_to_meta(meta, window, watch.problem)
    assert digest == hashlib.sha256(meta.read_bytes()).hexdigest()
    document = json.loads(meta.read_text())
    assert document["mean_s"] == 0.001
    assert document["host_noise"]["client"] == client_window
    assert document["host_noise"]["server"] == window
    assert "server_unavailable" not in document["host_noise"]


def test_a_lost_reader_costs_one_reading_and_the_next_starts_a_new_one(inventory, tmp_path):
    """One reader process answers the run's readings; if it is lost, that window says why."""
    _, server = lab_hosts(with_server(inventory, tmp_path))
    with ServerWatch(server) as watch:
        watch.start(["no-such-stack"])
        first = watch.reader
        assert first is not None
        first.channel.close()  # as if the reader died
        assert watch.stop() is None
        assert watch.problem.startswith("reading the server failed")
        watch.end_group()
        watch.start(["no-such-stack"])
        window = watch.stop()
    assert window is not None and window["window_s"] > 0, watch.problem
    assert watch.reader is not first


def test_work_in_the_readings_ssh_session_is_apparatus_not_others(inventory, tmp_path):
    """A process the watch's own SSH session runs (as the sampler is) counts as apparatus."""
    _, server = lab_hosts(with_server(inventory, tmp_path))
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with ServerWatch(server) as watch:
        watch.start(["flask-gunicorn"])
        watch.connection.run(shlex.join(["python3", "-c", burn]), hide=True, in_stream=False)
        window = watch.stop()
    assert window is not None, watch.problem
    assert window["apparatus_cpu_cores"] * window["window_s"] >= 0.45


def test_an_unreachable_server_leaves_its_half_empty_with_the_reason(inventory, tmp_path):
    _, server = lab_hosts(with_server(inventory, tmp_path))
    assert server is not None
    gone = dataclasses.replace(server, port=sshd_tools.free_port())
    with ServerWatch(gone) as watch:
        watch.start(["flask-gunicorn"])
        assert watch.stop() is None
    assert watch.problem.startswith("cannot reach the server")
    meta = tmp_path / "GET.meta.json"
    meta.write_text(json.dumps({"host_noise": {"client": None}}))
    add_to_meta(meta, None, watch.problem)
    noise = json.loads(meta.read_text())["host_noise"]
    assert noise["server"] is None and noise["server_unavailable"] == watch.problem


def test_the_paired_design_measures_and_fetches_every_stack_together(
    deployed, inventory, contract_url, tmp_path
):
    """One bench_client --paired run over real SSH; each stack's files fetched and checked."""
    out_dir = tmp_path / "results" / "run-paired"
    settings = {"iterations": 6, "interval": 0.0, "block": 2}
    specs = [
        MeasurementSpec(
            Measurement("keepalive", stack, "GET", 2),
            contract_url,
            out_dir,
            BUILTIN["GET"],
            settings,
            seed=3,
        )
        for stack in ("alpha", "beta")
    ]
    with open_session(read_client(inventory)) as session, RemoteGuard(session) as guard:
        fetched = measure_together(guard, specs)
    assert [f.measurement.stack for f in fetched] == ["alpha", "beta"]
    for one in fetched:
        csv_path = out_dir / one.measurement.csv
        assert one.measurement.csv == f"keepalive/{one.measurement.stack}/GET.rep2.csv"
        assert one.sha256_csv == hashlib.sha256(csv_path.read_bytes()).hexdigest()
        meta = json.loads((out_dir / one.measurement.meta).read_text())
        assert meta["design"] == "paired" and meta["successes"] == 6
        assert meta["config"]["paired"]["block"] == 2
