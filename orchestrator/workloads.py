"""The standard workloads in a run: which names a selection means, at what concurrency and
warm-up each cell is measured (in which modes: bench_client.request.measured_in), and whether
the run needs the database.

The one decision of the database (``database_needed``): a run provisions, starts and stops
PostgreSQL (roles/httplab_postgres, ``httplab_database_enabled``) exactly when it measures a
database workload (db, queries, fortunes, updates, at any level). The playbooks take it from
here through the filter plugin ``httplab_database_needed`` (plugins/filter/), which
inventory/group_vars/all/database.yml sets ``httplab_database_enabled`` with, and
``httplab settings --check`` refuses an ``httplab_database_enabled`` given against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench_client.request import (
    DATABASE_TYPES,
    Request,
    check_selection,
    expand,
    leveled,
    needs_database,
)
from bench_client.settings import PREFIX, SETTINGS, Resolved, SettingError
from orchestrator.matrix import MatrixError, read_matrix, structured

DATABASE_VARIABLE = "httplab_database_enabled"


def selected(settings: Resolved, known: Iterable[str]) -> Resolved:
    """``settings`` with httplab_bench_requests as a run measures it: ``workloads`` made the
    seven workloads, each database workload with its levels (bench_client.request.expand);
    SettingError for a name that is none of ``known`` (with the closest)."""
    names = settings["requests"]
    levels = settings["db_concurrency"]
    for name in names:
        base, _, level = name.rpartition("-c")
        if base in DATABASE_TYPES and level.isdigit() and int(level) not in levels:
            raise SettingError(
                f"{SETTINGS['requests'].variable}: {name} is {base} at {level} connections, "
                f"which is not one of {SETTINGS['db_concurrency'].variable} "
                f"({', '.join(map(str, levels)) or 'none'}): add {level} there"
            )
    try:
        check_selection(names, list(known))
    except ValueError as error:
        raise SettingError(f"{SETTINGS['requests'].variable}: {error}") from None
    values = {**settings.values, "requests": expand(names, levels)}
    return Resolved(values, settings.sources)


def cell_settings(settings: Mapping[str, Any], request: Request) -> dict[str, Any]:
    """A cell's bench_client settings: the run's, with a request's own concurrency, and at
    least one untimed warm-up request per connection then (each connection of the stack's
    pool opened and its first queries made before timing starts)."""
    if request.concurrency is None:
        return dict(settings)
    warmup = max(int(settings.get("warmup") or 0), request.concurrency)
    return {**settings, "concurrency": request.concurrency, "warmup": warmup}


def database_needed(requests: Iterable[Request]) -> bool:
    """THE decision: the run needs PostgreSQL exactly when it measures a database workload."""
    return needs_database(requests)


def database_needed_for(names: Any, levels: Any = None, declared: Any = None) -> bool:
    """The decision from a run's variables as Ansible has them: httplab_bench_requests
    (a list or "a,b"), httplab_bench_db_concurrency and httplab_requests. A name that is no
    request is left to the settings check (`httplab settings --check`), which names it."""
    names = SETTINGS["requests"].parse(names if names is not None else [])
    levels = SETTINGS["db_concurrency"].parse(
        SETTINGS["db_concurrency"].default if levels is None else levels
    )
    try:
        catalogue = read_matrix([], {}, structured(declared) or [], levels).requests
    except MatrixError:
        catalogue = {**leveled(levels)}
    return database_needed(catalogue[name] for name in expand(names, levels) if name in catalogue)


def check_database(run_vars: Mapping[str, Any], requests: Iterable[Request]) -> None:
    """SettingError when httplab_database_enabled is given false for a run that measures a
    database workload: its requests would all fail."""
    given = run_vars.get(DATABASE_VARIABLE)
    if given is None or _truthy(given) or not database_needed(requests):
        return
    raise SettingError(
        f"{DATABASE_VARIABLE} is false, but the run measures database workloads "
        f"({PREFIX}requests): leave {DATABASE_VARIABLE} unset (the run sets it from the "
        "requests), or leave db, queries, fortunes and updates out"
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
