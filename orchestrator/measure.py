"""Measure groups of cells from the client hosts and record each cell in the manifest.

The playbook calls ``httplab measure --groups`` once per repetition of the plan, for its
groups (one stack with only it running, or in the paired design one cell of every stack): one
SSH session to the client, with bench_client's guard on it (orchestrator/remote/guard.py), and
one to the server serve every group, so connecting, reading the inventory and starting Python
are paid once per repetition, not once per cell or group. Each
cell is still its own bench_client run with its own CSV and meta file, fetched with its sha256
and recorded on its own: a resume skips exactly the collected cells, a failed cell is recorded
as failed and the next one is measured, and an interruption (Ctrl-C) keeps what the
interrupted cell measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_client.results_format import Measurement, client_flags
from orchestrator.manifest import Manifest
from orchestrator.measure_hosts import run_on_hosts
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
from orchestrator.server_noise import ServerWatch, add_to_meta, lab_hosts
from orchestrator.stack_switch import StackSwitch, StackSwitchError, run_only, stack_switch


@dataclass(frozen=True)
class Cell:
    """One bench_client run: a mode × method × repetition of one stack, or of several stacks
    measured together in one time window (the paired design, bench_client --paired)."""

    mode: str
    method: str
    repetition: int
    targets: tuple[tuple[str, str], ...]  # (stack, its base URL as the client sees it)

    @property
    def measurements(self) -> list[Measurement]:
        return [
            Measurement(self.mode, stack, self.method, self.repetition) for stack, _ in self.targets
        ]


@dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    status: str  # the manifest's: complete, interrupted or failed
    summary: str  # one line a person reads in the playbook's output
    error: RemoteError | None = None


@dataclass(frozen=True)
class Group:
    """Cells measured with only their stacks running: ``switch`` first makes it so (None: the
    server is already switched, e.g. by the role)."""

    cells: tuple[Cell, ...]
    switch: StackSwitch | None = None


def measure_groups(
    clients: Sequence[ClientHost],
    server: ClientHost | None,
    manifest: Manifest,
    groups: Sequence[Group],
) -> list[CellOutcome]:
    """Measure each group in turn, its cells from the client host in one SSH session (kept from
    group to group); record each cell in ``manifest``. With several client hosts each cell
    runs on every one at once (orchestrator.measure_hosts).

    A group whose switch fails has every cell recorded as failed with the cause, and the next
    group is measured. A cell that fails is recorded as failed and the next one is measured
    (over a new session when the connection was lost); when the client cannot be reached at
    all, every cell left is recorded as failed. An interruption records what the cell
    measured, then propagates.
    """
    outcomes: list[CellOutcome] = []
    with ServerWatch(server) as watch, _ClientSession(clients[0]) as client:
        for number, group in enumerate(groups):
            if (not_running := _switch(watch, group, manifest)) is not None:
                outcomes += not_running
                continue
            for index, cell in enumerate(group.cells):
                if len(clients) > 1:
                    outcomes.append(_on_hosts(clients, watch, manifest, cell))
                    continue
                try:
                    guard = client.connected()
                except RemoteError as error:  # unreachable: nothing more can be measured
                    later = [one for rest in groups[number + 1 :] for one in rest.cells]
                    unmeasured = [*group.cells[index:], *later]
                    return outcomes + [_failed(manifest, one, error) for one in unmeasured]
                outcomes.append(measure_cell(guard, watch, manifest, cell))
            watch.end_group()
    return outcomes


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
    clients: Sequence[ClientHost], watch: ServerWatch, manifest: Manifest, cell: Cell
) -> CellOutcome:
    """One cell from every client host at once; a cell a host did not deliver is partial."""
    try:
        run_on_hosts(manifest, specs(manifest, cell), list(clients), watch)
    except RemoteError as error:
        return CellOutcome(cell, "failed", f"{cell.measurements[0].label}: {error}", error)
    return _completed(manifest, cell)


def _switch(watch: ServerWatch, group: Group, manifest: Manifest) -> list[CellOutcome] | None:
    """Run only the group's stacks; if that fails, every cell recorded failed (returned)."""
    if group.switch is None:
        return None
    try:
        run_only(watch, group.switch)
    except StackSwitchError as error:
        return [_failed(manifest, cell, error) for cell in group.cells]
    return None


def measure_cell(
    guard: RemoteGuard, watch: ServerWatch, manifest: Manifest, cell: Cell
) -> CellOutcome:
    """Measure one cell, fetch its files with checksums, and record it in the manifest.

    The server's noise readings overlap the client's own steps on the other host: the one
    before a group's first cell while the client's ports are read (bench_client starts once
    both are done; a later cell's window begins with the reading after the cell before it),
    the one after each cell while the client's files are fetched (it starts when bench_client
    ends).
    """
    stacks = [stack for stack, _ in cell.targets]
    # One thread for the server's readings, so that they run in order: start, then stop.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="server-watch") as server:
        started = server.submit(watch.start, stacks)
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
                guard, specs(manifest, cell), before_run=started.result, after_run=stop
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
        _record(manifest, fetched, watch, window())
    return _completed(manifest, cell)


def _completed(manifest: Manifest, cell: Cell) -> CellOutcome:
    lines = [summary(manifest.run_dir / one.meta, one) for one in cell.measurements]
    return CellOutcome(cell, "complete", "; ".join(lines))


