"""An app of yours on the embedded lab's server, beside the lab's stacks: the example
bookshelf (its own code, lock and venv, a state directory, a migration before it starts)
under two server kinds converges, changes nothing the second time, and passes verify with
the checks that do not assume the lab's contract; an app that cannot start stops the run
with its traceback. Runs after the other role tests (file order), whose matrix it extends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apps.conftest import REPO, group_vars
from tests.roles.test_server_roles import STACKS, Run, run_playbook

pytestmark = pytest.mark.roles

EXAMPLE = yaml.safe_load((REPO / "examples" / "bookshelf" / "httplab.yml").read_text())
BOOKSHELF = EXAMPLE["httplab_apps"]["bookshelf"]
YOURS = [
    {"name": "bookshelf-uvicorn", "app": "bookshelf", "server": "uvicorn-workers", "port": 5100},
    {"name": "bookshelf-granian", "app": "bookshelf", "server": "granian-asgi", "port": 5101},
]
# The lab's six and two of yours: the lab's stacks stay as the other role tests left them.
MATRIX = {
    "httplab_apps": {**group_vars("apps"), "bookshelf": BOOKSHELF},
    "httplab_stacks": STACKS + YOURS,
}


@pytest.fixture(scope="module")
def with_yours(embedded_lab, venv_bin, tmp_path_factory) -> tuple[Run, Run]:
    runs = [
        run_playbook(embedded_lab, venv_bin, tmp_path_factory.mktemp(n), "provision.yml", MATRIX)
        for n in ("converge", "rerun")
    ]
    print(f"\nprovision with an app of yours: {runs[0].seconds:.1f} s, {runs[1].seconds:.1f} s")
    return runs[0], runs[1]


def test_an_app_of_yours_converges_and_a_second_run_changes_nothing(with_yours) -> None:
    first, second = with_yours
    assert first.status == "successful", first.failure_messages
    assert second.status == "successful", second.failure_messages
    assert second.changed() == 0, second.stats


def test_it_runs_from_its_own_venv_with_its_state_and_migration(embedded_lab, with_yours) -> None:
    server = embedded_lab.server
    facts = json.loads(server.run("cat", "/opt/httplab/bookshelf-uvicorn/stack.json").stdout)
    assert facts["own_app"] is True and facts["lock"] == "examples/bookshelf/requirements.txt"
    assert facts["framework"] == "starlette" and facts["module"] == "bookshelf.app:app"
    lab_facts = json.loads(server.run("cat", "/opt/httplab/flask-gunicorn/stack.json").stdout)
    assert facts["versions"]["granian"] != lab_facts["versions"]["granian"]  # its own pins
    venvs = server.run("sudo", "-n", "ls", "/opt/httplab/venvs").stdout.split()
    assert len([v for v in venvs if not v.endswith(".txt")]) == 2  # the lab's and its own
    # Its migration ran as the service, in its state directory, before it started.
    database = "/var/lib/httplab/bookshelf-uvicorn/bookshelf.sqlite3"
    owner = server.run("sudo", "-n", "stat", "-c", "%U %a", database).stdout.split()
    assert owner[0] == "httplab-svc"


def test_verify_checks_it_by_what_it_declares(embedded_lab, venv_bin, with_yours, tmp_path):
    run = run_playbook(embedded_lab, venv_bin, tmp_path, "verify.yml", MATRIX)
    assert run.status == "successful", run.failure_messages
    passed = [message for message in run.ok_messages if "probes passed" in message]
    assert len(passed) == len(STACKS) + len(YOURS), passed
    assert any(message.startswith("bookshelf-granian: all 15 probes") for message in passed)


def test_an_app_that_cannot_start_stops_the_run_with_its_traceback(
    embedded_lab, venv_bin, with_yours, tmp_path: Path
) -> None:
    source = tmp_path / "broken"
    source.mkdir()
    (source / "broken.py").write_text("import no_such_module_anywhere\napp = None\n")
    broken: dict[str, Any] = {
        **BOOKSHELF,
        "module": "broken:app",
        "source": str(source),
        "setup": None,
        "state": False,
    }
    matrix = {
        "httplab_apps": {**MATRIX["httplab_apps"], "broken": broken},
        "httplab_stacks": [*MATRIX["httplab_stacks"],
                           {"name": "broken-uvicorn", "app": "broken", "server": "uvicorn-workers",
                            "port": 5109}],
    }  # fmt: skip
    # A shorter wait for it to answer: it never will.
    extravars = {**matrix, "httplab_health_retries": 15}
    run = run_playbook(embedded_lab, venv_bin, tmp_path / "runner", "provision.yml", extravars)
    assert run.status == "failed"
    message = next((m for m in run.failure_messages if "httplab-broken-uvicorn" in m), "")
    traceback = "its last traceback:\nTraceback (most recent call last):"
    assert traceback in message, run.failure_messages
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in message
    # The role stopped it rather than leave it restarting every second.
    state = embedded_lab.server.run("systemctl", "is-active", "httplab-broken-uvicorn", check=False)
    assert state.stdout.strip() in {"inactive", "failed"}, state.stdout
