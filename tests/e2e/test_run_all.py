"""run_all.yml end to end on the embedded lab: a small matrix, a resume, a crash mid-run."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bench_client.results_format import SAMPLES_SCHEMA
from lab.api import Lab
from orchestrator.manifest import CHECKSUM_KEYS

ROOT = Path(__file__).resolve().parents[2]
MATRIX = yaml.safe_load((ROOT / "inventory/group_vars/all/stacks.yml").read_text())
STACKS = [stack["name"] for stack in MATRIX["httplab_stacks"]]
ITERATIONS = 100

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def playbook(
    lab: Lab, venv_bin: Path, name: str, results: Path, log: Path, **extra: object
) -> subprocess.CompletedProcess[str]:
    """Run a playbook against the lab; the output goes to `log` and the tail into failures."""
    extra_vars = {"httplab_results_dir": str(results), **extra}
    with log.open("w") as out:
        done = subprocess.run(
            [str(venv_bin / "ansible-playbook"), "-i", str(lab.inventory_path), name,
             "-e", json.dumps(extra_vars)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, check=False,
        )  # fmt: skip
    assert done.returncode == 0, f"{name} failed:\n" + "".join(
        log.read_text().splitlines(True)[-60:]
    )
    return done


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def small_run(embedded_lab: Lab, venv_bin: Path, tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    playbook(
        embedded_lab, venv_bin, "run_all.yml", results, results / "run_all.log",
        httplab_run_id="e2e", httplab_bench_stacks=STACKS,
        httplab_bench_modes=["constant", "concurrent"], httplab_bench_iterations=ITERATIONS,
        httplab_bench_repetitions=1,
        httplab_bench_warmup=5, httplab_bench_concurrency=4,
    )  # fmt: skip
    return results / "e2e"


def test_every_measurement_is_collected_with_matching_checksums(small_run: Path) -> None:
    manifest = json.loads((small_run / "manifest.json").read_text())
    entries = manifest["measurements"]
    assert len(entries) == len(STACKS) * 2 * 2
    assert {e["status"] for e in entries} == {"complete"}
    for entry in entries:
        for kind in ("csv", "meta"):
            data = (small_run / entry[kind]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry[CHECKSUM_KEYS[kind]], entry[kind]
        assert len(rows(small_run / entry["csv"])) == ITERATIONS


def test_every_cell_has_plausible_server_samples(small_run: Path) -> None:
    """The sampler ran on the server around each cell: files present, checksums, figures > 0."""
    manifest = json.loads((small_run / "manifest.json").read_text())
    for entry in manifest["measurements"]:
        assert entry["samples_problem"] == "", entry["csv"]
        data = (small_run / entry["samples"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry[CHECKSUM_KEYS["samples"]]
        document = json.loads(data)
        assert document["schema"] == SAMPLES_SCHEMA and document["cpu_source"] == "cgroup"
        assert document["unit"] == f"httplab-{entry['stack']}.service"
        samples = [dict(zip(document["columns"], row, strict=True)) for row in document["samples"]]
        cpu = [row["cpu_user_s"] + row["cpu_system_s"] for row in samples]
        assert cpu[-1] > cpu[0], "the stack used CPU while it was measured"
        assert all(row["rss_bytes"] > 0 and row["fds"] > 0 for row in samples)
        assert document["unavailable"] == {}  # the lab user may sudo: fds are counted too
    cells = rows(small_run / "report" / "resources.csv")
    assert len(cells) == len(manifest["measurements"])
    for cell in cells:
        assert int(cell["requests"]) == ITERATIONS
        assert float(cell["cpu_per_1k_s"]) > 0 and float(cell["peak_rss_mib"]) > 0
        assert int(float(cell["peak_fds"])) > 0


def test_manifest_describes_hosts_and_stacks(small_run: Path) -> None:
    manifest = json.loads((small_run / "manifest.json").read_text())
    server, client = manifest["hosts"]["server"], manifest["hosts"]["client"]
    assert int(server["cpu_count"]) >= 1 and server["kernel"] and server["os"]
    assert client, "the client's facts come from its meta files"
    assert sorted(s["name"] for s in manifest["stacks"]) == sorted(STACKS)
    assert all(s["versions"] for s in manifest["stacks"])
    assert manifest["lab"]["kind"] == "embedded" and manifest["lab"]["notes"]
    assert manifest["git_commit"] and isinstance(manifest["seed"], int)


def test_each_measurement_was_shown_as_it_ended(small_run: Path) -> None:
    """Ansible shows a task's output when it ends; the progress callback shows each line."""
    log = (small_run.parent / "run_all.log").read_text()
    counted = [line for line in log.splitlines() if line.startswith("[") and "left]" in line]
    assert len(counted) == 24, log[-3000:]
    assert counted[0].startswith("[ 1/24 ") and counted[-1].startswith("[24/24 ")
    # Between the task's header and its result: shown while the task still ran.
    task = log.index("TASK [Measure every cell")
    result = log.index("changed: [localhost]", task)
    assert all(task < log.index(line) < result for line in counted)
    # The run's summary ends the output, the report's path last.
    summary = log[log.rindex("Run e2e: ") :]
    assert "24 of 24 measurements complete" in summary
    assert f"Report: {small_run.resolve()}/report/index.html" in summary


def test_report_is_written(small_run: Path) -> None:
    report = small_run / "report"
    assert (report / "index.html").stat().st_size > 10_000
    summary = rows(report / "summary.csv")
    assert len(summary) == len(STACKS) * 2 * 2
    assert {r["stack"] for r in summary} == set(STACKS)


