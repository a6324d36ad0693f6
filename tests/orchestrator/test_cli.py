from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from bench_client.results_format import MANIFEST_SCHEMA, Measurement, client_flags, sha256_file
from orchestrator.cli import main
from orchestrator.manifest import Manifest

MATRIX = [{"name": "s1", "port": 5001}, {"name": "s2", "port": 5002}]
SETTINGS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "inventory/group_vars/all/benchmark.yml").read_text()
)


def plan_args(results: Path, *extra: str) -> list[str]:
    """`plan` as the playbook calls it: every setting given, from benchmark.yml's defaults."""
    given = {arg.split("=")[0] for arg in extra}
    defaults = [
        f"--{key.removeprefix('httplab_bench_').replace('_', '-')}={_as_given(value)}"
        for key, value in SETTINGS.items()
        if key.startswith("httplab_bench_")
    ]
    defaults = [arg for arg in defaults if arg.split("=")[0] not in given]
    return ["plan", f"--results={results}", f"--matrix={json.dumps(MATRIX)}", *defaults, *extra]


def _as_given(value: object) -> str:
    """As the playbook renders a setting: lists as JSON, a string as is, null as ""."""
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else err)


def plan(capsys, results: Path, *extra: str) -> tuple[int, dict | str]:
    small = ("--modes=constant", "--iterations=10", "--repetitions=1")
    return run(capsys, *plan_args(results, *small, *extra))


def fake_collect(run_dir: Path, m: Measurement) -> None:
    """Put a measurement's files in place and record them, as `measure` does."""
    for rel, text in ((m.csv, "Iteration\n"), (m.meta, "{}")):
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_text(text)
    manifest = Manifest.load(run_dir)
    manifest.record(
        m, status="complete",
        sha256_csv=hashlib.sha256(b"Iteration\n").hexdigest(),
        sha256_meta=hashlib.sha256(b"{}").hexdigest(),
    )  # fmt: skip


def test_plan_creates_the_run_with_manifest_and_latest_link(capsys, tmp_path: Path) -> None:
    status, out = plan(capsys, tmp_path, "--run-id=r1", "--seed=5")
    assert status == 0
    assert out["run_id"] == "r1" and out["seed"] == 5 and out["resumed"] is False
    assert out["planned"] == out["pending"] == 4
    assert [g["stack"] for g in out["by_stack"]] in (["s1", "s2"], ["s2", "s1"])
    manifest = json.loads((tmp_path / "r1/manifest.json").read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA and manifest["seed"] == 5
    assert manifest["client_settings"]["iterations"] == 10
    assert manifest["selection"]["stacks"] == ["s1", "s2"]
    assert (tmp_path / "latest").resolve() == (tmp_path / "r1").resolve()


def test_resume_skips_what_is_collected_and_verified(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "--run-id=r1", "--seed=5")
    fake_collect(tmp_path / "r1", Measurement("constant", "s1", "GET"))
    status, out = plan(capsys, tmp_path, "--run-id=r1")
    assert status == 0 and out["resumed"] is True and out["seed"] == 5
    assert out["pending"] == 3
    remaining = {m["csv"] for g in out["by_stack"] for m in g["measurements"]}
    assert "constant/s1/GET.csv" not in remaining


def test_resume_measures_again_a_file_that_no_longer_matches_its_checksum(
    capsys, tmp_path: Path
) -> None:
    plan(capsys, tmp_path, "--run-id=r1", "--seed=5")
    m = Measurement("constant", "s1", "GET")
    fake_collect(tmp_path / "r1", m)
    (tmp_path / "r1" / m.csv).write_text("tampered\n")
    assert plan(capsys, tmp_path, "--run-id=r1")[1]["pending"] == 4
    status, err = run(capsys, "checksums", f"--run-dir={tmp_path / 'r1'}")
    assert status == 1 and "constant/s1/GET.csv: sha256 differs" in err


def test_resume_with_other_settings_is_refused(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "--run-id=r1")
    status, err = plan(capsys, tmp_path, "--run-id=r1", "--iterations=99")
    assert status == 1
    assert "iterations: recorded 10, asked 99" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stacks=s1,zz"], "unknown stack zz"),
        (["--run-id=../escape"], "run id '../escape'"),
        (["--modes=rate"], "the rate mode needs a target rate"),
    ],
)
def test_bad_selection_is_a_one_line_error(capsys, tmp_path: Path, extra, message) -> None:
    status = main(plan_args(tmp_path, *extra))
    err = capsys.readouterr().err
    assert status == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "escape").exists()


