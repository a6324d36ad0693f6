"""A run: its settings checked, its folder and manifest created or resumed, its plan.

Everything about a run that can be wrong is found here, before any host is reached: a
setting's value, a stack, mode or request that does not exist (with the closest name), a
stack matrix that cannot be, a resumed run asked to measure something else.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_client.request import Request, RequestError, measured_in
from bench_client.results_format import MODES, Measurement, check_name
from bench_client.settings import SETTINGS, Resolved, SettingError, check_run, resolve
from orchestrator.manifest import Manifest, git_commit
from orchestrator.matrix import Matrix, MatrixError, Stack, read_matrix
from orchestrator.plan import Group, build_plan, group, unfinished_sweeps
from orchestrator.remote.ports import plan_warnings
from orchestrator.run_vars import EXTRA, RunVars
from orchestrator.workloads import check_database, selected

ROOT = Path(__file__).resolve().parents[1]


class RunError(ValueError):
    """A run cannot be planned as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Run:
    manifest: Manifest
    settings: Resolved
    matrix: Mapping[str, Stack]
    cells: Mapping[str, Sequence[str]]  # each stack measured: the requests it is measured on
    requests: Mapping[str, Request]  # the requests this run measures, by name
    resumed: bool
    planned: Sequence[Measurement]
    pending: Sequence[Measurement]
    groups: Sequence[Group]
    warnings: Sequence[str]

    @property
    def run_dir(self) -> Path:
        return self.manifest.run_dir


def checked_settings(run_vars: RunVars) -> tuple[Resolved, Matrix]:
    """The run's settings and matrix, each checked; SettingError or RunError. The requests
    are those the run measures: ``workloads`` and each database workload's levels expanded
    (orchestrator/workloads.py)."""
    given, sources = run_vars.settings()
    settings = resolve(given)
    settings = Resolved(settings.values, {**settings.sources, **sources})
    try:
        matrix = read_matrix(
            run_vars.get("httplab_stacks"),
            run_vars.get("httplab_apps"),
            run_vars.get("httplab_requests"),
            settings["db_concurrency"],
        )
    except MatrixError as error:
        raise RunError(str(error)) from None
    settings = selected(settings, matrix.requests)
    check_run(settings, stacks=list(matrix.stacks), requests=list(matrix.requests))
    check_database(run_vars.values, [matrix.requests[name] for name in settings["requests"]])
    cells_asked(settings, matrix)  # a stack no request of the run is for, said now
    return settings, matrix


def cells_asked(settings: Resolved, matrix: Matrix) -> dict[str, list[str]]:
    """Each stack of the run and the requests it is measured on: those named that its app
    answers, or, with none named, its app's own. A stack that answers none of those named,
    or a named request no stack answers, is refused."""
    stacks = settings["stacks"] or list(matrix.stacks)
    if not stacks:
        raise RunError("the stack matrix (httplab_stacks) is empty: nothing to measure")
    named = list(settings["requests"])
    if not named:
        return {s: list(matrix.stacks[s].defaults) for s in stacks}
    cells = {s: [r for r in named if r in matrix.stacks[s].requests] for s in stacks}
    variable = SETTINGS["requests"].variable
    for stack, requests in cells.items():
        if not requests:
            answers = ", ".join(matrix.stacks[stack].requests)
            raise RunError(
                f"stack {stack} (app {matrix.stacks[stack].app}) answers none of the requests "
                f"named ({', '.join(named)}): it answers {answers}; name them in {variable}, "
                "leave the stack out, or leave the requests to each app ([])"
            )
    unanswered = [r for r in named if not any(r in cells[s] for s in cells)]
    if unanswered:
        raise RunError(
            f"no stack of the run answers {', '.join(unanswered)}: leave it out of "
            f"{variable}, or add a stack whose app answers it"
        )
    return cells


