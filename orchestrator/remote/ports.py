"""Will a measurement fit in the client's free local ports? Check, wait, or warn.

Each new TCP connection takes an ephemeral port, and the side that closes
first keeps it in TIME_WAIT for 60 s (Linux) or TcpTimedWaitDelay, 120 s by
default (Windows). The constant mode opens a connection per request, so a
long run, or one right after another, can run out of ports: connect() then
fails (Windows) or crawls while it searches for a free port (Linux).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from bench_client.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_ITERATIONS,
    DEFAULT_SWEEP_STEPS,
    DEFAULT_WARMUP,
)
from bench_client.results_format import SWEEP_MODE, client_flags
from orchestrator.remote.session import LinePrefixer

# Default dynamic port ranges: Windows 49152-65535, Linux 32768-60999 (what a
# client has unless its owner widened it; the measurement checks the real one).
DEFAULT_PORTS = {"Windows": 16_384, "Linux": 28_232}
# Ports to leave for everything else on the client (the SSH session, updates...).
RESERVE = 1000
POLL_S = 5.0


def _flag(args: Sequence[str], name: str, default: int) -> int:
    for index, arg in enumerate(args[:-1]):
        if arg == name:
            return int(args[index + 1])
    return default


def connections_needed(mode: str, client_args: Sequence[str]) -> int:
    """New connections a measurement opens: one per request in constant mode."""
    if mode == "constant":
        # + 1 for the verification request; warm-up requests connect too.
        warmup = _flag(client_args, "--warmup", DEFAULT_WARMUP)
        return _flag(client_args, "--iterations", DEFAULT_ITERATIONS) + warmup + 1
    if mode in ("concurrent", "rate"):
        return _flag(client_args, "--concurrency", DEFAULT_CONCURRENCY) + 1
    if mode == SWEEP_MODE:  # each step opens its own connections
        per_step = _flag(client_args, "--concurrency", DEFAULT_CONCURRENCY) + 1
        return per_step * _flag(client_args, "--sweep-steps", DEFAULT_SWEEP_STEPS)
    return 2  # keepalive: one connection, reopened when the server closes it


def plan_warnings(modes: Sequence[str], settings: dict[str, Any]) -> list[str]:
    """Warnings, at plan time, for a constant-mode measurement too big for a default client."""
    if "constant" not in modes:
        return []
    needed = connections_needed("constant", client_flags(settings, "constant"))
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
            "may run out of ports; fewer --iterations, or a wider port range, fit"
        )
        log.note(f"warning: {budget['warning']}")
    return budget
