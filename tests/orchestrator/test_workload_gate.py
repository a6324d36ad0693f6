"""Before timing: each workload verified on its stack (a failed type is not measured, the rest
goes on, the manifest keeps why), World reseeded at each repetition, and the report-facing
records. The server is a fake that answers the commands the gate sends, as the probe of
branch workloads answers (apps/probe.py --test-types ... --json)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from bench_client.documents import Status
from bench_client.request import BUILTIN, leveled
from bench_client.results_format import Measurement
from orchestrator.manifest import Manifest
from orchestrator.measure import Study, measure_groups
from orchestrator.plan import Cell, Group
from orchestrator.remote.inventory import ClientHost
from orchestrator.workload_gate import (
    WorkloadGate,
    parse_verdicts,
    reseed_command,
    verify_command,
)

REQUESTS = {**BUILTIN, **leveled([64])}


def probe_answer(types: list[str], failing: dict[str, str]) -> tuple[int, str]:
    """What the probe prints: each type ok, or failed at the check ``failing`` names."""
    answer = {}
    for name in types:
        check = failing.get(name)
        results = [{"check": f"GET /{name} as bench_client judges it", "ok": True, "detail": "200"}]
        if check:
            results.append({"check": check, "ok": False, "detail": "expected 200, got 503"})
        answer[name] = {"test_type": name, "ok": not check, "failed": check, "results": results}
    return (1 if any(n in failing for n in types) else 0), json.dumps(answer)


class FakeServer:
    """Answers the gate's commands: the probe per stack (by its URL's port), the reseed."""

    def __init__(self, failing: dict[str, dict[str, str]], ports: dict[int, str]) -> None:
        self.failing = failing
        self.ports = ports
        self.commands: list[str] = []

    def __call__(self, command: str) -> tuple[int, str]:
        self.commands.append(command)
        if "apps.probe" in command:
            words = command.split()
            url = words[words.index("--base-url") + 1]
            types = words[words.index("--test-types") + 1].split(",")
            stack = self.ports[int(url.rsplit(":", 1)[1])]
            return probe_answer(types, self.failing.get(stack, {}))
        if "TRUNCATE world" in command or "SELECT count" in command:
            return 0, "10000|50004321\n"
        return 127, "unknown command"


def manifest(tmp_path: Path) -> Manifest:
    data = {"settings": {"iterations": 10}, "seed": 1, "measurements": []}
    made = Manifest(tmp_path, data)
    made.save()
    return made


def gate(
    tmp_path: Path, failing: dict[str, dict[str, str]], measured: str = ""
) -> tuple[WorkloadGate, FakeServer]:
    """A gate for a run that measures ``measured`` (names, "a,b"; every request if empty)."""
    requests = {n: REQUESTS[n] for n in measured.split(",")} if measured else REQUESTS
    urls = {"flask-gunicorn": "http://127.0.0.1:5001", "fastapi-uvicorn": "http://127.0.0.1:5005"}
    server = FakeServer(failing, {5001: "flask-gunicorn", 5005: "fastapi-uvicorn"})
    return WorkloadGate(manifest(tmp_path), requests, urls, server), server


def group(stack: str, *requests: str, repetition: int = 1, mode: str = "concurrent") -> Group:
    return Group((stack,), tuple(Cell(mode, r, repetition, (stack,)) for r in requests))


def test_the_probes_command_and_its_answer() -> None:
    command = verify_command("/usr/bin/python3", "/opt/httplab/app", "http://127.0.0.1:5001",
                             ["db", "fortunes"])  # fmt: skip
    assert command == (
        "cd /opt/httplab/app && /usr/bin/python3 -m apps.probe --base-url "
        "http://127.0.0.1:5001 --test-types db,fortunes --json"
    )
    verdicts = parse_verdicts(*probe_answer(["db", "fortunes"], {"db": "GET /db -> a World row"}),
                              ["db", "fortunes"])  # fmt: skip
    assert verdicts["fortunes"].ok and not verdicts["db"].ok
    assert verdicts["db"].why == (
        "failed verification of db: GET /db -> a World row: expected 200, got 503"
    )


@pytest.mark.parametrize(
    ("code", "output"),
    [(2, "usage: python -m apps.probe: unrecognized arguments: --test-types"),
     (0, "not json"), (0, json.dumps({"json": {"ok": True}})), (-1, "cannot reach the server")],
)  # fmt: skip
def test_a_probe_that_cannot_verify_fails_every_type_asked(code: int, output: str) -> None:
    verdicts = parse_verdicts(code, output, ["db", "io"])
    assert not verdicts["db"].ok and not verdicts["io"].ok
    assert verdicts["io"].failed == "probe"


def test_a_stack_that_fails_a_type_skips_those_cells_and_only_those(tmp_path) -> None:
    found, server = gate(tmp_path, {"flask-gunicorn": {"db": "GET /db -> a World row"}})
    skipped = found.before_group(group("flask-gunicorn", "json", "db-c64", "db", "fortunes"))
    assert set(skipped) == {("flask-gunicorn", "db-c64"), ("flask-gunicorn", "db")}
    assert "GET /db -> a World row" in skipped[("flask-gunicorn", "db")]
    assert found.before_group(group("fastapi-uvicorn", "db-c64", "db")) == {}
    probes = [c for c in server.commands if "apps.probe" in c]
    assert len(probes) == 2 and "--test-types json,db,fortunes" in probes[0]
    recorded = found.manifest.data["verification"]
    assert recorded["flask-gunicorn"]["db"]["failed"] == "GET /db -> a World row"
    assert recorded["flask-gunicorn"]["json"]["ok"] and recorded["fastapi-uvicorn"]["db"]["ok"]
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["verification"] == recorded


def test_each_type_is_verified_once_per_stack_in_a_run(tmp_path) -> None:
    found, server = gate(tmp_path, {})
    for repetition in (1, 2, 3):
        found.before_group(group("flask-gunicorn", "db", "io", repetition=repetition))
    found.before_group(group("flask-gunicorn", "queries", repetition=3))
    probes = [c for c in server.commands if "apps.probe" in c]
    assert [p.split("--test-types ")[1].split()[0] for p in probes] == ["db,io", "queries"]


def test_world_is_reseeded_at_each_repetition_of_a_run_with_updates(tmp_path) -> None:
    found, server = gate(tmp_path, {})
    for repetition in (1, 1, 2, 3):
        found.before_group(group("fastapi-uvicorn", "updates-c64", repetition=repetition))
    reseeds = [c for c in server.commands if "TRUNCATE world" in c]
    assert len(reseeds) == 3
    assert reseeds[0] == reseed_command("/opt/httplab/app", "/opt/httplab/secrets/postgres.env")
    assert "psql -X -q -1 -v ON_ERROR_STOP=1" in reseeds[0]
    assert "-f /opt/httplab/app/apps/database.sql" in reseeds[0]
    entries = found.manifest.data["database"]["reseeds"]
    assert [(e["repetition"], e["action"], e["world_rows"]) for e in entries] == [
        (1, "reseeded", 10000), (2, "reseeded", 10000), (3, "reseeded", 10000)
    ]  # fmt: skip


def test_without_updates_worlds_state_is_recorded_once_and_never_reseeded(tmp_path) -> None:
    found, server = gate(tmp_path, {}, "db,queries")
    for repetition in (1, 2):
        found.before_group(group("fastapi-uvicorn", "db", "queries", repetition=repetition))
    assert not any("TRUNCATE" in c for c in server.commands)
    (entry,) = found.manifest.data["database"]["reseeds"]
    assert entry["action"] == "recorded" and entry["world_sum"] == 50004321


def test_a_run_without_the_database_touches_no_table(tmp_path) -> None:
    found, server = gate(tmp_path, {}, "json,io,GET")
    found.before_group(group("fastapi-uvicorn", "json", "io", "GET"))
    assert all("apps.probe" in c for c in server.commands)
    assert "database" not in found.manifest.data


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cells_that_failed_verification_are_recorded_not_measured_and_the_rest_go_on(
    tmp_path,
) -> None:
    """measure_groups with the gate: the failed type's cells are recorded not-measured with
    the check; the others are still measured (here attempted: the client is unreachable)."""
    found, _ = gate(tmp_path, {"flask-gunicorn": {"fortunes": "GET /fortunes -> sorted"}})
    known_hosts = tmp_path / "known_hosts"
    client = ClientHost(
        "client", "127.0.0.1", "nobody", _closed_port(), None, known_hosts, "linux", "posix",
        None, "/tmp", "index",
    )  # fmt: skip
    urls = {"flask-gunicorn": "http://x:5001"}
    study = Study(found.manifest, urls, REQUESTS, gate=lambda _, g: found.before_group(g))
    groups = [group("flask-gunicorn", "fortunes", "json", "fortunes-c64")]
    outcomes = measure_groups([client], None, study, groups)
    statuses = {o.cell.request: o.status for o in outcomes}
    assert statuses == {
        "fortunes": Status.NOT_MEASURED, "fortunes-c64": Status.NOT_MEASURED,
        "json": Status.FAILED,  # measured, as far as an unreachable client lets it
    }  # fmt: skip
    entry = found.manifest.entry(Measurement("concurrent", "flask-gunicorn", "fortunes", 1))
    assert entry is not None and entry["status"] == "not-measured"
    assert "GET /fortunes -> sorted" in entry["message"]
    assert not found.manifest.is_collected(
        Measurement("concurrent", "flask-gunicorn", "fortunes", 1)
    )  # a resume verifies and measures it again


def test_a_paired_cell_measures_the_stacks_that_passed(tmp_path) -> None:
    found, _ = gate(tmp_path, {"fastapi-uvicorn": {"db": "GET /db -> a World row"}})
    stacks = ("flask-gunicorn", "fastapi-uvicorn")
    both = Group(stacks, (Cell("constant", "db", 1, stacks),), together=True)
    assert set(found.before_group(both)) == {("fastapi-uvicorn", "db")}


def test_postgres_is_sampled_only_on_the_server_and_for_database_workloads(tmp_path) -> None:
    from types import SimpleNamespace

    from orchestrator.benchmark import database_unit

    facts = {"database": {"unit": "postgresql@15-main.service", "on_server": True}}
    with_db = SimpleNamespace(requests={"db-c64": REQUESTS["db-c64"], "GET": REQUESTS["GET"]})
    without = SimpleNamespace(requests={"json": REQUESTS["json"], "io": REQUESTS["io"]})
    assert database_unit(facts, with_db) == "postgresql@15-main.service"  # type: ignore[arg-type]
    assert database_unit(facts, without) is None  # type: ignore[arg-type]
    elsewhere = {"database": {"unit": "postgresql@15-main.service", "on_server": False}}
    assert database_unit(elsewhere, with_db) is None  # type: ignore[arg-type]
    assert database_unit({"database": None}, with_db) is None  # type: ignore[arg-type]
    assert database_unit(None, with_db) is None  # type: ignore[arg-type]


def test_the_database_facts_reach_the_manifest(tmp_path) -> None:
    from orchestrator.host_facts import finalize

    made = manifest(tmp_path)
    made.data |= {"hosts": {}, "settings": {"stacks": []}}
    facts = {"name": "server", "database": {"engine": "PostgreSQL", "version": "15.18"}}
    finalize(made, facts, {"client": None}, [], None)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["hosts"]["server"]["database"]["version"] == "15.18"
    finalize(made, {"name": "server", "database": None}, {"client": None}, [], None)
    assert made.data["hosts"]["server"]["database"] is None  # no database: tolerated


def test_the_playbook_gives_the_benchmark_the_database_record_only_when_it_runs() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    plays = yaml.safe_load((root / "playbooks/benchmark.yml").read_text())
    tasks = [t for play in plays for t in play.get("tasks", [])]
    (kept,) = [
        t for t in tasks if "httplab_benchmark_server" in t.get("ansible.builtin.set_fact", {})
    ]
    server = kept["ansible.builtin.set_fact"]["httplab_benchmark_server"]
    # The database host's record (roles/httplab_postgres: start.yml), with the database on.
    assert "httplab_postgres_record" in server["facts"]
    assert "if httplab_database_enabled" in server["facts"]
    assert server["app_dir"] == "{{ httplab_app_root }}/app"
    assert server["database_env"] == "{{ httplab_app_root }}/secrets/postgres.env"