def test_finalize_adds_hosts_stacks_and_client_facts(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "--run-id=r1", "--stacks=s1")
    run_dir = tmp_path / "r1"
    m = Measurement("constant", "s1", "GET")
    fake_collect(run_dir, m)
    client = {"os": "Windows 11", "release": "10.0.26100", "cpu_affinity": [1]}
    server_noise = {"cpus": [0], "cpu_count": 2, "stack_cpus": [0], "governor": None}
    noise = {"client": {}, "server": {**server_noise, "others_cpu_cores": 0.01}}
    (run_dir / m.meta).write_text(json.dumps({"client": client, "host_noise": noise}))
    status, out = run(
        capsys, "finalize", f"--run-dir={run_dir}",
        '--clients={"win": "192.0.2.20"}', '--server-facts={"cpu_count": 2}',
        '--stacks-info=[{"name": "s1"}, {"name": "s9"}]',
    )  # fmt: skip
    assert status == 0 and out["measurements"] == {"complete": 1}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    described = {**client, "name": "win", "address": "192.0.2.20", "kernel": "10.0.26100"}
    assert manifest["hosts"] == {
        "server": {"cpu_count": 2, **server_noise},
        "clients": {"win": described},
        "client": described,
    }
    assert manifest["stacks"] == [{"name": "s1"}]
    assert manifest["finished"]


def test_finalize_records_every_client_hosts_facts_from_its_own_meta_files(
    capsys, tmp_path: Path
) -> None:
    plan(capsys, tmp_path, "--run-id=r1", "--stacks=s1", "--repetitions=2")
    run_dir = tmp_path / "r1"
    manifest = Manifest.load(run_dir)
    first, second = Measurement("constant", "s1", "GET"), Measurement("constant", "s1", "GET", 2)
    # c2 was lost in the first cell and delivered the second; c3 never delivered.
    delivered = {first: ["c1"], second: ["c1", "c2"]}
    for cell, names in delivered.items():
        hosts: dict[str, dict] = {"c3": {"status": "lost"}}
        for name in names:
            share = cell.on_host(name)
            (run_dir / share.meta).parent.mkdir(parents=True, exist_ok=True)
            facts = {"name": f"{name}-{cell.repetition}", "cpu_model": f"cpu of {name}"}
            (run_dir / share.meta).write_text(json.dumps({"client": facts}))
            hosts[name] = {"status": "complete", "meta": share.meta}
        hosts.setdefault("c2", {"status": "lost"})
        manifest.record(cell, status="partial", hosts=hosts, start=None)
    clients = '{"c1": "192.0.2.1", "c2": "192.0.2.2", "c3": null}'
    status, _ = run(capsys, "finalize", f"--run-dir={run_dir}", f"--clients={clients}",
                    "--server-facts={}", "--stacks-info=[]")  # fmt: skip
    assert status == 0
    hosts = json.loads((run_dir / "manifest.json").read_text())["hosts"]
    assert list(hosts["clients"]) == ["c1", "c2", "c3"]  # the inventory's order
    # The first meta file each host delivered speaks for it.
    assert hosts["clients"]["c1"] == {"name": "c1-1", "cpu_model": "cpu of c1",
                                      "address": "192.0.2.1"}  # fmt: skip
    assert hosts["clients"]["c2"] == {"name": "c2-2", "cpu_model": "cpu of c2",
                                      "address": "192.0.2.2"}  # fmt: skip
    assert hosts["clients"]["c3"] == {"name": "c3", "address": "c3"}
    assert hosts["client"] == hosts["clients"]["c1"]


