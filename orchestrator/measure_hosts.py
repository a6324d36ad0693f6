"""A measurement from several client hosts: run it on all (remote.fanout), merge, record.

Each cell's entry in the manifest holds the merged files (the cell's own CSV and meta,
orchestrator.merge_hosts) and, under ``hosts``, every host's files with their sha256,
status and clock offset; ``start`` holds the agreed start and the hosts' start skew.
A cell that a host did not deliver is ``partial`` (the message names the host) and is
measured again when the run resumes; the hosts that delivered keep their files.
"""

from __future__ import annotations

from typing import Any

from bench_client.documents import Status, read_meta
from bench_client.results_format import Measurement
from orchestrator.manifest import Manifest
from orchestrator.merge_hosts import HostFiles, merge
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.fanout import HostOutcome, HostsLostError, measure_on_hosts
from orchestrator.remote.inventory import ClientHost
from orchestrator.remote.measure import MeasurementSpec
from orchestrator.server_noise import ServerWatch, add_to_meta


def run_on_hosts(
    manifest: Manifest,
    specs: list[MeasurementSpec],
    clients: list[ClientHost],
    watch: ServerWatch,
    **options: Any,
) -> list[Measurement]:
    """Measure ``specs`` on every client at once and record each cell; return the cells.

    Raises HostsLostError after recording when a host failed or was lost; raises
    HostsLostError before measuring (and records the cells failed) when one was not ready.
    The sweep mode never gets here (orchestrator.benchmark.check_hosts refuses it).
    """
    watch.start([spec.measurement.stack for spec in specs])
    try:
        outcome = measure_on_hosts(clients, specs, **options)
    except RemoteError as error:
        watch.stop()
        for spec in specs:
            manifest.record(spec.measurement, status=Status.FAILED, message=str(error))
        raise
    server = watch.stop()
    cells = [spec.measurement for spec in specs]
    for cell in cells:
        _record(manifest, cell, outcome.hosts, outcome.agreed_start, server, watch)
    lost = [one for one in outcome.hosts if one.error is not None]
    if lost:
        details = "; ".join(f"{one.host.name}: {one.error}" for one in lost)
        raise HostsLostError(
            f"{len(lost)} of {len(clients)} client hosts lost ({details}); the other hosts' "
            "results are kept and the cells marked partial: resume the run to measure them again"
        )
    return cells


def _record(
    manifest: Manifest,
    cell: Measurement,
    hosts: list[HostOutcome],
    agreed_start: float,
    server: dict[str, Any] | None,
    watch: ServerWatch,
) -> None:
    run_dir = manifest.run_dir
    entries: dict[str, dict[str, Any]] = {}
    delivered: list[HostFiles] = []
    for one in hosts:
        fetched = next((f for f in one.fetched if f.measurement.cell == cell), None)
        entry: dict[str, Any] = {
            "address": one.host.address,
            "clock": one.clock.as_json(),
            "status": Status.LOST.value if fetched is None else fetched.status.value,
            "message": str(one.error) if fetched is None else fetched.message,
        }
        if fetched is not None:
            share = fetched.measurement
            entry |= {
                "csv": share.csv,
                "meta": share.meta,
                "sha256": fetched.sha256_csv,
                "sha256_meta": fetched.sha256_meta,
                "client_ports": fetched.client_ports,
            }
            delivered.append(
                HostFiles(one.host.name, share, one.clock.offset_s, one.clock.uncertainty_s)
            )
        entries[one.host.name] = entry
    if not delivered:
        manifest.record(
            cell,
            status=Status.FAILED,
            message="; ".join(f"{name}: {e['message']}" for name, e in entries.items()),
            hosts=entries,
            start=None,
        )
        return
    sha256_csv = merge(run_dir, cell, delivered, agreed_start)
    sha256_meta = add_to_meta(run_dir / cell.meta, server, watch.problem)
    sha256_samples, samples_problem = watch.save_samples(
        cell.stack, run_dir / cell.samples, run_dir / cell.meta
    )
    merged = read_meta(run_dir / cell.meta).document
    lost = [name for name, e in entries.items() if e["status"] == Status.LOST]
    statuses = {e["status"] for e in entries.values()}
    if lost:
        status = Status.PARTIAL
        message = f"partial: lost client host(s) {', '.join(lost)}; measured again on resume"
    else:
        status = Status.COMPLETE if statuses == {Status.COMPLETE} else Status.INTERRUPTED
        message = (
            "" if status == Status.COMPLETE else "a client host's bench_client was interrupted"
        )
    manifest.record(
        cell,
        status=status,
        message=message,
        sha256_csv=sha256_csv,
        sha256_meta=sha256_meta,
        hosts=entries,
        start={
            "agreed": merged["start"]["agreed"],
            "skew_s": merged["start_skew_s"],
            "late_s": {h["host"]: h["start_after_agreed_s"] for h in merged["hosts"]},
        },
        sha256_samples=sha256_samples,
        samples_problem=samples_problem,
    )
