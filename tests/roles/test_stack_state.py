"""A stack taken out of the matrix must not keep running through later measurements:
the role's `state` entry point stops every stack unit not under test and removes
the units of stacks no longer in the matrix (real systemd on the embedded lab)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.roles.test_server_roles import STACKS, _active, run_playbook

pytestmark = pytest.mark.roles

# A stack of an earlier matrix: the same app and server as flask-gunicorn, its own port.
RETIRED = {**STACKS[1], "name": "flask-retired", "port": 5099}
RETIRED_UNIT = f"httplab-{RETIRED['name']}.service"


def _unit(lab: Any, *argv: str) -> str:
    return lab.server.run("systemctl", *argv, RETIRED_UNIT, check=False).stdout.strip()


def test_a_stack_removed_from_the_matrix_stops_and_its_unit_goes(embedded_lab, venv_bin, tmp_path):
    added = run_playbook(
        embedded_lab, venv_bin, tmp_path / "add", "provision.yml",
        {"httplab_stacks": [*STACKS, RETIRED]},
    )  # fmt: skip
    assert added.status == "successful", added.failure_messages
    assert _unit(embedded_lab, "is-active") == "active"

    only = STACKS[0]["name"]
    removed = run_playbook(
        embedded_lab, venv_bin, tmp_path / "remove", "stacks_state.yml",
        {"httplab_only_stack": only},
    )  # fmt: skip
    assert removed.status == "successful", removed.failure_messages
    assert _unit(embedded_lab, "is-active") == "inactive"
    assert _unit(embedded_lab, "is-enabled") in ("", "not-found")
    unit_file = f"/etc/systemd/system/{RETIRED_UNIT}"
    assert embedded_lab.server.run("test", "-e", unit_file, check=False).returncode == 1
    states = _active(embedded_lab)
    assert states[only] == "active"
    assert all(state == "inactive" for name, state in states.items() if name != only), states

    again = run_playbook(
        embedded_lab, venv_bin, tmp_path / "again", "stacks_state.yml",
        {"httplab_only_stack": only},
    )  # fmt: skip
    assert again.status == "successful" and again.changed() == 0, again.stats