def test_a_corrupt_manifest_is_reported_not_overwritten(capsys, tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1/manifest.json").write_text("{not json")
    status, err = plan(capsys, tmp_path, "--run-id=r1")
    assert status == 1 and "not valid JSON" in err
    assert (tmp_path / "r1/manifest.json").read_text() == "{not json"


def test_paired_design_measures_each_sequential_cell_of_all_stacks_together(
    capsys, tmp_path: Path
) -> None:
    status, out = plan(capsys, tmp_path, "--run-id=r1", "--design=paired", "--block=10",
                       "--modes=constant,concurrent", "--repetitions=2")  # fmt: skip
    assert status == 0
    manifest = json.loads((tmp_path / "r1/manifest.json").read_text())
    assert manifest["selection"]["design"] == "paired"
    assert manifest["client_settings"]["block"] == 10
    together = [g for g in out["by_stack"] if g["stack"] == ""]
    alone = [g for g in out["by_stack"] if g["stack"] != ""]
    # constant × GET/POST × 2 repetitions, each one group of both stacks.
    assert len(together) == 4
    for group in together:
        (item,) = group["measurements"]
        assert item["mode"] == "constant"
        assert item["label"].startswith("all stacks constant ")
        assert item["cell"] == f"constant,{item['method']},{item['repetition']}"  # measure --cell
        assert [(c["stack"], c["port"]) for c in item["paired"]] == [("s1", 5001), ("s2", 5002)]
        assert group["stop"] == []  # both stacks run while they are measured together
    assert {m["mode"] for g in alone for m in g["measurements"]} == {"concurrent"}
    assert sum(len(g["measurements"]) for g in alone) == 2 * 2 * 2
    assert [g["stop"] for g in alone] == [["s2"] if g["stack"] == "s1" else ["s1"] for g in alone]
    # One batch a repetition (the playbook's `httplab measure --groups` each), all in order.
    batches = out["batches"]
    assert [group for batch in batches for group in batch] == out["by_stack"]
    assert [
        {m["repetition"] for g in batch for m in g["measurements"][:1]} for batch in batches
    ] == [
        {1},
        {2},
    ]


def test_a_run_planned_before_designs_resumes_as_sequential(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "--run-id=r1")
    path = tmp_path / "r1/manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["selection"]["design"]
    path.write_text(json.dumps(manifest))
    status, out = plan(capsys, tmp_path, "--run-id=r1")
    assert status == 0 and out["resumed"] is True
    status, err = plan(capsys, tmp_path, "--run-id=r1", "--design=paired")
    assert status == 1 and "design: recorded 'sequential', asked 'paired'" in err


def test_plan_warns_about_client_ports_and_the_manifest_keeps_each_reading(capsys, tmp_path):
    status, out = plan(capsys, tmp_path, "--run-id=r1", "--iterations=20000")
    assert status == 0 and any("Windows client" in w for w in out["warnings"])
    manifest = Manifest.load(tmp_path / "r1")
    budget = {"port_range": [32768, 60999], "time_wait": 12, "time_wait_s": 60}
    entry = manifest.record(Measurement("constant", "s1", "GET"), status="failed",
                            client_ports=budget)  # fmt: skip
    assert Manifest.load(tmp_path / "r1").data["measurements"] == [entry]
    assert entry["client_ports"] == budget


def test_a_sweep_is_planned_as_one_cell_per_stack_and_method_with_its_rule(
    capsys, tmp_path: Path
) -> None:
    """Each sweep is planned by its step 1; the steps it reaches are recorded when measured."""
    status, out = plan(capsys, tmp_path, "--run-id=r1", "--modes=sweep", "--sweep-steps=4")
    assert status == 0
    cells = [m for group in out["by_stack"] for m in group["measurements"]]
    assert sorted(m["csv"] for m in cells) == [
        f"sweep/{stack}/{method}.step1.csv" for stack in ("s1", "s2") for method in ("GET", "POST")
    ]
    settings = json.loads((tmp_path / "r1/manifest.json").read_text())["client_settings"]
    assert settings["sweep_steps"] == 4
    assert client_flags(settings, "sweep")[-2:] == ("--sweep-max-failures", "0.01")


def test_a_resumed_run_says_which_sweeps_stopped_midway(capsys, tmp_path: Path) -> None:
    """Resuming counts a sweep whose step 1 is collected as done: the plan measures none of
    its steps again and warns about each sweep that did not end by its stop rule."""
    plan(capsys, tmp_path, "--run-id=r1", "--modes=sweep", "--stacks=s1", "--methods=GET,POST")
    run_dir = tmp_path / "r1"
    manifest = Manifest.load(run_dir)
    # GET ended by its rule at step 2; POST was interrupted at step 3.
    ends = {"GET": [None, "latency"], "POST": [None, None, "interrupted"]}
    for method, stops in ends.items():
        for number, reason in enumerate(stops, start=1):
            step = Measurement("sweep", "s1", method, step=number)
            block = {"stopped": None if reason is None else {"reason": reason}}
            (run_dir / step.meta).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / step.meta).write_text(json.dumps({"sweep": block}))
            (run_dir / step.csv).write_text("Iteration\n")
            manifest.record(step, status="complete", sha256_csv=sha256_file(run_dir / step.csv),
                            sha256_meta=sha256_file(run_dir / step.meta))  # fmt: skip
    status, out = plan(capsys, tmp_path, "--run-id=r1", "--modes=sweep", "--stacks=s1",
                       "--methods=GET,POST")  # fmt: skip
    assert status == 0 and out["pending"] == 0
    sweeps = [w for w in out["warnings"] if "sweep" in w]
    assert len(sweeps) == 1 and sweeps[0].startswith("s1 sweep POST step 3: was interrupted")
    # A sweep whose later steps were never delivered warns too.
    (run_dir / Measurement("sweep", "s1", "GET", step=2).meta).write_text('{"sweep": {}}')
    _, out = plan(capsys, tmp_path, "--run-id=r1", "--modes=sweep", "--stacks=s1",
                  "--methods=GET,POST")  # fmt: skip
    assert any(w.startswith("s1 sweep GET step 2: its last step recorded is not its last")
               for w in out["warnings"])  # fmt: skip
