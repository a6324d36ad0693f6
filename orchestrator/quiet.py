"""The control node keeps quiet while it measures.

On the embedded lab the server and the client are containers pinned to this machine's CPUs, and
whatever else runs on those CPUs is "other processes" in the noise guard's readings, the
orchestrator's own work included. So `httplab benchmark` runs at idle priority (Linux SCHED_IDLE:
a measured host's process that wants the CPU gets it at once; elsewhere the weakest nice value),
and, where the lab left a CPU to the control node (three or more CPUs: lab/api.py), on that CPU,
off the measured ones. Both are set before any thread or process starts, so all of them inherit
them. Nothing in it polls the measured hosts while a measurement runs: the SSH keepalive to the
client pauses meanwhile (orchestrator/remote/session.py, Liveness.hushed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

IDLE_NICE = 19


def keep_quiet(lab_cpus: Mapping[str, Sequence[int]] | None) -> list[str]:
    """Lower this process's priority, and move it to the lab's control CPUs where it has them
    (``httplab_lab_cpus``: the embedded lab's CPUs by role); what was done, in words."""
    done = [_idle()]
    cpus = {role: {int(cpu) for cpu in found or ()} for role, found in (lab_cpus or {}).items()}
    control = sorted(cpus.pop("control", set()))
    measured = sorted(set().union(*cpus.values()))
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if control and set(control) <= usable and not set(control) & set(measured):
        os.sched_setaffinity(0, control)
        done.append(f"on CPU {_listed(control)}, off the measured CPUs {_listed(measured)}")
    return [line for line in done if line]


def _listed(cpus: Sequence[int]) -> str:
    return ",".join(map(str, cpus))


def _idle() -> str:
    scheduler = getattr(os, "sched_setscheduler", None)
    if scheduler is not None and hasattr(os, "SCHED_IDLE"):
        try:
            scheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return "at idle priority (SCHED_IDLE)"
        except OSError:
            pass
    try:
        os.nice(IDLE_NICE - os.nice(0))
    except (OSError, AttributeError):  # Windows has no nice: nothing to lower
        return ""
    return f"at nice {IDLE_NICE}"
