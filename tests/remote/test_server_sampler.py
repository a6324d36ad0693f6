"""Through real SSH (a throwaway sshd): a sampler that fails or is killed costs only its samples.

This machine has no systemd as init, so the real sampler cannot resolve a unit
here and says so; a stand-in that kills itself shows what the orchestrator
records for a sampler killed mid-measurement. The lab's e2e tests run the real
sampler against real stacks (tests/e2e/test_run_all.py).
"""

from __future__ import annotations

import shlex
import sys

import pytest

from orchestrator.remote.session import connect
from orchestrator.server_noise import ServerWatch, lab_hosts
from orchestrator.server_sampler import MISSING, ServerSampler, sampler_command
from tests.remote.helpers import with_server

# Says it started, as the sampler does, then dies as `kill -9` would make it.
KILLED = (
    "import json, os; print(json.dumps({'pid': os.getpid()}), flush=True); os.kill(os.getpid(), 9)"
)


@pytest.fixture
def server(inventory, tmp_path):
    _, host = lab_hosts(with_server(inventory, tmp_path))
    assert host is not None
    return host


def test_a_killed_sampler_leaves_no_file_and_says_why(server, tmp_path):
    connection = connect(server)
    try:
        sampler = ServerSampler(connection.transport, shlex.join([sys.executable, "-c", KILLED]))
        sampler.launch()
        sampler.wait_started()
        assert sampler.pid is not None and sampler.problem == ""
        sampler.stop()
    finally:
        connection.close()
    assert sampler.problem == "the sampler ended without its samples (killed)"
    target = tmp_path / "GET.server.json"
    assert sampler.save("httplab-flask-gunicorn.service", target) == (
        None,
        MISSING + sampler.problem,
    )
    assert not target.exists()


def test_a_sampler_that_cannot_find_its_unit_leaves_the_noise_reading_intact(server, tmp_path):
    with ServerWatch(server) as watch:
        watch.start(["flask-gunicorn"])
        window = watch.stop()
        assert watch.problem == "" and window is not None  # the noise guard's half is unaffected
        stale = tmp_path / "GET.server.json"
        stale.write_text("{}")  # an earlier attempt's samples
        meta = tmp_path / "GET.meta.json"
        meta.write_text("{}")  # no timed window: the samples would be kept whole
        sha256, problem = watch.save_samples("flask-gunicorn", stale, meta)
    assert sha256 is None
    assert problem.startswith(MISSING + "the sampler failed: ")
    assert "systemctl" in problem
    assert not stale.exists()


def test_the_sampler_command_runs_as_root_only_where_sudo_allows():
    """Where become is asked and sudo wants a password, it still runs, as the SSH user."""
    plain = sampler_command("python3", ["httplab-a.service"], become=False)
    assert "sudo" not in plain and plain.endswith("httplab-a.service")
    become = sampler_command("python3", ["httplab-a.service"], become=True)
    assert become.startswith("if sudo -n true") and become.count(plain) == 2
    assert "\n" not in become  # one shell line
