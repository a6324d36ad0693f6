"""The database workloads' PostgreSQL (roles/httplab_postgres) on the embedded lab's server
(real systemd): a default provision installs and starts none of it; with
httplab_database_enabled it converges and a second run changes nothing; the tables are seeded
as the workloads need; it listens on loopback alone; the password is made on the server, kept,
root's alone and never shown; a stack's unit, in its sandbox and as its user, logs in with
its env file; systemd brings PostgreSQL back after a crash; the role repairs a wrong password
and missing rows; benchmark.yml starts it, records it in the manifest and stops it at the
end, also when the benchmark fails; the client never runs it; the role's `finish` keeps it
running with the stacks, or stops it.

The tests share one lab and run in file order: the default provision first (before anything
enabled the database), then the converge with it and the rest."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.roles.test_server_roles import Run, finish, run_playbook

pytestmark = pytest.mark.roles

ENABLED = {"httplab_database_enabled": True}
# Debian 12's PostgreSQL, in the cluster the role makes.
UNIT = "postgresql@15-main.service"
ENV_FILE = "/opt/httplab/secrets/postgres.env"
FACTS_FILE = "/opt/httplab/postgres.json"
PASSWORD_FILE = "/var/lib/httplab-postgres/password"
LIBPQ = {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE"}
# The unit file's lines that say how to run the service, not the sandbox it runs in.
NOT_SANDBOX = ("ExecStart", "ExecStartPre", "Type", "Restart", "RestartSec", "KillSignal")
# psycopg (in every stack's venv) logs in from libpq's variables alone.
CONNECT = (
    "import os, psycopg\n"
    "with psycopg.connect() as connection:\n"
    "    rows = connection.execute('SELECT count(*) FROM world').fetchone()[0]\n"
    "print(rows, os.environ['HTTPLAB_DB_POOL_SIZE'], os.getuid())"
)


def sql(lab: Any, query: str, database: str = "httplab") -> str:
    """A query as the cluster's superuser on the server; its rows, unaligned."""
    argv = ["sudo", "-n", "runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t"]
    return lab.server.run(*argv, "-d", database, "-c", query).stdout.strip()


def root(lab: Any, *argv: str, check: bool = True) -> str:
    return lab.server.run("sudo", "-n", *argv, check=check).stdout


def output(workdir: Path) -> str:
    """Everything of that run ansible-runner kept: what ansible-playbook printed, and every
    task's whole result (its events), whatever the verbosity."""
    paths = [*workdir.glob("artifacts/*/stdout"), *workdir.glob("artifacts/*/job_events/*.json")]
    return "".join(path.read_text() for path in paths)


def events(workdir: Path) -> list[dict[str, Any]]:
    paths = workdir.glob("artifacts/*/job_events/*.json")
    return [json.loads(path.read_text()) for path in paths]


def listeners(lab: Any) -> list[str]:
    """The local addresses of the sockets listening on PostgreSQL's port."""
    lines = root(lab, "ss", "--listening", "--tcp", "--numeric", "--no-header").splitlines()
    return [
        line.split()[3].rpartition(":")[0] for line in lines if line.split()[3].endswith(":5432")
    ]


def unit_state(lab: Any) -> list[str]:
    argv = ["systemctl", "show", "--property=MainPID,ActiveState", "--value", UNIT]
    return lab.server.run(*argv).stdout.split()


def starts(lab: Any) -> int:
    """How many times systemd has started PostgreSQL since the server booted (its journal: a
    stopped unit's own timestamps go when systemd unloads it)."""
    journal = root(lab, "journalctl", "--no-pager", "--output=cat", "--unit", UNIT)
    return sum(line.startswith("Started ") for line in journal.splitlines())


@pytest.fixture(scope="module")
def default_provision(embedded_lab, venv_bin, tmp_path_factory) -> tuple[Run, Path]:
    """provision.yml as a default run has it: the database off."""
    workdir = tmp_path_factory.mktemp("default")
    run = run_playbook(embedded_lab, venv_bin, workdir, "provision.yml")
    print(f"\nprovision without the database: {run.seconds:.1f} s")
    return run, workdir


