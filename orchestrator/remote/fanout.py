"""Several client hosts (group ``clients``): the same step on every host at once.

Each host gets its own thread and its own Fabric connection; one host's failure never
stops the others, and what they did is kept.

- ``deploy_all``: bench_client deployed to every host concurrently.
- ``measure_on_hosts``: one measurement (a cell, or the cells measured together in the
  paired design) on every host together:

  1. connect to all hosts, check each deploy, and read each host's clock offset to the
     control node (preflight.clock_offset);
  2. once all are ready, agree on a start ``START_LEAD_S`` ahead on the control node's
     clock; each host gets it on its own clock (``--start-at`` plus its offset), so the
     hosts begin timing at one moment after their own probe and warm-up;
  3. run the single-host measurement (orchestrator.remote.measure) on every host;
  4. merge each cell's host files into the cell's files (orchestrator.merge_hosts) and
     record every host in the manifest entry (files, sha256, clock offset).

The load is split as bench_client.settings declares (``host_share``): the requests and
the rate are divided between the hosts (the first hosts take the remainder of the
requests), so a cell sends what one host would; the connections, processes and warm-up
are per host (each host opens its own connections and warms them up).

A host lost mid-run (unreachable, its bench_client killed) does not lose the others'
results: the cell is recorded as ``partial``, naming the lost host, from the hosts that
delivered; a resumed run measures it again (only ``complete`` cells are skipped).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bench_client.results_format import ExitCode
from bench_client.settings import host_share
from orchestrator.remote.deploy import DeployResult, deploy, require_deployed
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.guard import RemoteGuard
from orchestrator.remote.inventory import ClientHost
from orchestrator.remote.measure import (
    Fetched,
    MeasurementInterrupted,
    MeasurementSpec,
    measure_together,
)
from orchestrator.remote.preflight import ClockOffset, clock_offset
from orchestrator.remote.session import ANSWER_TIMEOUT, CONNECT_TIMEOUT, LinePrefixer, open_session

# From "every host is connected, deployed and its clock read" to the common start: time
# for each bench_client to start, calibrate (quick), verify and warm up.
START_LEAD_S = 15.0

T = TypeVar("T")


class HostsLostError(RemoteError):
    """One or more client hosts failed or were lost; the others' results were kept."""

    exit_code = ExitCode.UNREACHABLE


def for_each_host(
    hosts: Sequence[ClientHost], work: Callable[[ClientHost], T]
) -> dict[str, T | RemoteError]:
    """``work(host)`` on every host at once; each host's result or its RemoteError, by name."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        futures = {host.name: pool.submit(work, host) for host in hosts}
    outcomes: dict[str, T | RemoteError] = {}
    for name, future in futures.items():
        try:
            outcomes[name] = future.result()
        except RemoteError as error:
            outcomes[name] = error
    return outcomes


def _raise_failures(outcomes: dict[str, Any], what: str) -> None:
    failed = {name: error for name, error in outcomes.items() if isinstance(error, RemoteError)}
    if failed:
        details = "; ".join(f"{name}: {error}" for name, error in failed.items())
        raise HostsLostError(f"{what} failed on {len(failed)} of {len(outcomes)} hosts: {details}")


def deploy_all(
    hosts: Sequence[ClientHost],
    wheelhouse_for: Callable[[ClientHost], Path | None],
    *,
    force: bool = False,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> dict[str, Any]:
    """Deploy to every host at once; ``changed`` is true if any host changed."""

    def one(host: ClientHost) -> DeployResult:
        with open_session(host, connect_timeout) as session:
            log = LinePrefixer(f"[{host.name} deploy] ")
            return deploy(session, wheelhouse=wheelhouse_for(host), log=log, force=force)

    outcomes = for_each_host(hosts, one)
    _raise_failures(outcomes, "deploy")
    results = {name: vars(result) for name, result in outcomes.items()}
    return {"changed": any(r.get("changed", True) for r in results.values()), "hosts": results}


@dataclass(frozen=True)
class HostOutcome:
    """What one host delivered: its fetched files (maybe interrupted) or why it has none."""

    host: ClientHost
    clock: ClockOffset
    fetched: list[Fetched]
    error: RemoteError | None = None


@dataclass(frozen=True)
class HostsOutcome:
    agreed_start: float  # the common start, on the control node's clock
    hosts: list[HostOutcome]


def measure_on_hosts(
    hosts: Sequence[ClientHost],
    specs: Sequence[MeasurementSpec],
    *,
    start_lead_s: float = START_LEAD_S,
    connect_timeout: float = CONNECT_TIMEOUT,
    answer_timeout: float = ANSWER_TIMEOUT,
    run_timeout: float | None = None,
) -> HostsOutcome:
    """Measure ``specs`` (cells measured together) on every host at one agreed start.

    Raises HostsLostError before anything runs if a host is not ready; once they run,
    a host's failure is its HostOutcome.error and the others' results stay.
    """
    sessions = {}

    def ready(host: ClientHost) -> ClockOffset:
        session = open_session(host, connect_timeout, answer_timeout)
        sessions[host.name] = session
        require_deployed(session)
        return clock_offset(session)

    try:
        clocks = for_each_host(hosts, ready)
        _raise_failures(clocks, "getting ready to measure")
        agreed = time.time() + start_lead_s
        position = {host.name: index for index, host in enumerate(hosts)}

        def run(host: ClientHost) -> HostOutcome:
            clock = clocks[host.name]
            assert isinstance(clock, ClockOffset)
            mine = [
                replace(
                    spec,
                    measurement=spec.measurement.on_host(host.name),
                    settings=host_share(spec.settings, position[host.name], len(hosts)),
                    start_at=agreed + clock.offset_s,
                )
                for spec in specs
            ]
            try:
                with RemoteGuard(sessions[host.name]) as guard:
                    fetched = measure_together(guard, mine, run_timeout=run_timeout)
            except MeasurementInterrupted as error:
                kept = [] if error.fetched is None else [error.fetched, *error.others]
                return HostOutcome(host, clock, kept, error if not kept else None)
            except RemoteError as error:
                return HostOutcome(host, clock, [], error)
            return HostOutcome(host, clock, fetched)

        outcomes = for_each_host(hosts, run)  # run() turns every RemoteError into an outcome
    finally:
        for session in sessions.values():
            session.close()
    return HostsOutcome(agreed, [o for o in outcomes.values() if isinstance(o, HostOutcome)])
