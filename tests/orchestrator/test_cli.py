"""`httplab plan`, `httplab checksums` and the manifest a run writes: offline, no host."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bench_client.documents import Status
from bench_client.results_format import MANIFEST_SCHEMA, META_SCHEMA, Measurement, sha256_file
from httplab.cli import main
from orchestrator.host_facts import finalize
from orchestrator.manifest import Manifest

MATRIX = [
    {"name": "s1", "app": "flask", "server": "gunicorn", "port": 5001},
    {"name": "s2", "app": "fastapi", "server": "uvicorn", "port": 5002},
]


def plan(capsys, results: Path, *settings: str) -> tuple[int, dict | str]:
    """`httplab plan --json` on a two-stack matrix, small: constant mode, 10 requests, once."""
    small = {"httplab_stacks": MATRIX, "httplab_bench_modes": ["constant"],
             "httplab_bench_iterations": 10, "httplab_bench_repetitions": 1}  # fmt: skip
    extra = [arg for setting in settings for arg in ("-e", setting)]
    status = main(["plan", "--json", f"--results={results}", "-e", json.dumps(small), *extra])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else err)


def fake_collect(run_dir: Path, m: Measurement) -> None:
    """Put a measurement's files in place and record them, as the benchmark does."""
    for rel, text in ((m.csv, "Iteration\n"), (m.meta, "{}")):
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_text(text)
    manifest = Manifest.load(run_dir)
    manifest.record(
        m, status=Status.COMPLETE,
        sha256_csv=hashlib.sha256(b"Iteration\n").hexdigest(),
        sha256_meta=hashlib.sha256(b"{}").hexdigest(),
    )  # fmt: skip