def test_a_default_provision_installs_and_starts_no_database(embedded_lab, default_provision):
    run, workdir = default_provision
    assert run.status == "successful", run.failure_messages
    ran = [e for e in events(workdir) if e.get("event_data", {}).get("role") == "httplab_postgres"]
    assert ran == [], "the role ran although the database is off"
    skipped = {
        e["event_data"]["task"] for e in events(workdir) if e.get("event") == "runner_on_skipped"
    }
    assert {"Provision PostgreSQL, its database and tables"} <= skipped
    assert {"Write the env file the stacks' units read"} <= skipped
    lab = embedded_lab
    assert root(lab, "pg_lsclusters", "--no-header").strip() == "", "a cluster exists"
    assert unit_state(lab)[1] != "active"
    assert listeners(lab) == []
    # The image's own state, which only the role changes: masked.
    assert (
        lab.server.run("systemctl", "is-enabled", "postgresql.service", check=False).stdout.strip()
        == "masked"
    )
    for path in (ENV_FILE, FACTS_FILE, PASSWORD_FILE):
        assert lab.server.run("sudo", "-n", "test", "-e", path, check=False).returncode == 1, path
    unit = lab.server.run("cat", "/etc/systemd/system/httplab-flask-gunicorn.service").stdout
    assert "postgres.env" not in unit and "HTTPLAB_DB_POOL_SIZE" not in unit


@pytest.fixture(scope="module")
def converged(embedded_lab, venv_bin, default_provision, tmp_path_factory) -> dict[str, Any]:
    """provision.yml with the database, twice: the converge, then the re-run that must
    change nothing; the password as each left it."""
    runs, workdirs, passwords = [], [], []
    for name in ("converge", "rerun"):
        workdir = tmp_path_factory.mktemp(name)
        runs.append(run_playbook(embedded_lab, venv_bin, workdir, "provision.yml", ENABLED))
        workdirs.append(workdir)
        passwords.append(root(embedded_lab, "cat", PASSWORD_FILE, check=False).strip())
    first, second = runs
    print(f"\nwith the database: converge {first.seconds:.1f} s, re-run {second.seconds:.1f} s")
    return {"runs": runs, "workdirs": workdirs, "passwords": passwords}


def test_provision_with_the_database_converges(converged):
    first, _ = converged["runs"]
    assert first.status == "successful", first.failure_messages
    assert first.changed() > 0


def test_a_second_provision_changes_nothing(converged):
    _, second = converged["runs"]
    assert second.status == "successful", second.failure_messages
    assert second.changed() == 0, second.stats


def test_the_tables_hold_what_the_workloads_need(embedded_lab, converged):
    world = sql(embedded_lab, "SELECT count(*), min(id), max(id), count(DISTINCT id) FROM world")
    assert world == "10000|1|10000|10000"
    numbers = sql(embedded_lab, "SELECT min(randomnumber), max(randomnumber) FROM world")
    low, high = map(int, numbers.split("|"))
    assert 1 <= low <= high <= 10000
    assert sql(embedded_lab, "SELECT count(*) FROM fortune") == "12"
    script = '<script>alert("This should not be displayed in a browser alert box.");</script>'
    assert sql(embedded_lab, "SELECT message FROM fortune WHERE id = 11") == script
    # UTF-8 end to end: the seed's Japanese fortune arrives as written.
    assert (
        sql(embedded_lab, "SELECT message FROM fortune WHERE id = 12")
        == "フレームワークのベンチマーク"
    )
    assert (
        sql(embedded_lab, "SELECT tableowner FROM pg_tables WHERE tablename = 'world'") == "httplab"
    )
    facts = json.loads(root(embedded_lab, "cat", FACTS_FILE))
    assert facts["tables"] == {"world": 10000, "fortune": 12}
    assert facts["version"].startswith("15.")
    assert facts["settings"]["synchronous_commit"] == "off"
    assert facts["settings"]["max_connections"] == "300"


def test_it_listens_on_loopback_alone(embedded_lab, converged):
    assert sorted(listeners(embedded_lab)) == ["127.0.0.1", "[::1]"]
    facts = json.loads(root(embedded_lab, "cat", FACTS_FILE))
    assert facts["settings"]["listen_addresses"] == "localhost"
    assert facts["accepts_from"] == ["127.0.0.1/32", "::1/128"]
    connect = f"import socket; socket.create_connection(('{embedded_lab.server.address}', 5432), 5)"
    run = embedded_lab.client.run("python3", "-c", connect, check=False)
    assert run.returncode == 1 and "ConnectionRefusedError" in run.stderr, run.stderr