def specs(manifest: Manifest, cell: Cell) -> list[MeasurementSpec]:
    """The cell's bench_client runs, with the run's settings as the client's flags."""
    settings = manifest.data["client_settings"]
    flags = client_flags(settings, cell.mode)
    if len(cell.targets) > 1:
        flags += ("--block", str(settings["block"]), "--seed", str(_block_seed(manifest, cell)))
    return [
        MeasurementSpec(measurement, url=url, out_dir=manifest.run_dir, client_args=flags)
        for measurement, (_, url) in zip(cell.measurements, cell.targets, strict=True)
    ]


def _block_seed(manifest: Manifest, cell: Cell) -> int:
    """The order of the blocks: from the run's seed and the cell, so a rerun repeats it."""
    key = f"{manifest.data['seed']} {cell.mode} {cell.method} {cell.repetition}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def _failed(
    manifest: Manifest, cell: Cell, error: RemoteError, stop: Callable[[], Any] | None = None
) -> CellOutcome:
    if stop is not None:  # the server's readings of this cell
        stop()
    for measurement in cell.measurements:
        manifest.record(measurement, status="failed", message=str(error))
    return CellOutcome(cell, "failed", f"{cell.measurements[0].label}: failed: {error}", error)


def _record(
    manifest: Manifest, fetched: list[Fetched], watch: ServerWatch, server: dict[str, Any] | None
) -> None:
    """Record fetched measurements, their meta files completed with the server's noise
    (``server``: its window, from watch.stop)."""
    for one in fetched:
        samples, samples_problem = watch.save_samples(
            one.measurement.stack,
            manifest.run_dir / one.measurement.samples,
            manifest.run_dir / one.measurement.meta,
        )
        manifest.record(
            one.measurement,
            status=one.status,
            message=one.message,
            sha256_csv=one.sha256_csv,
            sha256_meta=add_to_meta(manifest.run_dir / one.measurement.meta, server, watch.problem),
            client_ports=one.client_ports,
            sha256_samples=samples,
            samples_problem=samples_problem,
        )


def summary(meta_path: Path, measurement: Measurement) -> str:
    """One line a person reads in the playbook's output."""
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    mean = f"{meta['mean_s'] * 1000:.2f} ms mean" if meta.get("mean_s") else "no successes"
    return f"{measurement.label}: {meta['successes']} ok, {meta['failures']} failed, {mean}" + (
        f" (errors: {meta['errors']})" if meta.get("errors") else ""
    )


def run_measurement(args: argparse.Namespace) -> dict[str, Any]:
    """`httplab measure`: one group (the cells of --cell, each of the --stack/--url targets;
    several targets: the paired design) or the plan's groups (--groups); prints each cell's
    CSVs and summary; exits non-zero if a cell failed."""
    manifest = Manifest.load(args.run_dir)
    if args.groups is not None:
        groups = plan_groups(
            args.groups, args.target_address, args.health_address, args.health_timeout
        )
    else:
        groups = [flag_group(args)]
    clients, server = lab_hosts(args.inventory, args.inventory_listing)
    outcomes = measure_groups(clients, server, manifest, groups)
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    if errors:
        failed = RemoteError(
            f"{len(errors)} of {len(outcomes)} cell(s) failed and are recorded as failed (or "
            "partial) in the manifest (a resume measures them again): "
            + "; ".join(map(str, errors))
        )
        failed.exit_code = errors[0].exit_code
        raise failed
    return {
        "csv": [m.csv for outcome in outcomes for m in outcome.cell.measurements],
        "summary": [outcome.summary for outcome in outcomes],
    }


def flag_group(args: argparse.Namespace) -> Group:
    """The one group --stack, --url, --cell (and --health-url, --stop-stack) describe."""
    if not (args.stack and args.url and args.cell):
        raise ValueError("give --groups, or --stack, --url and --cell")
    if len(args.stack) != len(args.url):
        raise ValueError("give one --url for each --stack")
    targets = tuple(zip(args.stack, args.url, strict=True))
    switch = stack_switch(args.stack, args.stop_stack, args.health_url, args.health_timeout)
    return Group(tuple(Cell(*cell, targets) for cell in args.cell), switch)


def plan_groups(
    groups: Sequence[dict[str, Any]],
    target_address: str | None,
    health_address: str | None,
    health_timeout: float,
) -> list[Group]:
    """`httplab plan`'s groups (its by_stack items) to measure: each stack's URL on
    ``target_address`` (the server as the client reaches it); with ``health_address`` (the
    server as it reaches itself), each group first runs only its stacks."""
    if not target_address:
        raise ValueError("--groups needs --target-address (the server as the client reaches it)")
    measured = []
    for group in groups:
        stacks = group["measurements"][0].get("paired") or [group]
        targets = tuple((one["stack"], f"http://{target_address}:{one['port']}") for one in stacks)
        cells = tuple(
            Cell(item["mode"], item["method"], item["repetition"], targets)
            for item in group["measurements"]
        )
        # Without --health-address there is nothing to wait for: no switch (the role switches).
        health = (
            [f"http://{health_address}:{one['port']}/health" for one in stacks]
            if health_address
            else []
        )
        names = [stack for stack, _ in targets]
        switch = stack_switch(names, group["stop"], health, health_timeout)
        measured.append(Group(cells, switch))
    return measured
