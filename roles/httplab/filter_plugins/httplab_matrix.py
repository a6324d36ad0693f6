"""The stack matrix resolved for deployment: the `httplab_deployment` filter.

A stack (httplab_stacks) is an app (httplab_apps) under a server kind
(vars/main.yml: httplab_stack_servers). This filter joins the three into one record per
stack with everything the tasks and the unit template need (its venv, code directory,
environment, secrets, setup command), and refuses a matrix that cannot work with a
message naming the entry and the fix: an unknown app or kind, a kind that does not speak
the app's protocol, a lock without hashes or without the kind's server, a value that
would change a unit file's meaning. Nothing is installed before it passes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

# \Z, not $: `$` also matches before a trailing newline, the very injection to stop.
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\Z")
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*\Z")
VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")
PATH = re.compile(r"^/[A-Za-z0-9._~/-]*\Z")
SIGNAL = re.compile(r"^SIG[A-Z0-9]+\Z")
# A kind's db_pool (vars/main.yml): a number, share, cpus+N or N/processes.
DB_POOL = re.compile(
    r"^(?:(?P<threads>[0-9]+)|share|cpus\+(?P<plus>[0-9]+)|(?P<total>[0-9]+)/processes)\Z"
)
# asyncio's default thread pool: min(32, CPUs + 4) threads (concurrent.futures.thread).
EXECUTOR_MAX_THREADS = 32
PROTOCOLS = ("wsgi", "asgi")
# Set by the unit itself: an app may not replace them.
RESERVED = re.compile(r"^(HTTPLAB_.*|PYTHON.*|PATH|STATE_DIRECTORY|LD_.*)\Z")
# The lab's own code, importable by every stack: an app of yours must not shadow it. Of
# bench_client, what apps/probe.py imports (the request declarations) and what they import.
LAB_PACKAGES = ("apps", "bench_client")
LAB_CODE = [
    "apps",
    "bench_client/__init__.py",
    "bench_client/request.py",
    "bench_client/results_format.py",
    "bench_client/settings.py",
]
# How a requirement line of a lock names its project (PEP 508, before any extras or pin).
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
APPS_FILE = "inventory/group_vars/all/apps.yml"
STACKS_FILE = "inventory/group_vars/all/stacks.yml"


def deployment(
    stacks: list[Mapping[str, Any]],
    apps: Mapping[str, Mapping[str, Any]],
    servers: Mapping[str, Mapping[str, Any]],
    app_root: str,
    checkout: str,
    default_lock: str,
    workers: int = 1,
    cpus: int = 1,
    db_budget: int = 256,
) -> list[dict[str, Any]]:
    """One record per stack, in the matrix's order; AnsibleFilterError names a wrong entry.

    ``workers``: a stack's processes unless its entry says (httplab_workers); ``cpus``: the
    server's CPUs; ``db_budget``: the database connections one stack may hold
    (httplab_db_pool_budget). With them each record says how many processes the stack
    runs and the size of each one's database pool."""
    if not isinstance(apps, Mapping):
        _fail(f"httplab_apps must map app names to apps ({APPS_FILE})")
    resolved = {name: _app(str(name), app, checkout, default_lock) for name, app in apps.items()}
    sizes = {"workers": int(workers), "cpus": int(cpus), "db_budget": int(db_budget)}
    records = [_stack(entry, resolved, servers, app_root, checkout, sizes) for entry in stacks]
    _unique(records, "name")
    _unique(records, "port")
    return records


def _fail(message: str) -> None:
    raise AnsibleFilterError(message)


def _unique(records: list[dict[str, Any]], key: str) -> None:
    seen: dict[Any, str] = {}
    for record in records:
        if record[key] in seen:
            _fail(
                f"stacks {seen[record[key]]} and {record['name']} have the same {key} "
                f"{record[key]}: each stack needs its own ({STACKS_FILE})"
            )
        seen[record[key]] = record["name"]


def _path(value: Any, checkout: str) -> str:
    """A control-node path: absolute, or relative to the httplab checkout."""
    return os.path.normpath(Path(checkout) / Path(str(value)).expanduser())


