"""Measure the plan's groups from the client hosts and record each cell in the manifest.

One SSH session to the client, with bench_client's guard on it
(orchestrator/remote/guard.py), and one to the server serve every group, so connecting and
starting Python are paid once per run, not once per cell or group. Each cell is still its
own bench_client run with its own CSV and meta file, fetched with its sha256, checked
(bench_client.documents) and recorded on its own: a resume skips exactly the collected
cells, a failed cell is recorded as failed with its cause and the next one is measured, a
document the client got wrong is refused for its cell alone, and an interruption (Ctrl-C)
keeps what the interrupted cell measured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from bench_client.documents import DocumentError, Status, read_meta
from bench_client.request import Request
from bench_client.results_format import Measurement
from orchestrator.manifest import Manifest
from orchestrator.measure_hosts import run_on_hosts
from orchestrator.plan import Cell, Group
from orchestrator.remote import (
    ClientHost,
    Fetched,
    MeasurementInterrupted,
    MeasurementSpec,
    RemoteError,
    RemoteSession,
    open_session,
)
from orchestrator.remote.guard import RemoteGuard
from orchestrator.remote.measure import measure_together
from orchestrator.server_noise import ServerWatch, add_to_meta
from orchestrator.stack_switch import StackSwitch, StackSwitchError, run_only
from orchestrator.workloads import cell_settings


@dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    status: Status
    summary: str  # one line a person reads
    error: Exception | None = None


@dataclass(frozen=True)
class Study:
    """What measuring needs besides the plan: the run, each stack's URL as the client sees
    it, the requests by name, the switch that runs only a group's stacks (None: the server
    runs them already), and a wait for the client hosts to be ready (deployed)."""

    manifest: Manifest
    urls: Mapping[str, str]
    requests: Mapping[str, Request]
    switch: Callable[[Group], StackSwitch | None] = lambda _: None
    client_ready: Callable[[], Any] = lambda: None
    sudo_password: str | None = None
    # Before a group is measured, once its stacks run: {(stack, request): why} of its cells
    # not to measure (orchestrator/workload_gate.py: a workload its stack failed).
    gate: Callable[[ServerWatch, Group], Mapping[tuple[str, str], str]] = lambda *_: {}
    # PostgreSQL's unit when it runs on the server for the run: sampled with the stacks.
    database_unit: str | None = None


def measure_groups(
    clients: Sequence[ClientHost],
    server: ClientHost | None,
    study: Study,
    groups: Sequence[Group],
    on_cell: Callable[[CellOutcome], None] = lambda _: None,
) -> list[CellOutcome]:
    """Measure each group in turn, its cells from the client host in one SSH session (kept from
    group to group); record each cell in the manifest and tell ``on_cell``. With several
    client hosts each cell runs on every one at once (orchestrator.measure_hosts).

    A group whose switch fails has every cell recorded as failed with the cause, and the next
    group is measured. A cell that fails is recorded as failed and the next one is measured
    (over a new session when the connection was lost); when the client cannot be reached at
    all, every cell left is recorded as failed. An interruption records what the cell
    measured, then propagates.
    """
    outcomes: list[CellOutcome] = []

    def done(outcome: CellOutcome) -> None:
        outcomes.append(outcome)
        on_cell(outcome)

    ready = False
    with ServerWatch(server) as watch, _ClientSession(clients[0]) as client:
        watch.database_unit = study.database_unit
        for number, group in enumerate(groups):
            try:
                _switch(watch, study, group)
            except StackSwitchError as error:
                for cell in group.cells:
                    done(_failed(study.manifest, cell, error))
                continue
            if not ready:
                try:
                    study.client_ready()
                except RemoteError as error:  # not deployed: nothing can be measured
                    for unmeasured in [one for rest in groups[number:] for one in rest.cells]:
                        done(_failed(study.manifest, unmeasured, error))
                    return outcomes
                ready = True
            skipped = study.gate(watch, group)
            for index, whole in enumerate(group.cells):
                cell = _unskipped(study.manifest, whole, skipped, done)
                if cell is None:
                    continue
                if len(clients) > 1:
                    done(_on_hosts(clients, watch, study, cell))
                    continue
                try:
                    guard = client.connected()
                except RemoteError as error:  # unreachable: nothing more can be measured
                    later = [one for rest in groups[number + 1 :] for one in rest.cells]
                    rest = [
                        _unskipped(study.manifest, c, skipped, done)
                        for c in group.cells[index + 1 :]
                    ]
                    for unmeasured in [cell, *filter(None, rest), *later]:
                        done(_failed(study.manifest, unmeasured, error))
                    return outcomes
                done(measure_cell(guard, watch, study, cell))
    return outcomes


def _switch(watch: ServerWatch, study: Study, group: Group) -> None:
    """Run only ``group``'s stacks. The group before's sampler ends meanwhile: its samples
    were saved with each of its cells, and it stops over a channel of its own."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sampler-end") as ending:
        ending.submit(watch.end_group)
        switch = study.switch(group)
        if switch is not None:
            run_only(watch, switch, study.sudo_password)


