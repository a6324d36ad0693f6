"""The noise guard: readings, their windows, the busy verdict, and a real busy neighbour."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench_client import noise

SPIN = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"


def reading(wall: float, busy: float, own: float, steal: float | None = 0.0) -> noise.Reading:
    return {
        "wall_s": wall,
        "cpus": [0, 1],
        "busy_s": busy,
        "irq_s": 0.0,
        "steal_s": steal,
        "own_s": own,
        "loadavg": [0.1, 0.1, 0.1],
        "unavailable": {} if steal is not None else {"steal_s": "the OS does not report it"},
    }


def test_window_separates_the_measurements_own_cpu_from_the_others():
    block = noise.window(reading(10.0, 100.0, 5.0), reading(12.0, 101.4, 6.0))
    assert block["window_s"] == 2.0
    assert block["own_cpu_cores"] == 0.5
    assert block["others_cpu_cores"] == pytest.approx(0.2)
    assert block["steal_percent"] == 0.0
    assert noise.reasons("client", block) == ["client: other processes used 20% of a core"]


def test_the_servers_measuring_apparatus_is_shown_and_not_counted_as_others():
    """Its readings and sampler (one SSH session) are the measurement's, not a neighbour's."""
    before = {**reading(10.0, 100.0, 5.0), "apparatus_s": 3.0}
    after = {**reading(11.0, 100.9, 5.6), "apparatus_s": 3.25}
    block = noise.window(before, after)
    assert block["apparatus_cpu_cores"] == 0.25
    assert block["others_cpu_cores"] == pytest.approx(0.05)
    assert noise.reasons("server", block) == []
    without = noise.window(reading(10.0, 100.0, 5.0), reading(11.0, 100.9, 5.6))
    assert without["apparatus_cpu_cores"] is None  # the client's reading has none
    assert without["others_cpu_cores"] == pytest.approx(0.3)


def test_others_up_to_the_threshold_are_quiet_and_steal_is_judged_per_cpu():
    at_threshold = noise.window(reading(0.0, 0.0, 0.0), reading(1.0, 0.6, 0.5))
    assert at_threshold["others_cpu_cores"] == pytest.approx(noise.OTHERS_BUSY_CORES)
    assert noise.reasons("server", at_threshold) == []
    # 0.05 s stolen from two CPUs over 1 s: 2.5% of their time.
    stolen = noise.window(reading(0.0, 0.0, 0.0, 0.0), reading(1.0, 0.5, 0.5, 0.05))
    assert stolen["steal_percent"] == 2.5
    assert noise.reasons("server", stolen) == [
        "server: 2.5% of the CPU time was stolen by the hypervisor"
    ]


def test_what_a_host_cannot_tell_is_none_with_its_reason():
    block = noise.window(reading(0.0, 0.0, 0.0, None), reading(1.0, 0.5, 0.5, None))
    assert block["steal_percent"] is None
    assert block["unavailable"] == {"steal_s": "the OS does not report it"}
    verdict = noise.host_noise(block, None, "not read")
    assert verdict["busy"] is False and verdict["reasons"] == []
    assert verdict["server_unavailable"] == "not read"


def test_the_verdict_names_every_busy_host():
    quiet = noise.window(reading(0.0, 0.0, 0.0), reading(1.0, 0.5, 0.5))
    busy = noise.window(reading(0.0, 0.0, 0.0), reading(1.0, 1.5, 0.5))
    verdict = noise.host_noise(quiet, busy)
    assert verdict["busy"] is True
    assert verdict["reasons"] == ["server: other processes used 100% of a core"]
    assert verdict["thresholds"] == {
        "others_cpu_cores": noise.OTHERS_BUSY_CORES,
        "steal_percent": noise.STEAL_PERCENT,
    }


def test_readings_out_of_order_are_refused():
    with pytest.raises(ValueError, match="out of order"):
        noise.window(reading(2.0, 0.0, 0.0), reading(1.0, 0.0, 0.0))


@pytest.mark.skipif(sys.platform != "linux", reason="pins processes with sched_setaffinity")
def test_a_busy_neighbour_on_the_clients_cpu_flags_the_run(server, bench, tmp_path):
    """A real process spinning on the client's CPU during the timed requests."""
    mine = os.sched_getaffinity(0)
    cpu = min(mine)
    os.sched_setaffinity(0, {cpu})
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        os.sched_setaffinity(spinner.pid, {cpu})
        result = bench(server, mode="keepalive", iterations=100, interval=0.005)
    finally:
        spinner.kill()
        spinner.wait()
        os.sched_setaffinity(0, mine)
    assert result.code == 0
    verdict = result.meta["host_noise"]
    client = verdict["client"]
    assert client["cpus"] == [cpu]
    assert client["own_cpu_cores"] > 0
    # The spinner shares the one CPU: it gets a good part of it, far above 10%.
    assert client["others_cpu_cores"] > noise.OTHERS_BUSY_CORES, client
    assert verdict["busy"] is True
    assert any(reason.startswith("client: other processes") for reason in verdict["reasons"])
    assert verdict["server"] is None and "orchestrator" in verdict["server_unavailable"]


def test_a_run_records_the_clients_cpus_and_governor(server, bench):
    result = bench(server, mode="constant", iterations=3, interval=0)
    client = result.meta["client"]
    assert client["cpu_affinity"] == result.meta["host_noise"]["client"]["cpus"]
    assert client["cpus_pinned"] == (len(client["cpu_affinity"]) < client["cpu_count"])
    assert "cpu_governor" in client


@pytest.mark.skipif(sys.platform != "linux", reason="the server's reading reads Linux /proc")
def test_the_servers_reading_runs_with_a_plain_python3():
    """SERVER_READING runs on the server without bench_client: stdlib only."""
    argv = ["python3", "-I", "-c", noise.SERVER_READING, "httplab-none.service"]
    first = json.loads(subprocess.run(argv, capture_output=True, check=True, text=True).stdout)
    second = json.loads(subprocess.run(argv, capture_output=True, check=True, text=True).stdout)
    assert first["cpus"] == sorted(os.sched_getaffinity(0))
    assert first["own_s"] == 0 and first["stack_cpus"] is None  # no such unit here
    block = noise.window(first, second)
    assert block["own_cpu_cores"] == 0
    assert block["others_cpu_cores"] >= 0
    assert block["cpu_count"] == os.cpu_count()


@pytest.mark.skipif(sys.platform != "linux", reason="the server's reading reads Linux /proc")
def test_the_servers_reader_answers_a_reading_for_each_line():
    """--serve: one process answers every reading of a run, each for the units asked."""
    argv = ["python3", "-I", "-c", noise.SERVER_READING, "--serve"]
    asked = '["httplab-none.service"]\n[]\n'
    answer = subprocess.run(argv, input=asked, capture_output=True, check=True, text=True)
    first, second = map(json.loads, answer.stdout.splitlines())
    assert first["cpus"] == second["cpus"] == sorted(os.sched_getaffinity(0))
    assert first["own_s"] == 0 and first["stack_cpus"] is None
    assert second["wall_s"] >= first["wall_s"]
    assert noise.window(first, second)["others_cpu_cores"] >= 0