def _app(name: str, app: Any, checkout: str, default_lock: str) -> dict[str, Any]:
    where = f"httplab_apps: {name}"
    if not NAME.match(name):
        _fail(f"{where}: an app's name is lowercase letters, digits and dashes")
    if not isinstance(app, Mapping):
        _fail(f"{where}: want an app (module, protocol...), not {app!r}")
    module = app.get("module")
    if not isinstance(module, str) or not MODULE.match(module):
        _fail(f'{where}: module {module!r} must be "package.module:callable" (letters, digits, _)')
    protocol = app.get("protocol")
    if protocol not in PROTOCOLS:
        _fail(f"{where}: protocol {protocol!r} must be wsgi or asgi")
    own = "requests" in app  # an app of yours declares what to measure; the lab's do not
    source = _source(where, app.get("source"), checkout)
    if own and module.split(".")[0].split(":")[0] in LAB_PACKAGES:
        _fail(f"{where}: module {module} would be shadowed by the lab's own {LAB_PACKAGES}")
    lock = _path(app.get("lock") or default_lock, checkout)
    return {
        "name": name,
        "module": module,
        "protocol": protocol,
        "framework": str(app.get("framework") or name),
        "own": own,
        "source": source,
        "lock": lock,
        "environment": _environment(where, app.get("environment") or {}),
        "secrets": _variables(where, "secrets", app.get("secrets") or []),
        "secret_files": _secret_files(where, app.get("secret_files") or {}, checkout),
        "state": _flag(where, "state", app.get("state", False)),
        "setup": _setup(where, app.get("setup")),
        "health": _health(where, app.get("health", "/health")),
        "requests": app.get("requests") or [],
    }


def _source(where: str, value: Any, checkout: str) -> dict[str, str] | None:
    """Where an app of yours comes from: a directory of code or a wheel, on the control node."""
    if value is None:
        return None
    path = _path(value, checkout)
    if path.endswith(".whl") and Path(path).is_file():
        return {"kind": "wheel", "path": path, "sha256": _sha256(path)}
    if Path(path).is_dir():
        return {"kind": "directory", "path": path}
    _fail(f"{where}: source {value} is neither a directory nor a .whl file on the control node")
    return None