def open_run(run_vars: RunVars, results: Path) -> Run:
    """Create the run folder and its manifest, or resume the run httplab_run_id names."""
    settings, matrix = checked_settings(run_vars)
    requests = matrix.requests
    run_id = str(run_vars.get("httplab_run_id") or "") or datetime.now(timezone.utc).strftime(
        "%Y%m%dT%H%M%SZ"
    )
    try:
        run_dir = results / check_name("run id", run_id)
    except ValueError as error:
        raise RunError(f"httplab_run_id: {error}") from None
    if (run_dir / "manifest.json").exists():
        manifest = Manifest.load(run_dir)
        settings = _resumed(manifest, settings)
        resumed = True
    else:
        settings = _chosen(settings, matrix)
        manifest = Manifest.create(
            run_dir,
            run_id=run_id,
            seed=settings["seed"],
            git=git_commit(ROOT),
            settings=dict(settings.values),
            sources=dict(settings.sources),
            requests={name: requests[name].as_json() for name in settings["requests"]},
            cells=cells_asked(settings, matrix),
            # What the inventory says of the lab (the embedded lab's inventory says so).
            lab={
                "kind": run_vars.get("httplab_lab") or "real",
                "notes": run_vars.get("httplab_lab_notes") or [],
            },
        )
        resumed = False
    _point_latest_at(results, run_id)
    # A resumed run measures the requests as it recorded them.
    declared = {**{n: r.as_json() for n, r in requests.items()}, **manifest.data["requests"]}
    try:
        measured = {name: Request.from_json(declared[name]) for name in settings["requests"]}
    except (KeyError, RequestError) as error:
        raise RunError(f"run {run_id}: request {error} is not declared") from None
    # A run records its cells; one of an earlier httplab measured every request on every stack.
    cells = manifest.data.get("cells") or dict.fromkeys(settings["stacks"], settings["requests"])
    planned = build_plan(
        cells,
        settings["modes"],
        settings["repetitions"],
        settings["seed"],
        settings["design"],
        measured_in(measured),
    )
    pending = [m for m in planned if not manifest.is_collected(m)]
    return Run(
        manifest=manifest,
        settings=settings,
        matrix=matrix.stacks,
        cells=cells,
        requests=measured,
        resumed=resumed,
        planned=planned,
        pending=pending,
        groups=group(pending, settings["design"]),
        warnings=[
            *plan_warnings(settings["modes"], settings.values),
            *unfinished_sweeps(run_dir, manifest.data["measurements"]),
        ],
    )


def _chosen(settings: Resolved, matrix: Matrix) -> Resolved:
    """A new run's settings as it records them: [] made explicit, the seed drawn."""
    values = dict(settings.values)
    values["stacks"] = list(values["stacks"] or matrix.stacks)
    values["modes"] = list(values["modes"] or MODES)
    cells = cells_asked(settings, matrix)
    values["requests"] = list(dict.fromkeys(r for asked in cells.values() for r in asked))
    sources = dict(settings.sources)
    if values["seed"] is None:
        values["seed"] = secrets.randbelow(2**31)
        sources["seed"] = "drawn at random"
    return Resolved(values, sources)


def _resumed(manifest: Manifest, asked: Resolved) -> Resolved:
    """A resumed run measures what it was planned to: its recorded settings. A setting given
    now on the command line (-e) that differs from the recorded one is refused."""
    recorded = manifest.data["settings"]
    run_id = manifest.data["run_id"]
    differ = [
        f"{SETTINGS[name].variable}: recorded {recorded.get(name)!r}, asked {asked[name]!r}"
        for name in SETTINGS
        if asked.sources.get(name) == EXTRA and _normal(recorded.get(name)) != _normal(asked[name])
    ]
    if differ:
        raise RunError(
            f"run {run_id} was planned differently ({'; '.join(differ)}); resume it without "
            "those settings, or start a new run without httplab_run_id"
        )
    values = {**asked.values, **{k: v for k, v in recorded.items() if k in SETTINGS}}
    try:  # an older run's settings, checked as a new run's are
        values = dict(resolve(values).values)
    except SettingError as error:
        raise RunError(f"run {run_id}: its recorded settings: {error}") from None
    return Resolved(values, dict.fromkeys(values, f"run {run_id} (recorded)"))


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def _point_latest_at(results: Path, run_id: str) -> None:
    """results/latest names the newest run, so the later phases find it without an id."""
    tmp = results / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    tmp.replace(results / "latest")