def test_plan_works_with_the_defaults_alone(capsys, tmp_path: Path) -> None:
    assert main(["plan", f"--results={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "120 of 120 measurements to make" in out  # six stacks, two modes, two requests, 5 passes


def test_plan_creates_the_run_with_manifest_and_latest_link(capsys, tmp_path: Path) -> None:
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_seed=5")
    assert status == 0
    assert out["run_id"] == "r1" and out["seed"] == 5 and out["resumed"] is False
    assert out["planned"] == out["pending"] == 4
    assert [g["running"] for g in out["groups"]] in ([["s1"], ["s2"]], [["s2"], ["s1"]])
    manifest = json.loads((tmp_path / "r1/manifest.json").read_text())
    assert manifest["schema"] == MANIFEST_SCHEMA and manifest["seed"] == 5
    assert manifest["settings"]["iterations"] == 10
    assert manifest["settings"]["stacks"] == ["s1", "s2"]  # [] made explicit
    assert manifest["setting_sources"]["iterations"] == "-e (extra vars)"
    assert manifest["setting_sources"]["timeout"] == "inventory/group_vars/all/benchmark.yml"
    assert manifest["requests"]["POST"]["body"] == '{"key": "value"}'
    assert (tmp_path / "latest").resolve() == (tmp_path / "r1").resolve()


def test_resume_skips_what_is_collected_and_verified(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_seed=5")
    fake_collect(tmp_path / "r1", Measurement("constant", "s1", "GET"))
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1")
    assert status == 0 and out["resumed"] is True and out["seed"] == 5
    assert out["pending"] == 3
    assert ["constant", "GET", 1] not in [
        c for g in out["groups"] if g["running"] == ["s1"] for c in g["cells"]
    ]


def test_resume_measures_again_a_file_that_no_longer_matches_its_checksum(
    capsys, tmp_path: Path
) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_seed=5")
    m = Measurement("constant", "s1", "GET")
    fake_collect(tmp_path / "r1", m)
    (tmp_path / "r1" / m.csv).write_text("tampered\n")
    assert plan(capsys, tmp_path, "httplab_run_id=r1")[1]["pending"] == 4
    assert main(["checksums", str(tmp_path / "r1")]) == 5
    assert "constant/s1/GET.csv: sha256 differs" in capsys.readouterr().err


def test_a_resume_keeps_the_recorded_settings_and_refuses_other_ones_given(
    capsys, tmp_path
) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_seed=5")
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_iterations=99")
    assert status == 2
    assert "httplab_bench_iterations: recorded 10, asked 99" in out
    # Settings not given again are the run's own: a resume needs no repeated -e.
    assert main(["plan", "--json", f"--results={tmp_path}", "-e", "httplab_run_id=r1",
                 "-e", json.dumps({"httplab_stacks": MATRIX})]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["planned"] == 4


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("httplab_bench_stacks=s1,zzzz", "unknown 'zzzz'; choose from s1, s2"),
        ("httplab_bench_stacks=s1,s3", "unknown 's3' (did you mean 's"),
        ("httplab_run_id=../escape", "run id '../escape'"),
        ("httplab_bench_modes=rate", "the rate mode needs httplab_bench_rate"),
        ("httplab_bench_requests=GET,PUT", "unknown 'PUT'"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(capsys, tmp_path: Path, setting, message) -> None:
    status, err = plan(capsys, tmp_path, setting)
    assert status == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "escape").exists()


def test_a_declared_request_is_planned_and_recorded(capsys, tmp_path: Path) -> None:
    declared = [{"name": "orders", "method": "POST", "path": "/orders", "body": {"id": 1},
                 "expect": {"status": 201}}]  # fmt: skip
    status, out = plan(capsys, tmp_path, json.dumps({"httplab_requests": declared}),
                       "httplab_bench_requests=orders", "httplab_run_id=r1")  # fmt: skip
    assert status == 0 and out["planned"] == 2
    manifest = json.loads((tmp_path / "r1/manifest.json").read_text())
    assert manifest["requests"]["orders"]["body"] == '{"id": 1}'
    assert {e for g in out["groups"] for e in (c[1] for c in g["cells"])} == {"orders"}


def test_a_corrupt_manifest_is_reported_not_overwritten(capsys, tmp_path: Path) -> None:
    (tmp_path / "r1").mkdir()
    (tmp_path / "r1/manifest.json").write_text("{not json")
    status, err = plan(capsys, tmp_path, "httplab_run_id=r1")
    assert status == 1 and "not valid JSON" in err
    assert (tmp_path / "r1/manifest.json").read_text() == "{not json"


def test_a_manifest_of_an_unknown_schema_is_refused_naming_the_file(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1")
    path = tmp_path / "r1/manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema": 99}))
    status, err = plan(capsys, tmp_path, "httplab_run_id=r1")
    assert status == 1 and f"{path}: manifest schema 99" in err and "update this one" in err


def test_a_manifest_of_schema_3_still_resumes(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_seed=5")
    fake_collect(tmp_path / "r1", Measurement("constant", "s1", "POST"))
    path = tmp_path / "r1/manifest.json"
    new = json.loads(path.read_text())
    settings = new.pop("settings")
    old = {**new, "schema": 3,
           "selection": {"stacks": settings["stacks"], "modes": settings["modes"],
                         "methods": settings["requests"], "repetitions": 1},
           "client_settings": {"iterations": 10, "warmup": 50}}  # fmt: skip
    for entry in old["measurements"]:
        entry["method"] = entry.pop("request")
    path.write_text(json.dumps(old))
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1")
    assert status == 0 and out["resumed"] and out["pending"] == 3


def test_finalize_adds_hosts_stacks_and_client_facts(capsys, tmp_path: Path) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_stacks=s1")
    run_dir = tmp_path / "r1"
    m = Measurement("constant", "s1", "GET")
    fake_collect(run_dir, m)
    client = {"os": "Windows 11", "release": "10.0.26100", "cpu_affinity": [1]}
    server_noise = {"cpus": [0], "cpu_count": 2, "stack_cpus": [0], "governor": None}
    noise = {"busy": False, "client": {}, "server": {**server_noise, "others_cpu_cores": 0.01}}
    write_meta(run_dir / m.meta, client=client, host_noise=noise)
    manifest = Manifest.load(run_dir)
    finalize(manifest, {"cpu_count": 2}, {"win": "192.0.2.20"}, [{"name": "s1"}, {"name": "s9"}],
             None)  # fmt: skip
    saved = json.loads((run_dir / "manifest.json").read_text())
    described = {**client, "name": "win", "address": "192.0.2.20", "kernel": "10.0.26100"}
    assert saved["hosts"] == {
        "server": {"cpu_count": 2, **server_noise},
        "clients": {"win": described},
        "client": described,
    }
    assert saved["stacks"] == [{"name": "s1"}]
    assert saved["finished"]


def write_meta(path: Path, **fields: object) -> None:
    """A meta file with the fields a reader checks, and ``fields`` over them."""
    document = {
        "schema": META_SCHEMA, "config": {"mode": "constant", "concurrency": 1,
        "request": {"name": "GET", "method": "GET"}}, "requests": 1, "successes": 1,
        "failures": 0, "started": "2026-12-07T10:00:00+00:00",
        "finished": "2026-12-07T10:00:01+00:00", "duration_s": 1.0, "interrupted": False,
        "client_limits": {"client_bottleneck": False, "reasons": []}, **fields,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def test_finalize_records_every_client_hosts_facts_from_its_own_meta_files(
    capsys, tmp_path: Path
) -> None:
    plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_stacks=s1",
         "httplab_bench_repetitions=2")  # fmt: skip
    run_dir = tmp_path / "r1"
    manifest = Manifest.load(run_dir)
    first, second = Measurement("constant", "s1", "GET"), Measurement("constant", "s1", "GET", 2)
    # c2 was lost in the first cell and delivered the second; c3 never delivered.
    delivered = {first: ["c1"], second: ["c1", "c2"]}
    for cell, names in delivered.items():
        hosts: dict[str, dict] = {"c3": {"status": "lost"}}
        for name in names:
            share = cell.on_host(name)
            facts = {"name": f"{name}-{cell.repetition}", "cpu_model": f"cpu of {name}"}
            write_meta(run_dir / share.meta, client=facts)
            hosts[name] = {"status": "complete", "meta": share.meta}
        hosts.setdefault("c2", {"status": "lost"})
        manifest.record(cell, status=Status.PARTIAL, hosts=hosts, start=None)
    finalize(manifest, {}, {"c1": "192.0.2.1", "c2": "192.0.2.2", "c3": None}, [], None)
    hosts = json.loads((run_dir / "manifest.json").read_text())["hosts"]
    assert list(hosts["clients"]) == ["c1", "c2", "c3"]  # the inventory's order
    # The first meta file each host delivered speaks for it.
    assert hosts["clients"]["c1"] == {"name": "c1-1", "cpu_model": "cpu of c1",
                                      "address": "192.0.2.1"}  # fmt: skip
    assert hosts["clients"]["c2"] == {"name": "c2-2", "cpu_model": "cpu of c2",
                                      "address": "192.0.2.2"}  # fmt: skip
    assert hosts["clients"]["c3"] == {"name": "c3", "address": "c3"}
    assert hosts["client"] == hosts["clients"]["c1"]


def test_paired_design_measures_each_sequential_cell_of_all_stacks_together(
    capsys, tmp_path: Path
) -> None:
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_design=paired",
                       "httplab_bench_block=10", "httplab_bench_modes=constant,concurrent",
                       "httplab_bench_repetitions=2")  # fmt: skip
    assert status == 0
    manifest = json.loads((tmp_path / "r1/manifest.json").read_text())
    assert manifest["settings"]["design"] == "paired" and manifest["settings"]["block"] == 10
    together = [g for g in out["groups"] if len(g["running"]) == 2]
    alone = [g for g in out["groups"] if len(g["running"]) == 1]
    # constant × GET/POST × 2 repetitions, each one cell of both stacks.
    assert len(together) == 4
    for group in together:
        assert group["running"] == ["s1", "s2"] and len(group["cells"]) == 1
        assert group["cells"][0][0] == "constant"
    assert {c[0] for g in alone for c in g["cells"]} == {"concurrent"}
    assert sum(len(g["cells"]) for g in alone) == 2 * 2 * 2


def test_plan_warns_about_client_ports_and_the_manifest_keeps_each_reading(capsys, tmp_path):
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_iterations=20000")
    assert status == 0 and any("Windows client" in w for w in out["warnings"])
    manifest = Manifest.load(tmp_path / "r1")
    budget = {"port_range": [32768, 60999], "time_wait": 12, "time_wait_s": 60}
    entry = manifest.record(Measurement("constant", "s1", "GET"), status=Status.FAILED,
                            client_ports=budget)  # fmt: skip
    assert Manifest.load(tmp_path / "r1").data["measurements"] == [entry]
    assert entry["client_ports"] == budget


def test_a_sweep_is_planned_as_one_cell_per_stack_and_request_with_its_rule(
    capsys, tmp_path: Path
) -> None:
    """Each sweep is planned by its step 1; the steps it reaches are recorded when measured."""
    status, out = plan(capsys, tmp_path, "httplab_run_id=r1", "httplab_bench_modes=sweep",
                       "httplab_bench_sweep_steps=4")  # fmt: skip
    assert status == 0 and out["planned"] == 4
    assert {c[0] for g in out["groups"] for c in g["cells"]} == {"sweep"}
    settings = json.loads((tmp_path / "r1/manifest.json").read_text())["settings"]
    assert settings["sweep_steps"] == 4


def test_a_resumed_run_says_which_sweeps_stopped_midway(capsys, tmp_path: Path) -> None:
    """Resuming counts a sweep whose step 1 is collected as done: the plan measures none of
    its steps again and warns about each sweep that did not end by its stop rule."""
    sweep = ("httplab_run_id=r1", "httplab_bench_modes=sweep", "httplab_bench_stacks=s1")
    plan(capsys, tmp_path, *sweep)
    run_dir = tmp_path / "r1"
    manifest = Manifest.load(run_dir)
    # GET ended by its rule at step 2; POST was interrupted at step 3.
    ends = {"GET": [None, "latency"], "POST": [None, None, "interrupted"]}
    for request, stops in ends.items():
        for number, reason in enumerate(stops, start=1):
            step = Measurement("sweep", "s1", request, step=number)
            block = {"schema": 1, "step": number, "offered_rps": 50.0, "verdict": "within",
                     "why": "", "stopped": None if reason is None else
                     {"reason": reason, "detail": ""}}  # fmt: skip
            write_meta(run_dir / step.meta, sweep=block)
            (run_dir / step.csv).write_text("Iteration\n")
            manifest.record(step, status=Status.COMPLETE,
                            sha256_csv=sha256_file(run_dir / step.csv),
                            sha256_meta=sha256_file(run_dir / step.meta))  # fmt: skip
    status, out = plan(capsys, tmp_path, *sweep)
    assert status == 0 and out["pending"] == 0
    sweeps = [w for w in out["warnings"] if "sweep" in w]
    assert len(sweeps) == 1 and sweeps[0].startswith("s1 sweep POST step 3: was interrupted")
    # A sweep whose later steps were never delivered warns too.
    write_meta(run_dir / Measurement("sweep", "s1", "GET", step=2).meta)
    _, out = plan(capsys, tmp_path, *sweep)
    assert any(w.startswith("s1 sweep GET step 2: its last step recorded is not its last")
               for w in out["warnings"])  # fmt: skip