def _environment(where: str, given: Any) -> dict[str, str]:
    if not isinstance(given, Mapping):
        _fail(f"{where}: environment must map variable names to values, not {given!r}")
    environment = {}
    for name, value in given.items():
        _variable(where, "environment", name)
        if isinstance(value, Mapping | list) or value is None:
            _fail(f"{where}: environment {name} must be text or a number, not {value!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            _fail(f"{where}: environment {name} has a control character (a newline?)")
        environment[str(name)] = text
    return environment


def _variable(where: str, key: str, name: Any) -> str:
    if not isinstance(name, str) or not VARIABLE.match(name):
        _fail(f"{where}: {key}: {name!r} is not a variable name (capitals, digits, _)")
    if RESERVED.match(name):
        _fail(f"{where}: {key}: {name} is set by httplab itself; choose another name")
    return name


def _variables(where: str, key: str, given: Any) -> list[str]:
    if not isinstance(given, list):
        _fail(f"{where}: {key} must be a list of variable names, not {given!r}")
    return [_variable(where, key, name) for name in given]


def _secret_files(where: str, given: Any, checkout: str) -> dict[str, str]:
    if not isinstance(given, Mapping):
        _fail(f"{where}: secret_files must map variable names to files, not {given!r}")
    files = {}
    for name, value in given.items():
        _variable(where, "secret_files", name)
        path = _path(value, checkout)
        if not Path(path).is_file():
            _fail(f"{where}: secret_files: {name}: no file {path} on the control node")
        files[name] = path
    return files


def _flag(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _setup(where: str, given: Any) -> list[str]:
    """The command run before each start, as argv; "python" is the stack's venv's."""
    if given is None:
        return []
    if not isinstance(given, list) or not given or not all(isinstance(a, str) for a in given):
        _fail(f'{where}: setup must be a command as a list, e.g. ["python", "-m", "app.migrate"]')
    if any(ord(c) < 32 for arg in given for c in arg):
        _fail(f"{where}: setup has a control character (a newline?)")
    return list(given)


def _health(where: str, value: Any) -> str:
    if not isinstance(value, str) or not PATH.match(value):
        _fail(f"{where}: health must be a path such as /health, not {value!r}")
    return value


def _sha256(path: str) -> str:
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _lock_projects(where: str, lock: str) -> set[str]:
    """The projects a lock pins (PEP 503 names); every one of them must carry a hash."""
    try:
        text = Path(lock).read_text(encoding="utf-8")
    except OSError as error:
        _fail(f"{where}: lock {lock}: {error.strerror or error}")
    projects, unhashed = set(), []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        match = REQUIREMENT.match(line)
        if not match:
            continue  # a blank line, a comment or an option (--index-url...)
        projects.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
        if "--hash=" not in line:
            unhashed.append(match.group(1))
    if unhashed:
        _fail(
            f"{where}: lock {lock} pins {', '.join(unhashed)} without --hash: lock it with "
            "hashes (uv pip compile --generate-hashes, or pip-compile --generate-hashes)"
        )
    return projects


def _stack(
    entry: Any,
    apps: Mapping[str, dict[str, Any]],
    servers: Mapping[str, Mapping[str, Any]],
    app_root: str,
    checkout: str,
    sizes: Mapping[str, int],
) -> dict[str, Any]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        _fail(f"httplab_stacks: an entry without a name: {entry!r} ({STACKS_FILE})")
    name = entry["name"]
    where = f"httplab_stacks: {name}"
    if not NAME.match(name):
        _fail(f"{where}: a stack's name is lowercase letters, digits and dashes")
    port = entry.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        _fail(f"{where}: port {port!r} must be a whole number in 1024-65535")
    workers = entry.get("workers")
    if workers is not None and (not isinstance(workers, int) or not 1 <= workers <= 9999):
        _fail(f"{where}: workers {workers!r} must be a whole number 1-9999")
    if "framework" in entry or ":" in str(entry.get("app")):
        _fail(
            f"{where}: `framework` and an import path in `app` are the form of an earlier "
            f"httplab: name an app of httplab_apps instead ({APPS_FILE})"
        )
    app = apps.get(entry.get("app"))  # type: ignore[arg-type]
    if app is None:
        _fail(f"{where}: app {entry.get('app')!r} is not in httplab_apps ({', '.join(apps)})")
    kind = servers.get(entry.get("server"))  # type: ignore[arg-type]
    if kind is None:
        _fail(
            f"{where}: server {entry.get('server')!r} is not a server kind ({', '.join(servers)})"
        )
    server = entry["server"]
    if not SIGNAL.match(kind.get("stop_signal", "SIGTERM")):
        _fail(f"server kind {server}: stop_signal {kind['stop_signal']!r} is not a signal name")
    if kind["protocol"] != app["protocol"]:
        speaking = [k for k, v in servers.items() if v["protocol"] == app["protocol"]]
        _fail(
            f"{where}: server kind {server} speaks {kind['protocol'].upper()}, app {app['name']} "
            f"is {app['protocol'].upper()}: choose a kind that speaks it ({', '.join(speaking)})"
        )
    frameworks = kind.get("frameworks")
    if frameworks and app["framework"] not in frameworks:
        _fail(f"{where}: server kind {server} runs only {', '.join(frameworks)} apps")
    lock = _path(entry["lock"], checkout) if entry.get("lock") else app["lock"]
    missing = set(kind.get("packages") or []) - _lock_projects(where, lock)
    if missing:
        _fail(
            f"{where}: lock {lock} has no {', '.join(sorted(missing))}, which server kind "
            f"{server} needs: add it to the lock's requirements and lock again"
        )
    processes = (entry.get("workers") or sizes["workers"]) if kind.get("multiprocess") else 1
    pool = db_pool_size(server, kind.get("db_pool"), processes, sizes["cpus"], sizes["db_budget"])
    return _record(entry, app, kind, lock, app_root) | {
        "processes": processes,
        "db_pool_size": pool,
    }


def db_pool_size(server: str, pool: Any, processes: int, cpus: int, budget: int) -> int:
    """The database connections one process of a kind can use at once, within its share of
    the budget (docs/method.md, "The database pool"): 1 for a sync worker, its threads for a
    threaded server, the share itself for an event loop or greenlets; at least 1."""
    match = DB_POOL.match(str(pool))
    if pool is None or isinstance(pool, bool) or not match:
        _fail(
            f"server kind {server}: db_pool {pool!r} must say how many database connections "
            "one process can use at once: a number (its threads), share, cpus+N or "
            "N/processes (roles/httplab/vars/main.yml)"
        )
    share = max(1, budget // processes)
    if match["threads"]:
        wanted = int(match["threads"])
    elif match["plus"]:
        wanted = min(EXECUTOR_MAX_THREADS, cpus + int(match["plus"]))
    elif match["total"]:
        wanted = int(match["total"]) // processes
    else:
        wanted = share
    return max(1, min(wanted, share))


def _record(
    entry: Mapping[str, Any],
    app: Mapping[str, Any],
    kind: Mapping[str, Any],
    lock: str,
    app_root: str,
) -> dict[str, Any]:
    """What the tasks and the unit template use of one stack; server paths under app_root."""
    source = app["source"]
    # Content-addressed: stacks whose lock (and wheel) agree share one read-only venv.
    identity = hashlib.sha256(_sha256(lock).encode())
    if source and source["kind"] == "wheel":
        identity.update(source["sha256"].encode())
    venv = f"{app_root}/venvs/{identity.hexdigest()[:16]}"
    code = f"{app_root}/apps/{app['name']}" if source else f"{app_root}/app"
    environment = dict(app["environment"])
    module = app["module"]
    if app["own"]:
        # Yours is served behind the lab's request limits (apps/serve.py).
        environment.update(HTTPLAB_APP=module, HTTPLAB_PROTOCOL=app["protocol"])
        module = "apps.serve:app"
    secrets_dir = f"{app_root}/secrets/{app['name']}"
    setup = app["setup"]
    return {
        "name": entry["name"],
        "port": entry["port"],
        "workers": entry.get("workers"),
        "app": app["name"],
        "module": module,
        "protocol": app["protocol"],
        "framework": app["framework"],
        "server": entry["server"],
        "own": app["own"],
        "lock": lock,
        "venv": venv,
        # An app of yours as a wheel: the control node's file, and its copy on the server.
        "wheel": (
            {"src": source["path"], "dest": f"{code}/{Path(source['path']).name}"}
            if source and source["kind"] == "wheel"
            else None
        ),
        "source": source["path"] if source and source["kind"] == "directory" else None,
        "code": code,
        "pythonpath": [code, f"{app_root}/app"] if source else [code],
        "environment": environment,
        "secrets": app["secrets"],
        "secrets_file": f"{secrets_dir}.env" if app["secrets"] else None,
        "secret_files": [
            {"name": name, "src": path, "dest": f"{secrets_dir}/{name}"}
            for name, path in app["secret_files"].items()
        ],
        "state": app["state"],
        "setup": [f"{venv}/bin/python", *setup[1:]] if setup[:1] == ["python"] else setup,
        "health": app["health"],
        "requests": app["requests"],
        "stop_signal": kind.get("stop_signal", "SIGTERM"),
    }


def code_sources(plan: list[Mapping[str, Any]], checkout: str, app_root: str) -> list[dict]:
    """What code.yml deploys: the lab's code (its apps, and what apps/probe.py judges
    declared requests with), then each directory of yours, once per app."""
    sources = [{"dir": checkout, "members": LAB_CODE, "dest": f"{app_root}/app"}]
    for record in plan:
        if record["source"] and all(s["dest"] != record["code"] for s in sources):
            sources.append({"dir": record["source"], "members": ["."], "dest": record["code"]})
    return sources


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"httplab_deployment": deployment, "httplab_code_sources": code_sources}