def test_the_password_is_made_on_the_server_and_never_shown(embedded_lab, converged):
    lab = embedded_lab
    password = converged["passwords"][0]
    assert len(password) >= 40, "no password was made"
    assert converged["passwords"][1] == password, "the second run made another password"
    for path in (PASSWORD_FILE, ENV_FILE):
        assert root(lab, "stat", "--format=%U:%G %a", path).strip() == "root:root 600", path
    env = dict(line.split("=", 1) for line in root(lab, "cat", ENV_FILE).splitlines())
    assert set(env) == LIBPQ
    assert env["PGPASSWORD"] == password
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGUSER"]) == (
        "127.0.0.1",
        "5432",
        "httplab",
        "httplab",
    )
    shown = [output(workdir) for workdir in converged["workdirs"]]
    # Every task's whole result is searched: the state the role read is there, not the password.
    assert all('\\"shared_buffers\\" : \\"128MB\\"' in text for text in shown)
    shown.append(root(lab, "cat", FACTS_FILE))
    shown += [root(lab, "sh", "-c", "cat /opt/httplab/*/stack.json /etc/systemd/system/httplab-*")]
    shown.append(root(lab, "journalctl", "--no-pager", "--unit", UNIT))
    shown.append(root(lab, "cat", "/var/log/postgresql/postgresql-15-main.log"))
    assert all(password not in text for text in shown), "the password was shown"


