"""The role's matrix filter (roles/httplab/filter_plugins/httplab_matrix.py): each stack
joined with its app and server kind, and each way a matrix cannot work refused with a
message that names the entry and the fix. Offline: no host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from tests.apps.conftest import MATRIX, REPO, REQUIREMENTS, group_vars, role_vars

SERVERS = role_vars()["httplab_stack_servers"]
LAB_APPS = group_vars("apps")


def deploy(stacks: list[dict[str, Any]], apps: dict[str, Any] | None = None) -> list[dict]:
    return MATRIX.deployment(
        stacks, apps or LAB_APPS, SERVERS, "/opt/httplab", str(REPO), str(REQUIREMENTS)
    )


def refused(stacks: list[dict[str, Any]], apps: dict[str, Any] | None = None) -> str:
    with pytest.raises(AnsibleFilterError) as error:
        deploy(stacks, apps)
    return str(error.value)


def stack(**given: Any) -> dict[str, Any]:
    return {"name": "s", "app": "flask", "server": "gunicorn", "port": 5001, **given}


@pytest.fixture
def yours(tmp_path: Path) -> dict[str, Any]:
    """An app of yours: a directory of code and a hashed lock with Gunicorn in it."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "app.py").write_text("app = None\n")
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "gunicorn==23.0.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
        "packaging==25.0 \\\n    --hash=sha256:" + "b" * 64 + "\n"
    )
    return {
        "module": "app:app",
        "protocol": "wsgi",
        "source": str(tmp_path / "shop"),
        "lock": str(lock),
        "requests": [{"name": "home", "path": "/"}],
    }


def test_the_paper_matrix_deploys_with_one_shared_venv() -> None:
    records = deploy(group_vars("stacks"))
    assert [r["name"] for r in records] == [s["name"] for s in group_vars("stacks")]
    assert len({r["venv"] for r in records}) == 1  # one lock, one venv
    django = next(r for r in records if r["name"] == "django-gunicorn")
    assert django["module"] == "apps.django_app.wsgi:application"
    assert django["secrets_file"] == "/opt/httplab/secrets/django.env"
    assert django["framework"] == "django" and not django["own"]


def test_an_app_of_yours_is_served_behind_the_lab_limits(yours: dict[str, Any]) -> None:
    (record,) = deploy([stack(app="shop")], {"shop": yours})
    assert record["module"] == "apps.serve:app"
    assert record["environment"] == {"HTTPLAB_APP": "app:app", "HTTPLAB_PROTOCOL": "wsgi"}
    assert record["code"] == "/opt/httplab/apps/shop"
    assert record["pythonpath"] == ["/opt/httplab/apps/shop", "/opt/httplab/app"]
    assert record["own"] and record["requests"] == yours["requests"]


def test_a_stack_may_name_its_own_lock_and_gets_its_own_venv(yours: dict[str, Any]) -> None:
    records = deploy([stack(), stack(name="t", port=5002, lock=yours["lock"])])
    assert records[1]["lock"] == yours["lock"]
    assert records[0]["venv"] != records[1]["venv"]


def test_setup_runs_with_the_stacks_python(yours: dict[str, Any]) -> None:
    yours["setup"] = ["python", "-m", "shop.migrate"]
    (record,) = deploy([stack(app="shop")], {"shop": yours})
    assert record["setup"] == [record["venv"] + "/bin/python", "-m", "shop.migrate"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (stack(app="flsk"), "app 'flsk' is not in httplab_apps (flask, django"),
        (stack(server="unicorn"), "server 'unicorn' is not a server kind (werkzeug, gunicorn"),
        (
            stack(server="uvicorn"),
            "server kind uvicorn speaks ASGI, app flask is WSGI: choose a kind that speaks it "
            "(werkzeug, gunicorn, gunicorn-gevent",
        ),
        (stack(app="django", server="werkzeug"), "server kind werkzeug runs only flask apps"),
        (stack(port=80), "port 80 must be a whole number in 1024-65535"),
        (stack(workers=0), "workers 0 must be a whole number 1-9999"),
        (stack(name="S 1"), "a stack's name is lowercase letters, digits and dashes"),
        (
            {**stack(), "framework": "flask", "app": "apps.flask_app:app"},
            "`framework` and an import path in `app` are the form of an earlier httplab",
        ),
    ],
)
def test_a_wrong_stack_is_refused_naming_it(given: dict[str, Any], message: str) -> None:
    assert message in refused([given])


def test_a_port_used_twice_is_refused() -> None:
    assert "stacks s and t have the same port 5001" in refused([stack(), stack(name="t")])


