"""The benchmark phase, whole: `httplab benchmark -i INVENTORY`.

Plans the run (or resumes it), deploys bench_client to the client hosts while the server
is made to run the first group's stacks, measures every group (only its stacks running,
each measurement shown as it ends), stops the stacks, and completes the manifest with what
the hosts are. The playbook calls it once; what only Ansible knows (the server's facts, each
stack's record, a sudo password) reaches it as arguments and on stdin.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench_client.documents import Status
from bench_client.results_format import MODES, SWEEP_MODE
from bench_client.settings import SETTINGS, Resolved, SettingError
from orchestrator.host_facts import finalize
from orchestrator.measure import CellOutcome, Study, measure_groups
from orchestrator.plan import Group
from orchestrator.progress import Progress
from orchestrator.remote import ClientHost, RemoteError
from orchestrator.remote.deploy import REPO_DIR
from orchestrator.remote.fanout import deploy_all
from orchestrator.run import Run
from orchestrator.server_noise import ServerWatch
from orchestrator.stack_switch import StackSwitch, on_server, run_only
from orchestrator.workload_gate import APP_DIR, DATABASE_ENV, WorkloadGate, workload_of
from orchestrator.workloads import database_needed

# Where the server reaches its own stacks (the role's httplab_stack_local_address when the
# stacks listen on every address, its default), and how long a stack may take to answer.
HEALTH_ADDRESS = "127.0.0.1"
HEALTH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    """What the playbook knows of the server: its facts, each stack's record, where it
    reaches its stacks and how long they take to start, its tuning, whether to keep the
    stacks running at the end; and the address the clients reach it by."""

    target_address: str
    health_address: str = HEALTH_ADDRESS
    health_timeout_s: float = HEALTH_TIMEOUT_S
    keep_running: bool = False
    facts: Mapping[str, Any] | None = None
    stacks: Sequence[Mapping[str, Any]] = ()
    tuning: Mapping[str, Any] | None = None
    sudo_password: str | None = None
    app_dir: str = APP_DIR  # the deployed apps (the role's httplab_app_root/app)
    database_env: str = DATABASE_ENV  # the stacks' libpq settings (roles/httplab_postgres)


class BenchmarkError(RemoteError):
    """Cells failed; each is recorded with its cause and a resume measures it again."""


def check_hosts(settings: Resolved, clients: int) -> None:
    """What the settings ask that ``clients`` client hosts cannot do: refused before any
    contact."""
    modes = settings["modes"] or MODES
    if clients > 1 and SWEEP_MODE in modes:
        raise SettingError(
            f"the {SWEEP_MODE} mode runs on one client host (each step's rate follows from the "
            f"step before, judged by the one bench_client that measured it), and the inventory "
            f"lists {clients} client hosts: measure the sweep in a run of its own whose inventory "
            "has one host in group clients (the embedded lab: make lab-up LAB_CLIENTS=1), and "
            "leave sweep out of httplab_bench_modes here (e.g. -e "
            "httplab_bench_modes=constant,concurrent)"
        )
    iterations = settings["iterations"]
    if clients > 1 and iterations < clients:
        raise SettingError(
            f"{SETTINGS['iterations'].variable} {iterations} cannot be shared by "
            f"{clients} client hosts"
        )


def benchmark(
    run: Run, clients: Sequence[ClientHost], server_host: ClientHost | None, server: Server
) -> list[CellOutcome]:
    """Measure every pending cell of ``run``; raise BenchmarkError if any failed."""
    check_hosts(run.settings, len(clients))
    progress = Progress(sum(len(g.cells[0].stacks) * len(g.cells) for g in run.groups))
    outcomes: list[CellOutcome] = []
    try:
        progress.say(
            f"run {run.manifest.data['run_id']}: {len(run.pending)} of {len(run.planned)} "
            f"measurements to make{' (resumed)' if run.resumed else ''}, in {run.run_dir}"
        )
        for warning in run.warnings:
            progress.say(f"warning: {warning}")
        if run.pending:
            outcomes = _measure(run, clients, server_host, server, progress)
        unverified = [o for o in outcomes if o.status == Status.NOT_MEASURED]
        if unverified:
            progress.say(
                f"{len(unverified)} measurement(s) not measured: their stack failed the "
                "workload's verification (the report lists them with the failing check)"
            )
        with ServerWatch(server_host) as watch:
            _finish(watch, run, server)
    finally:  # what was measured is described, whatever stopped the run
        progress.close()
        finalize(run.manifest, server.facts, _addresses(clients), server.stacks, server.tuning)
    # A cell whose stack failed its workload's verification is not the run's failure: the
    # progress said it, the report lists it, a resume verifies it again.
    failed = [o for o in outcomes if o.status not in (Status.COMPLETE, Status.NOT_MEASURED)]
    if failed:
        error = BenchmarkError(
            f"{len(failed)} of {len(outcomes)} cell(s) failed and are recorded as failed (or "
            "partial) in the manifest; a resume (-e httplab_run_id="
            f"{run.manifest.data['run_id']}) measures them again: "
            + "; ".join(outcome.summary for outcome in failed)
        )
        causes = [o.error for o in failed if isinstance(o.error, RemoteError)]
        if causes:
            error.exit_code = causes[0].exit_code
        raise error
    return outcomes


def _measure(
    run: Run,
    clients: Sequence[ClientHost],
    server_host: ClientHost | None,
    server: Server,
    progress: Progress,
) -> list[CellOutcome]:
    """bench_client is deployed (in the background) while the first group's stacks start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        deployed = pool.submit(deploy_all, clients, _wheelhouse_for)
        study = Study(
            manifest=run.manifest,
            urls={n: f"http://{server.target_address}:{s.port}" for n, s in run.matrix.items()},
            requests=run.requests,
            switch=lambda group: _switch(run, server, group),
            client_ready=deployed.result,
            sudo_password=server.sudo_password,
            gate=_gate(run, server),
            database_unit=database_unit(server.facts, run),
        )

        def ended(outcome: CellOutcome) -> None:
            progress.ended(len(outcome.cell.stacks), outcome.summary)

        return measure_groups(clients, server_host, study, run.groups, on_cell=ended)