def _unskipped(
    manifest: Manifest,
    cell: Cell,
    skipped: Mapping[tuple[str, str], str],
    done: Callable[[CellOutcome], None],
) -> Cell | None:
    """The cell without the stacks that are not to be measured on its request (each recorded
    not measured, with why), or None when none is left."""
    left = []
    for stack in cell.stacks:
        why = skipped.get((stack, cell.request))
        if why is None:
            left.append(stack)
            continue
        one = replace(cell, stacks=(stack,))
        for measurement in one.measurements:
            manifest.record(measurement, status=Status.NOT_MEASURED, message=why)
        done(CellOutcome(one, Status.NOT_MEASURED, f"{one.label}: not measured: {why}"))
    return replace(cell, stacks=tuple(left)) if left else None


class _ClientSession:
    """One SSH session to the client, and bench_client's guard on it, for every cell: opened
    when first needed and opened again when the previous cell lost them; closed on exit."""

    def __init__(self, host: ClientHost) -> None:
        self.host = host
        self.session: RemoteSession | None = None
        self.guard: RemoteGuard | None = None

    def connected(self) -> RemoteGuard:
        if self.session is not None and not self.session.is_connected:
            self.close()
        if self.guard is not None and not self.guard.is_open:
            self.guard.close()
            self.guard = None
        self.session = self.session or open_session(self.host)
        self.guard = self.guard or RemoteGuard(self.session)
        return self.guard

    def close(self) -> None:
        if self.guard is not None:
            self.guard.close()
        if self.session is not None:
            self.session.close()
        self.session = self.guard = None

    def __enter__(self) -> _ClientSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _on_hosts(
    clients: Sequence[ClientHost], watch: ServerWatch, study: Study, cell: Cell
) -> CellOutcome:
    """One cell from every client host at once; a cell a host did not deliver is partial."""
    try:
        run_on_hosts(study.manifest, specs(study, cell), list(clients), watch)
    except DocumentError as error:  # a host's files, refused when merged: not recorded yet
        return _failed(study.manifest, cell, error)
    except RemoteError as error:  # recorded as failed or partial already
        return CellOutcome(cell, Status.FAILED, f"{cell.label}: {error}", error)
    return _completed(study.manifest, cell)


def measure_cell(guard: RemoteGuard, watch: ServerWatch, study: Study, cell: Cell) -> CellOutcome:
    """Measure one cell, fetch its files with checksums, and record it in the manifest.

    The server's noise readings overlap the client's own steps on the other host: the one
    before a group's first cell while the client's ports are read (bench_client starts once
    both are done; a later cell's window begins with the reading after the cell before it),
    the one after each cell while the client's files are fetched (it starts when bench_client
    ends).
    """
    manifest = study.manifest
    # One thread for the server's readings, so that they run in order: start, then stop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-watch") as server:
        started = server.submit(watch.start, list(cell.stacks))
        stopped: list[Future[dict[str, Any] | None]] = []

        def stop() -> None:
            if not stopped:
                stopped.append(server.submit(watch.stop))

        def window() -> dict[str, Any] | None:
            """The server's window (ServerWatch's calls never raise)."""
            stop()
            return stopped[0].result()

        try:
            fetched = measure_together(
                guard, specs(study, cell), before_run=started.result, after_run=stop
            )
        except MeasurementInterrupted as error:
            # What was measured before the interruption is fetched and verified: keep it.
            if error.fetched is None:
                _failed(manifest, cell, error, window)
            else:
                _record(manifest, [error.fetched, *error.others], watch, window())
            raise
        except RemoteError as error:
            return _failed(manifest, cell, error, window)
        refused = _record(manifest, fetched, watch, window())
    if refused is not None:
        return CellOutcome(cell, Status.FAILED, f"{cell.label}: failed: {refused}", refused)
    return _completed(manifest, cell)