@pytest.mark.parametrize("name", ["flask-gunicorn", "fastapi-uvicorn"])
def test_a_stack_logs_in_from_its_unit(embedded_lab, converged, name):
    """In the stack unit's own sandbox (its [Service] settings, as a transient unit), as its
    user, with its venv's psycopg: the env file alone says where and how to log in."""
    lab = embedded_lab
    unit = lab.server.run("cat", f"/etc/systemd/system/httplab-{name}.service").stdout
    service = unit.split("[Service]", 1)[1].split("[Install]", 1)[0]
    properties = [
        # systemd-run's parser takes addresses where a unit file also takes `localhost`.
        line.replace("=localhost", "=127.0.0.0/8 ::1/128")
        for line in service.splitlines()
        if "=" in line and not line.startswith("#") and line.split("=")[0] not in NOT_SANDBOX
    ]
    assert f"EnvironmentFile={ENV_FILE}" in properties
    venv = re.search(r"^ExecStart=(/opt/httplab/venvs/[0-9a-f]+)/", unit, re.MULTILINE)
    assert venv, unit
    run = lab.server.run(
        "sudo", "-n", "systemd-run", "--wait", "--pipe", "--quiet", "--collect",
        *(f"--property={line}" for line in properties),
        f"{venv[1]}/bin/python", "-c", CONNECT,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows, pool, uid = run.stdout.split()
    stack = json.loads(lab.server.run("cat", f"/opt/httplab/{name}/stack.json").stdout)
    assert rows == "10000"
    assert int(pool) == stack["db_pool_size"]
    assert uid == lab.server.run("id", "-u", "httplab-svc").stdout.strip()
    # The running stack itself has them too.
    main_pid = lab.server.run(
        "systemctl", "show", "--property=MainPID", "--value", f"httplab-{name}.service"
    ).stdout.strip()
    environ = root(lab, "cat", f"/proc/{main_pid}/environ").split("\0")
    assert {entry.split("=")[0] for entry in environ} >= LIBPQ | {"HTTPLAB_DB_POOL_SIZE"}


def test_the_pool_sizes_follow_the_rule(embedded_lab, converged):
    """One connection for a sync worker; an equal share of 256 for an event loop."""
    for name, pool in (("flask-gunicorn", 1), ("django-gunicorn", 1)):
        assert (
            json.loads(root(embedded_lab, "cat", f"/opt/httplab/{name}/stack.json"))["db_pool_size"]
            == pool
        )
    for name in ("fastapi-uvicorn", "flask-gunicorn-gevent", "django-daphne"):
        stack = json.loads(root(embedded_lab, "cat", f"/opt/httplab/{name}/stack.json"))
        assert stack["db_pool_size"] == max(1, 256 // stack["workers"]), name


def test_systemd_brings_postgres_back_after_a_crash(embedded_lab, converged):
    lab = embedded_lab
    pid, state = unit_state(lab)
    assert state == "active" and pid != "0"
    root(lab, "kill", "-9", pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new_pid, state = unit_state(lab)
        ready = lab.server.run("pg_isready", "--quiet", "--host=127.0.0.1", check=False)
        if new_pid not in ("0", pid) and state == "active" and ready.returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{UNIT} did not come back: {unit_state(lab)}")
    assert sql(lab, "SELECT count(*) FROM world") == "10000"


def test_a_wrong_password_and_missing_rows_are_repaired(
    embedded_lab, venv_bin, converged, tmp_path
):
    """What the role judges by (the user's verifier, the rows) can be wrong: it says so by a
    change, and puts it right; then it changes nothing again."""
    lab = embedded_lab
    sql(lab, "ALTER ROLE httplab PASSWORD 'not-the-one-in-the-file'", database="postgres")
    sql(lab, "DELETE FROM world WHERE id <= 100")
    login = "set -a; . /opt/httplab/secrets/postgres.env; psql -X -A -t -c 'SELECT 1'"
    assert lab.server.run("sudo", "-n", "sh", "-c", login, check=False).returncode != 0
    repair = run_playbook(lab, venv_bin, tmp_path / "repair", "database.yml", ENABLED)
    assert repair.status == "successful", repair.failure_messages
    assert repair.changed() >= 2, repair.stats
    assert "password set" in output(tmp_path / "repair")
    assert root(lab, "sh", "-c", login).strip() == "1"
    assert sql(lab, "SELECT count(*), min(id) FROM world") == "10000|1"
    again = run_playbook(lab, venv_bin, tmp_path / "again", "database.yml", ENABLED)
    assert again.status == "successful", again.failure_messages
    assert again.changed() == 0, again.stats


# A benchmark as small as one can be: one stack, one cell, 20 requests.
TINY_RUN = {
    **ENABLED,
    "httplab_bench_stacks": ["flask-gunicorn"],
    "httplab_bench_modes": ["constant"],
    "httplab_bench_repetitions": 1,
    "httplab_bench_iterations": 20,
    "httplab_bench_warmup": 5,
}


def test_a_benchmark_records_the_database_and_stops_it_at_the_end(
    embedded_lab, venv_bin, converged, tmp_path
):
    """benchmark.yml with the database: it starts it (an earlier study's end stopped it), the
    manifest has its version and settings (never the password), and its last plays stop it
    with the stacks."""
    root(embedded_lab, "systemctl", "stop", UNIT)
    started = starts(embedded_lab)
    results = tmp_path / "results"
    extravars = {**TINY_RUN, "httplab_results_dir": str(results), "httplab_run_id": "db"}
    run = run_playbook(embedded_lab, venv_bin, tmp_path / "runner", "benchmark.yml", extravars)
    assert run.status == "successful", run.failure_messages
    print(f"\nbenchmark.yml, one cell of 20 requests, with the database: {run.seconds:.1f} s")
    manifest = json.loads((results / "db" / "manifest.json").read_text())
    database = manifest["hosts"]["server"]["database"]
    assert database["version"].startswith("15.") and database["port"] == 5432
    assert database["settings"]["synchronous_commit"] == "off"
    assert database["tables"] == {"world": 10000, "fortune": 12}
    password = root(embedded_lab, "cat", PASSWORD_FILE).strip()
    written = [path.read_bytes() for path in results.rglob("*") if path.is_file()]
    assert written and all(password.encode() not in data for data in written)
    assert starts(embedded_lab) == started + 1, "benchmark.yml did not start it"
    assert unit_state(embedded_lab)[1] == "inactive"
    assert listeners(embedded_lab) == []


def test_a_failed_benchmark_stops_the_database_too_and_fails(
    embedded_lab, venv_bin, converged, tmp_path
):
    """A cell that fails (every reply judged wrong) fails the benchmark: the database is
    stopped all the same, then the playbook fails saying so."""
    assert unit_state(embedded_lab)[1] == "inactive"
    started = starts(embedded_lab)
    wrong = {"name": "wrong", "method": "GET", "path": "/get", "expect": {"json": {"no": "such"}}}
    extravars = {
        **TINY_RUN,
        "httplab_requests": [wrong],
        "httplab_bench_requests": ["wrong"],
        "httplab_results_dir": str(tmp_path / "results"),
        "httplab_run_id": "fails",
    }
    run = run_playbook(embedded_lab, venv_bin, tmp_path / "runner", "benchmark.yml", extravars)
    assert run.status == "failed"
    assert any("httplab benchmark failed" in message for message in run.failure_messages), (
        run.failure_messages
    )
    assert starts(embedded_lab) == started + 1, "benchmark.yml did not start it"
    assert unit_state(embedded_lab)[1] == "inactive"


def test_the_client_never_runs_postgres(embedded_lab, converged):
    client = embedded_lab.client
    assert (
        client.run("systemctl", "is-enabled", "postgresql.service", check=False).stdout.strip()
        == "masked"
    )
    assert client.run("pg_lsclusters", "--no-header").stdout.strip() == ""
    assert client.run("pgrep", "--exact", "postgres", check=False).returncode == 1


def test_postgres_stops_after_the_study_unless_the_stacks_are_kept(
    embedded_lab, venv_bin, converged, tmp_path
):
    """The role's `finish` entry point, which benchmark.yml's last plays run."""
    for keep, state in ((True, "active"), (False, "inactive")):
        extravars = {**ENABLED, "httplab_stack_keep_running": keep}
        finish(embedded_lab, venv_bin, tmp_path / state, "httplab_postgres", extravars)
        assert unit_state(embedded_lab)[1] == state
    assert listeners(embedded_lab) == []