def _gate(run: Run, server: Server) -> Any:
    """The workloads' verification and reseeding before each group (a run without a
    workload has none), over the server connection the group was switched on."""
    if not any(workload_of(request) for request in run.requests.values()):
        return lambda *_: {}
    urls = {n: f"http://{server.health_address}:{s.port}" for n, s in run.matrix.items()}
    gate = WorkloadGate(
        run.manifest,
        run.requests,
        urls,
        lambda _: (-1, "no server connection"),
        app_dir=server.app_dir,
        database_env=server.database_env,
    )

    def before(watch: ServerWatch, group: Group) -> Any:
        gate.run = partial(on_server, watch, server.sudo_password)
        gate.python = watch.python() if watch.host is not None else gate.python
        return gate.before_group(group)

    return before


def database_unit(facts: Mapping[str, Any] | None, run: Run) -> str | None:
    """PostgreSQL's unit when the run measures a database workload and the database runs on
    the server (its facts say so: roles/httplab_postgres's postgres.json); on a host of its
    own it is not sampled (the sampler reads the server)."""
    database = (facts or {}).get("database")
    if not isinstance(database, Mapping) or not database_needed(run.requests.values()):
        return None
    on_server = database.get("on_server") in (True, "true", "True")
    unit = database.get("unit")
    return str(unit) if on_server and isinstance(unit, str) and unit.endswith(".service") else None


def _wheelhouse_for(host: ClientHost) -> Any:
    return REPO_DIR / "wheelhouse" if host.install_source == "wheelhouse" else None


def _switch(run: Run, server: Server, group: Group) -> StackSwitch:
    """Only the group's stacks run: every other stack of the matrix stops."""
    return StackSwitch(
        stop=tuple(name for name in run.matrix if name not in group.running),
        start=group.running,
        health_urls=tuple(
            f"http://{server.health_address}:{run.matrix[name].port}{run.matrix[name].health}"
            for name in group.running
        ),
        timeout_s=server.health_timeout_s,
    )


def _finish(watch: ServerWatch, run: Run, server: Server) -> None:
    """After the study every stack stops, so no benchmark target (the Werkzeug development
    server among them) stays exposed; or, with httplab_stack_keep_running, all run again."""
    names = tuple(run.matrix)
    if server.keep_running:
        everything = Group(names, ())
        run_only(watch, _switch(run, server, everything), server.sudo_password)
    else:
        run_only(watch, StackSwitch(stop=names, start=(), health_urls=()), server.sudo_password)


def _addresses(clients: Sequence[ClientHost]) -> dict[str, str | None]:
    return {host.name: host.address for host in clients}