def test_a_lock_without_hashes_is_refused(yours: dict[str, Any], tmp_path: Path) -> None:
    Path(yours["lock"]).write_text("gunicorn==23.0.0\n")
    message = refused([stack(app="shop")], {"shop": yours})
    assert "pins gunicorn without --hash" in message and "--generate-hashes" in message


def test_a_lock_without_the_kinds_server_is_refused(yours: dict[str, Any]) -> None:
    message = refused([stack(app="shop", server="waitress")], {"shop": yours})
    assert "has no waitress, which server kind waitress needs" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "no/such/dir"}, "source no/such/dir is neither a directory nor a .whl"),
        ({"module": "app"}, "module 'app' must be \"package.module:callable\""),
        ({"module": "apps.flask_app:app"}, "would be shadowed by the lab's own"),
        ({"protocol": "rsgi"}, "protocol 'rsgi' must be wsgi or asgi"),
        ({"environment": {"PYTHONPATH": "/x"}}, "PYTHONPATH is set by httplab itself"),
        ({"environment": {"TOKEN": "a\nExecStartPre=+/bin/sh"}}, "TOKEN has a control character"),
        ({"environment": {"lower": "x"}}, "'lower' is not a variable name"),
        ({"secret_files": {"KEY_FILE": "no/such/file"}}, "KEY_FILE: no file"),
        ({"setup": "python -m migrate"}, "setup must be a command as a list"),
        ({"health": "health"}, "health must be a path such as /health"),
        ({"state": "yes"}, "state must be true or false"),
    ],
)
def test_a_wrong_app_is_refused_naming_it(
    yours: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    assert message in refused([stack(app="shop")], {"shop": {**yours, **change}})


# Each kind's database pool (docs/method.md, "The database pool"), 3 processes a stack on a
# server of 2 CPUs: a process's share of the 256 connections is 85.
POOLS = {
    ("flask", "gunicorn"): 1,  # a sync worker: one request at a time
    ("flask", "waitress"): 4,  # its 4 threads
    ("fastapi", "uvicorn"): 85,  # an event loop: the share
    ("flask", "gunicorn-gevent"): 85,  # greenlets: the share
    ("flask", "granian-wsgi"): 85,  # 512 / 3 threads, more than the share
    ("flask", "hypercorn-wsgi"): 6,  # asyncio's default thread pool: min(32, 2 CPUs + 4)
    ("flask", "werkzeug"): 256,  # one process, a thread per connection: the whole budget
}


def pools(default_workers: int, **given: Any) -> dict[tuple[str, str], tuple[int, int]]:
    stacks = [
        stack(name=f"s{i}", app=app, server=server, port=5001 + i, **given)
        for i, (app, server) in enumerate(POOLS)
    ]
    records = MATRIX.deployment(
        stacks, LAB_APPS, SERVERS, "/opt/httplab", str(REPO), str(REQUIREMENTS),
        workers=default_workers, cpus=2, db_budget=256,
    )  # fmt: skip
    return {(r["app"], r["server"]): (r["processes"], r["db_pool_size"]) for r in records}


def test_each_process_pool_holds_what_it_can_use_at_once_within_its_share() -> None:
    assert pools(3) == {
        kind: (1 if kind[1] == "werkzeug" else 3, size) for kind, size in POOLS.items()
    }


def test_a_stack_of_more_processes_shares_the_budget_and_every_pool_holds_one() -> None:
    assert pools(3, workers=2)[("fastapi", "uvicorn")] == (2, 128)
    # 300 processes: a share of 0 is still 1 connection each.
    assert set(size for _, size in pools(300).values()) == {1, 256}
    assert pools(300)[("flask", "waitress")] == (300, 1)


@pytest.mark.parametrize("pool", [None, "lots", "2/workers", True])
def test_a_kind_without_a_pool_it_can_use_is_refused(pool: Any) -> None:
    servers = {**SERVERS, "gunicorn": {**SERVERS["gunicorn"], "db_pool": pool}}
    with pytest.raises(AnsibleFilterError, match="server kind gunicorn: db_pool"):
        MATRIX.deployment(
            [stack()], LAB_APPS, servers, "/opt/httplab", str(REPO), str(REQUIREMENTS)
        )


def test_the_lab_code_a_stack_gets_is_enough_for_the_probe(tmp_path: Path) -> None:
    """verify runs apps/probe.py from the copy on the server: every module it imports of
    bench_client must be shipped (LAB_CODE), or verify fails on every stack."""
    import shutil
    import subprocess
    import sys

    for entry in MATRIX.LAB_CODE:
        source, copy = REPO / entry, tmp_path / entry
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy)
    # -S: no site-packages, so not this checkout's editable install either; the probe needs
    # the standard library alone.
    found = subprocess.run(
        [sys.executable, "-S", "-c", "import apps.probe"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
