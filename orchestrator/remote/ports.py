"""Will a measurement fit in the client's free local ports? Check, wait, or warn.

Each new TCP connection takes an ephemeral port, and the side that closes
first keeps it in TIME_WAIT for 60 s (Linux) or TcpTimedWaitDelay, 120 s by
default (Windows). The constant mode opens a connection per request, so a
long run, or one right after another, can run out of ports: connect() then
fails (Windows) or crawls while it searches for a free port (Linux).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench_client.results_format import SWEEP_MODE
from bench_client.settings import SETTINGS
from orchestrator.remote.session import LinePrefixer

# Default dynamic port ranges: Windows 49152-65535, Linux 32768-60999 (what a
# client has unless its owner widened it; the measurement checks the real one).
DEFAULT_PORTS = {"Windows": 16_384, "Linux": 28_232}
# Ports to leave for everything else on the client (the SSH session, updates...).
RESERVE = 1000
POLL_S = 5.0


def connections_needed(mode: str, settings: Mapping[str, Any]) -> int:
    """New connections a measurement with ``settings`` opens: one per request in constant
    mode (a setting left out: its default)."""

    def value(name: str) -> int:
        given = settings.get(name)
        return int(SETTINGS[name].default if given is None else given)

    if mode == "constant":
        # + 1 for the verification request; warm-up requests connect too.
        return value("iterations") + value("warmup") + 1
    if mode in ("concurrent", "rate"):
        return value("concurrency") + 1
    if mode == SWEEP_MODE:  # each step opens its own connections
        return (value("concurrency") + 1) * value("sweep_steps")
    return 2  # keepalive: one connection, reopened when the server closes it


def plan_warnings(modes: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
    """Warnings, at plan time, for a constant-mode measurement too big for a default client."""
    if "constant" not in modes:
        return []
    needed = connections_needed("constant", settings)
    return [
        f"a constant-mode measurement opens {needed} connections; a {system} client with the "
        f"default {ports:,} dynamic ports keeps each in TIME_WAIT and needs {needed + RESERVE} "
        "free: it may run out of ports (lower httplab_bench_iterations, or widen the client's "
        "port range)"
        for system, ports in DEFAULT_PORTS.items()
        if needed + RESERVE > ports
    ]


def shortfall(budget: dict[str, Any], needed: int) -> int:
    """How many ports the measurement lacks now (0: it fits, or the count is unknown)."""
    if budget.get("free") is None:
        return 0
    return max(0, needed + RESERVE - budget["free"])


def ensure_ports(
    read: Callable[[], dict[str, Any]],
    needed: int,
    log: LinePrefixer,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The port budget before the measurement; waits up to one TIME_WAIT period for room.

    Returns the budget with ``needed``, ``waited_s`` and, when it still does
    not fit, a ``warning`` (the measurement goes ahead; its meta file will
    show the failures as the client's limit).
    """
    budget = read()
    waited = 0.0
    patience = float(budget.get("time_wait_s") or 60)
    if shortfall(budget, needed):
        log.note(
            f"{needed} new connections need {needed + RESERVE} free local ports with the reserve; "
            f"{budget['free']} of {budget['ports']} are free ({budget['time_wait']} in TIME_WAIT); "
            f"waiting up to {patience:g} s for TIME_WAIT to drain"
        )
    while shortfall(budget, needed) and waited < patience:
        sleep(POLL_S)
        waited += POLL_S
        budget = read()
    budget.update(needed=needed, waited_s=waited)
    if shortfall(budget, needed):
        budget["warning"] = (
            f"only {budget['free']} free local ports for {needed} new connections "
            f"(range {budget['port_range'][0]}-{budget['port_range'][1]}, "
            f"{budget['time_wait']} in TIME_WAIT for {budget['time_wait_s']} s): the client "
            f"may run out of ports; fewer {SETTINGS['iterations'].variable}, or a wider port "
            "range, fit"
        )
        log.note(f"warning: {budget['warning']}")
    return budget
