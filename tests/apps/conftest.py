"""Run each stack of the matrix for real on loopback: the server venv from the
wheelhouse, and the exact command line and environment the systemd unit gets
(rendered from the role's unit template), so these tests also cover the unit."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.apps import postgres as pg

REPO = Path(__file__).resolve().parents[2]
STACK_ROLE = REPO / "roles" / "httplab"
REQUIREMENTS = REPO / "requirements" / "server.txt"
PYTHON_TAG = f"{sys.version_info.major}.{sys.version_info.minor}"
WHEELS = REPO / "wheelhouse" / "server" / f"py{PYTHON_TAG}"
VENV_CACHE = REPO / ".lab" / "test-venvs"
START_TIMEOUT_S = 60.0


def _filter_plugin() -> Any:
    """The role's matrix filter (roles/httplab/filter_plugins/httplab_matrix.py)."""
    path = STACK_ROLE / "filter_plugins" / "httplab_matrix.py"
    spec = importlib.util.spec_from_file_location("httplab_matrix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MATRIX = _filter_plugin()


def role_vars() -> dict[str, Any]:
    return yaml.safe_load((STACK_ROLE / "vars" / "main.yml").read_text())


def group_vars(name: str) -> Any:
    path = REPO / "inventory" / "group_vars" / "all" / f"{name}.yml"
    return yaml.safe_load(path.read_text())[f"httplab_{name}"]


def load_stacks(stacks: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The matrix (default: inventory/group_vars/all/stacks.yml) as the role deploys it:
    each stack joined with its app and server kind (the role's own filter)."""
    return MATRIX.deployment(
        group_vars("stacks") if stacks is None else stacks,
        group_vars("apps"),
        role_vars()["httplab_stack_servers"],
        "/opt/httplab",
        str(REPO),
        str(REQUIREMENTS),
    )


def matrix(name: str) -> list[dict[str, Any]]:
    """A preset's stacks: inventory/matrices/NAME.yml's httplab_stacks."""
    path = REPO / "inventory" / "matrices" / f"{name}.yml"
    return yaml.safe_load(path.read_text())["httplab_stacks"]


def stacks_to_test() -> list[dict[str, Any]]:
    """The stacks the app tests run: the paper's matrix (stacks.yml) and the modern preset,
    each as the role deploys it, each (app, server kind) once (the first stack naming it)."""
    stacks: dict[tuple[str, str], dict[str, Any]] = {}
    for stack in load_stacks() + load_stacks(matrix("modern")):
        stacks.setdefault((stack["app"], stack["server"]), stack)
    return list(stacks.values())


def lock_venv(lock: Path) -> Path:
    """A venv with ``lock`` installed from the wheelhouse, cached by the lock's hash."""
    if not WHEELS.is_dir():
        pytest.fail(f"no wheels in {WHEELS}: run `make wheelhouse` first", pytrace=False)
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    venv = VENV_CACHE / f"server-py{PYTHON_TAG}-{digest}"
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    # Both pytest workers may want it at once on a fresh checkout: one builds, the other
    # waits (two pip installs into one venv break each other).
    with (VENV_CACHE / f"{venv.name}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            _build_lock_venv(venv, lock)
    return venv


def _build_lock_venv(venv: Path, lock: Path) -> None:
    # A venv's scripts embed its path, so it is built in place; the marker says
    # it finished (an interrupted build is thrown away and redone).
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-index",
            "--find-links",
            str(WHEELS),
            "-r",
            str(lock),
        ],
        check=True,
    )
    (venv / ".complete").touch()


@pytest.fixture(scope="session")
def server_venv() -> Path:
    """A venv with requirements/server.txt, the lab's apps' lock."""
    return lock_venv(REQUIREMENTS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def role_defaults() -> dict[str, Any]:
    """The stack role's own defaults that are plain values (limits, caps, timeouts)."""
    defaults = yaml.safe_load((STACK_ROLE / "defaults" / "main.yml").read_text())
    return {name: value for name, value in defaults.items() if "{{" not in str(value)}


def render_unit(stack: dict[str, Any], venv: Path, port: int, access_log: bool) -> str:
    """The role's unit for this stack (a record of load_stacks), bound to loopback with 2
    workers, running the code of this checkout (and an app of yours from its source)."""
    variables = role_vars()
    kind = variables["httplab_stack_servers"][stack["server"]]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # The one Ansible filter the template uses (variables may arrive as "true" from -e).
    env.filters["bool"] = lambda value: str(value).lower() in ("1", "true", "yes", "on")
    defaults = role_defaults()
    # The kinds' flags for limits and timeouts (httplab_stack_gunicorn_limits...).
    flags = {
        name: env.from_string(value).render(defaults)
        for name, value in variables.items()
        if name.endswith("_limits") and isinstance(value, str)
    }
    command = env.from_string(kind["command"]).render(
        defaults,
        **flags,
        _venv=venv,
        _app=stack["module"],
        _bind="127.0.0.1",
        _port=port,
        _workers=2,
        _access_log=kind["access_log"] if access_log else "",
    )
    here = {
        **stack,
        "port": port,
        "code": str(REPO),
        "pythonpath": [p for p in (stack["source"], str(REPO)) if p],
        "secrets_file": None,
        "setup": [
            str(venv / "bin" / "python") if word == stack["venv"] + "/bin/python" else word
            for word in stack["setup"]
        ],
    }
    template = env.from_string((STACK_ROLE / "templates" / "httplab-stack.service.j2").read_text())
    return template.render(
        defaults,
        ansible_managed="test",
        _allowed_addresses=[],
        _stack=here,
        _command=command,
        httplab_service_user="nobody",
        httplab_service_group="nogroup",
        httplab_max_body_bytes=1048576,
        httplab_access_log=access_log,
        httplab_allowed_hosts=["127.0.0.1", "localhost"],
    )


@dataclass
class UnitSettings:
    """What a rendered unit runs and with which environment (quotes and %% undone as
    systemd does)."""

    command: list[str]
    setup: list[str]  # ExecStartPre, or []
    environment: dict[str, str]


def unit_settings(unit: str) -> UnitSettings:
    settings = UnitSettings([], [], {})
    for line in unit.splitlines():
        key, _, value = line.partition("=")
        words = [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(value)]
        if key == "ExecStart":
            settings.command = words
        elif key == "ExecStartPre":
            settings.setup = words
        elif key == "Environment":
            name, _, setting = words[0].partition("=")
            settings.environment[name] = setting
    return settings


@dataclass
class RunningStack:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    server: str = ""  # its server kind

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} within {START_TIMEOUT_S} s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_stack(
    stack: dict[str, Any],
    venv: Path,
    log: Path,
    access_log: bool = False,
    environment: dict[str, str] | None = None,
) -> RunningStack:
    """A record of load_stacks, started as its unit would start it, answering its health path;
    `environment` is what an EnvironmentFile would add (the database's libpq variables)."""
    port = free_port()
    unit = unit_settings(render_unit(stack, venv, port, access_log))
    for name in stack["secrets"]:
        unit.environment[name] = "test-only-secret"  # the unit's EnvironmentFile
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **unit.environment,
        **(environment or {}),
    }
    if stack["state"]:
        env["STATE_DIRECTORY"] = str(log.parent / "state")  # systemd's StateDirectory=
        Path(env["STATE_DIRECTORY"]).mkdir(exist_ok=True)
    cwd = stack["source"] or REPO
    with log.open("wb") as sink:
        if unit.setup:
            subprocess.run(unit.setup, cwd=cwd, env=env, stdout=sink, stderr=sink, check=True)
        process = subprocess.Popen(
            unit.command,
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url + stack["health"], process, log)
    except BaseException:
        stop(process)
        raise
    return RunningStack(stack["name"], base_url, process, log, stack["server"])


@pytest.fixture(scope="module", params=stacks_to_test(), ids=lambda stack: stack["name"])
def running_stack(
    request: pytest.FixtureRequest, server_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    stack = request.param
    log = tmp_path_factory.mktemp(stack["name"]) / "server.log"
    running = start_stack(stack, server_venv, log)
    yield running
    stop(running.process)


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.Cluster]:
    """A private PostgreSQL cluster, seeded with apps/database.sql, for the whole session
    (a test that stops it starts it again)."""
    bin_dir = pg.find_bin()
    if bin_dir is None:
        pytest.skip(
            "needs PostgreSQL's server (/usr/lib/postgresql/N/bin/initdb): "
            "apt-get install --no-install-recommends postgresql (make test installs it)"
        )
    cluster = pg.Cluster(bin_dir)
    try:
        cluster.init()
    except BaseException:
        print(cluster.log())
        cluster.remove()
        raise
    yield cluster
    cluster.remove()


# What the role's EnvironmentFile gives a stack besides libpq's variables.
POOL_SIZE = 4
WORKERS = 2  # render_unit's


@pytest.fixture(scope="module", params=stacks_to_test(), ids=lambda stack: stack["name"])
def db_stack(
    request: pytest.FixtureRequest,
    server_venv: Path,
    postgres: pg.Cluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningStack]:
    """Each stack to test, with the session's database (libpq's variables, the pool size)."""
    stack = request.param
    log = tmp_path_factory.mktemp(stack["name"]) / "server.log"
    environment = {**postgres.env, "HTTPLAB_DB_POOL_SIZE": str(POOL_SIZE)}
    running = start_stack(stack, server_venv, log, environment=environment)
    yield running
    stop(running.process)