def _completed(manifest: Manifest, cell: Cell) -> CellOutcome:
    lines = [summary(manifest, one) for one in cell.measurements]
    return CellOutcome(cell, Status.COMPLETE, "; ".join(lines))


def specs(study: Study, cell: Cell) -> list[MeasurementSpec]:
    """The cell's bench_client runs with the run's settings (a request's own concurrency
    instead of the run's)."""
    request = study.requests[cell.request]
    settings = cell_settings(study.manifest.data["settings"], request)
    seed = _block_seed(study.manifest, cell) if len(cell.stacks) > 1 else None
    return [
        MeasurementSpec(
            measurement,
            url=study.urls[measurement.stack],
            out_dir=study.manifest.run_dir,
            request=request,
            settings=settings,
            seed=seed,
        )
        for measurement in cell.measurements
    ]


def _block_seed(manifest: Manifest, cell: Cell) -> int:
    """The order of the blocks: from the run's seed and the cell, so a rerun repeats it."""
    key = f"{manifest.data['seed']} {cell.mode} {cell.request} {cell.repetition}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def _failed(
    manifest: Manifest, cell: Cell, error: Exception, stop: Callable[[], Any] | None = None
) -> CellOutcome:
    if stop is not None:  # the server's readings of this cell
        stop()
    for measurement in cell.measurements:
        manifest.record(measurement, status=Status.FAILED, message=str(error))
    return CellOutcome(cell, Status.FAILED, f"{cell.label}: failed: {error}", error)


def _record(
    manifest: Manifest, fetched: list[Fetched], watch: ServerWatch, server: dict[str, Any] | None
) -> DocumentError | None:
    """Record fetched measurements, their meta files completed with the server's noise
    (``server``: its window, from watch.stop). A meta file that is not one (the client got
    it wrong, or lies) fails its cell, with the files kept for a look; it is returned."""
    refused = None
    for one in fetched:
        meta_path = manifest.run_dir / one.measurement.meta
        try:
            read_meta(meta_path)
        except DocumentError as error:
            manifest.record(
                one.measurement, status=Status.FAILED, message=f"refused: {error}",
                sha256_csv=one.sha256_csv, sha256_meta=one.sha256_meta,
            )  # fmt: skip
            refused = error
            continue
        samples, samples_problem = watch.save_samples(
            one.measurement.stack, manifest.run_dir / one.measurement.samples, meta_path
        )
        database = watch.save_database_samples(
            manifest.run_dir / one.measurement.database_samples, meta_path
        )
        manifest.record(
            one.measurement,
            status=one.status,
            message=one.message,
            sha256_csv=one.sha256_csv,
            sha256_meta=add_to_meta(meta_path, server, watch.problem),
            client_ports=one.client_ports,
            sha256_samples=samples,
            samples_problem=samples_problem,
            sha256_database_samples=database,
        )
    return refused


def summary(manifest: Manifest, measurement: Measurement) -> str:
    """One line a person reads: the cell's counts and mean."""
    meta = read_meta(manifest.run_dir / measurement.meta)
    mean = f"{meta.mean_s * 1000:.2f} ms mean" if meta.mean_s else "no successes"
    errors = f" (errors: {dict(meta.errors)})" if meta.errors else ""
    return f"{measurement.label}: {meta.successes} ok, {meta.failures} failed, {mean}{errors}"
