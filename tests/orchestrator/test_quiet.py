"""The control node keeps quiet while it measures: idle priority, its own CPU where the lab left
one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestrator.run import ROOT as REPO

CHILD = """
import json, os, sys
from orchestrator.quiet import keep_quiet
said = keep_quiet(json.loads(sys.argv[1]))
print(json.dumps({"said": said, "policy": os.sched_getscheduler(0),
                  "cpus": sorted(os.sched_getaffinity(0))}))
"""


def quiet_child(lab_cpus: object) -> dict:
    """keep_quiet in a process of its own (it lowers the process it runs in for good)."""
    found = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(lab_cpus)],
        capture_output=True, text=True, check=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    return json.loads(found.stdout)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_the_benchmark_runs_at_idle_priority_and_stays_where_no_cpu_is_spare():
    found = quiet_child({"server": [0], "clients": [1], "control": []})
    assert found["policy"] == os.SCHED_IDLE
    assert found["said"] == ["at idle priority (SCHED_IDLE)"]
    assert found["cpus"] == sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to move between")
def test_the_benchmark_moves_to_the_cpu_the_lab_left_it():
    control = max(os.sched_getaffinity(0))
    others = sorted(os.sched_getaffinity(0) - {control})
    found = quiet_child({"server": others[:1], "clients": others[-1:], "control": [control]})
    assert found["cpus"] == [control]
    assert found["said"][-1] == (
        f"on CPU {control}, off the measured CPUs {','.join(map(str, sorted(set(others))))}"
    )
    # A control CPU that is also a measured one is not moved to.
    assert quiet_child({"server": [control], "clients": [], "control": [control]})["cpus"] == (
        sorted(os.sched_getaffinity(0))
    )
