"""The stack matrix as a run needs it: each stack, its app, and the requests the app answers.

A stack is an app (httplab_apps: a framework's implementation of the lab's contract, or
one of yours) under a server kind (roles/httplab/vars/main.yml). The role deploys the
matrix; a run plans the cells from it: each stack is measured on the requests asked for
(httplab_bench_requests) that its app answers. The lab's apps answer the paper's GET and
POST and the standard workloads (json ... io, each database workload at the run's levels of
connections: db-c64); an app of yours answers the requests it declares (a database
workload it names, with its levels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bench_client.request import BUILTIN, Request, RequestError, leveled
from bench_client.results_format import check_name

MATRIX_FILE = "inventory/group_vars/all/stacks.yml"
APPS_FILE = "inventory/group_vars/all/apps.yml"


class MatrixError(ValueError):
    """The matrix cannot be planned from; the message names the entry and what to fix."""


# What a lab app is measured on when a run names no requests: the paper's two.
PAPER_REQUESTS = ("GET", "POST")


@dataclass(frozen=True)
class Stack:
    """One entry of the stack matrix, as far as a run relies on it (the role checks the rest)."""

    name: str
    port: int
    app: str
    server: str
    requests: tuple[str, ...]  # the requests its app answers
    defaults: tuple[str, ...]  # those it is measured on when a run names none
    health: str = "/health"  # the path that answers 200 once it is up


@dataclass(frozen=True)
class Matrix:
    stacks: Mapping[str, Stack]
    requests: Mapping[str, Request]  # every request known: the built-in, declared, apps' own


def structured(value: Any) -> Any:
    """A list or mapping given as text (-e name=[...] reaches Ansible as a string), parsed."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise MatrixError(f"not JSON or YAML: {value!r} ({error})") from None
    return value


def read_matrix(stacks: Any, apps: Any, declared: Any = None, levels: Sequence[int] = ()) -> Matrix:
    """httplab_stacks, httplab_apps and httplab_requests (requests any app may be measured
    on), checked; MatrixError names what is wrong. ``levels``: the run's levels of
    connections for the database workloads (httplab_bench_db_concurrency)."""
    stacks = structured(stacks)
    if stacks is None:
        raise MatrixError(
            "no stack matrix (httplab_stacks): keep the inventory in inventory/ so that "
            f"{MATRIX_FILE} applies, or give httplab_stacks"
        )
    if not isinstance(stacks, list):
        raise MatrixError(f"httplab_stacks must be a list of stacks, not {stacks!r}")
    catalogue = {**BUILTIN, **leveled(levels)}
    _declare(catalogue, structured(declared) or [], "httplab_requests")
    answers = _apps(structured(apps), catalogue) if stacks else {}
    matrix: dict[str, Stack] = {}
    for entry in stacks:
        stack = _stack(entry, answers)
        if stack.name in matrix:
            raise MatrixError(f"httplab_stacks: {stack.name} is listed twice")
        matrix[stack.name] = stack
    return Matrix(matrix, catalogue)


def _declare(catalogue: dict[str, Request], items: Sequence[Any], where: str) -> list[str]:
    """Add declared requests (names of known ones, or declarations) to ``catalogue``; their
    names."""
    if not isinstance(items, list):
        raise MatrixError(f"{where}: want a list of requests, not {items!r}")
    names = []
    for item in items:
        if isinstance(item, str):
            if item not in catalogue:
                raise MatrixError(f"{where}: no request named {item!r} ({', '.join(catalogue)})")
            names.append(item)
            continue
        try:
            request = Request.from_json(item)
        except RequestError as error:
            raise MatrixError(f"{where}: {error}") from None
        if request.name in catalogue and catalogue[request.name] != request:
            raise MatrixError(f"{where}: request {request.name} is declared twice, differently")
        catalogue[request.name] = request
        names.append(request.name)
    return names


@dataclass(frozen=True)
class _App:
    requests: tuple[str, ...]
    defaults: tuple[str, ...]
    health: str


def _apps(apps: Any, catalogue: dict[str, Request]) -> dict[str, _App]:
    """What a run needs of each app, by app name. An app that lists no requests (the lab's
    own) answers the built-in ones and those of httplab_requests, and is measured on the
    paper's two unless a run names others; one of yours on those it lists."""
    if apps is None:
        raise MatrixError(
            f"no apps (httplab_apps): keep the inventory in inventory/ so that {APPS_FILE} applies"
        )
    if not isinstance(apps, dict):
        raise MatrixError(f"httplab_apps must map app names to apps, not {apps!r}")
    shared = tuple(catalogue)
    answers = {}
    for name, app in apps.items():
        if not isinstance(app, dict):
            raise MatrixError(f"httplab_apps: {name}: want an app (module, protocol), not {app!r}")
        if "requests" in app:
            where = f"httplab_apps: {name}: requests"
            requests = defaults = tuple(_declare(catalogue, app["requests"], where))
            # A database workload it answers, it answers at every level.
            requests += tuple(
                level
                for level, request in catalogue.items()
                if request.concurrency is not None and request.base in requests
            )
        else:
            requests, defaults = shared, PAPER_REQUESTS
        health = app.get("health", "/health")
        if not isinstance(health, str) or not health.startswith("/"):
            raise MatrixError(f"httplab_apps: {name}: health must be a path, not {health!r}")
        answers[str(name)] = _App(requests, defaults, health)
    return answers


def _stack(entry: Any, answers: Mapping[str, _App]) -> Stack:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise MatrixError(f"httplab_stacks: an entry without a name: {entry!r}")
    name = entry["name"]
    try:
        check_name("stack", name)
        port = int(entry.get("port"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise MatrixError(f"httplab_stacks: {name}: {error}") from None
    app = entry.get("app")
    if "framework" in entry or (isinstance(app, str) and ":" in app):
        raise MatrixError(
            f"httplab_stacks: {name}: `framework` and an import path in `app` are the form of "
            "an earlier httplab: name an app of httplab_apps instead (app: flask, "
            f"django, django-asgi, fastapi...; {APPS_FILE})"
        )
    if app not in answers:
        raise MatrixError(
            f"httplab_stacks: {name}: app {app!r} is not in httplab_apps "
            f"(choose from {', '.join(answers)}; {APPS_FILE})"
        )
    known = answers[app]
    server = str(entry.get("server"))
    return Stack(name, port, app, server, known.requests, known.defaults, known.health)