def test_resume_measures_nothing_new(
    small_run: Path, embedded_lab: Lab, venv_bin: Path, tmp_path: Path
) -> None:
    before = {p: p.stat().st_mtime_ns for p in small_run.rglob("*.csv")}
    log = tmp_path / "resume.log"
    playbook(
        embedded_lab, venv_bin, "playbooks/benchmark.yml", small_run.parent, log,
        httplab_run_id="e2e", httplab_bench_stacks=STACKS,
        httplab_bench_modes=["constant", "concurrent"], httplab_bench_iterations=ITERATIONS,
        httplab_bench_repetitions=1,
        httplab_bench_warmup=5, httplab_bench_concurrency=4,
    )  # fmt: skip
    assert "0 of 24 measurements to make" in log.read_text()
    assert {p: p.stat().st_mtime_ns for p in small_run.rglob("*.csv")} == before


def when_the_client_runs(lab: Lab, action: Callable[[], bool]) -> threading.Event:
    """In a thread: while bench_client measures on the client, call ``action`` until it says
    done. bench_client is forked by its guard (bench_client/guard.py), so two processes with
    the guard's command line mean a measurement runs."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            # [b] keeps the pattern from matching the shell that runs pgrep.
            probe = lab.client.run("pgrep", "-c", "-f", "[b]ench_client.guard", check=False)
            if int(probe.stdout.strip() or 0) >= 2 and action():
                done.set()
                return
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    return done


def measure_one(
    lab: Lab, venv_bin: Path, results: Path, run_id: str, stack: str, iterations: int
) -> Path:
    """benchmark.yml for one constant-mode GET cell of ``stack``; the run's folder."""
    playbook(
        lab, venv_bin, "playbooks/benchmark.yml", results, results / f"{run_id}.log",
        httplab_run_id=run_id, httplab_bench_stacks=stack, httplab_bench_modes="constant",
        httplab_bench_requests="GET", httplab_bench_iterations=iterations, httplab_bench_warmup=5,
        httplab_bench_repetitions=1,
    )  # fmt: skip
    return results / run_id


def test_a_stack_killed_mid_run_shows_up_as_failures(
    small_run: Path, embedded_lab: Lab, venv_bin: Path, tmp_path: Path
) -> None:
    """After run_all.yml (small_run) has provisioned the server, crash a stack under load."""
    stack = "flask-gunicorn"
    port = next(one["port"] for one in MATRIX["httplab_stacks"] if one["name"] == stack)

    def kill_the_stack() -> bool:
        # Only once bench_client's requests reach the stack: killed before its first request
        # (while it still starts), the stack would fail the probe and nothing be measured.
        reached = embedded_lab.client.run(
            "ss", "-Htn", "state", "all", f"dport = :{port}", check=False
        )
        if not reached.stdout.strip():
            return False
        time.sleep(0.5)
        embedded_lab.server.run(
            "sudo", "systemctl", "kill", "--signal=SIGKILL", f"httplab-{stack}.service"
        )
        return True

    killed = when_the_client_runs(embedded_lab, kill_the_stack)
    measure_one(embedded_lab, venv_bin, tmp_path, "kill", stack, 1500)
    killed.wait(timeout=10)
    assert killed.is_set(), "the client never ran, so nothing was killed"

    samples = rows(tmp_path / "kill" / "constant" / stack / "GET.csv")
    assert len(samples) == 1500
    failed = [r for r in samples if r["Error"]]
    assert failed, "requests during the restart must be recorded as failures"
    assert all(r["Execution Time (seconds)"] == "" for r in failed)
    ok = [r for r in samples if not r["Error"]]
    assert all(float(r["Execution Time (seconds)"]) > 0 for r in ok)
    assert ok, "systemd restarted the stack, so later requests succeed"
    manifest = json.loads((tmp_path / "kill" / "manifest.json").read_text())
    assert [e["status"] for e in manifest["measurements"]] == ["complete"]


def test_a_killed_sampler_leaves_the_measurement_recorded(
    small_run: Path, embedded_lab: Lab, venv_bin: Path, tmp_path: Path
) -> None:
    """Kill the server's sampler (kill -9) while bench_client runs: the cell is still kept."""
    stack = "flask-gunicorn"

    def kill_the_sampler() -> bool:
        # The sampler's command line, and only its, has --schema; [-] keeps pgrep's own out.
        # It runs as sudo and its python child: the child first (the higher PID), so that
        # sudo's death cannot end it cleanly (its standard input closes) before its own kill.
        pids = embedded_lab.server.run("pgrep", "-f", "[-]-schema", check=False).stdout.split()
        if pids:
            embedded_lab.server.run("sudo", "kill", "-KILL", *sorted(pids, key=int, reverse=True))
        return bool(pids)

    killed = when_the_client_runs(embedded_lab, kill_the_sampler)
    run = measure_one(embedded_lab, venv_bin, tmp_path, "nosampler", stack, 1000)
    killed.wait(timeout=10)
    assert killed.is_set(), "the sampler was never seen running, so nothing was killed"
    [entry] = json.loads((run / "manifest.json").read_text())["measurements"]
    assert entry["status"] == "complete"
    assert entry["samples"] is None and entry[CHECKSUM_KEYS["samples"]] is None
    assert (
        entry["samples_problem"]
        == "server samples missing: the sampler ended without its samples (killed)"
    )
    assert not (run / "constant" / stack / "GET.server.json").exists()
    assert len(rows(run / entry["csv"])) == 1000
