"""`httplab settings|plan|benchmark|checksums|phases`: a run's settings, plan, measuring, times.

Each reads the run's variables as ansible-playbook would (orchestrator.run_vars): from the
inventory given with -i (else the checkout's inventory/group_vars/all/) and -e, or, from a
playbook, the values Ansible resolved (--vars).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench_client.documents import Status
from bench_client.settings import DECLARED, Resolved
from orchestrator.benchmark import HEALTH_ADDRESS, HEALTH_TIMEOUT_S, Server, benchmark, check_hosts
from orchestrator.manifest import Manifest
from orchestrator.phases import parse_phases, phase_lines, record
from orchestrator.progress import tell
from orchestrator.quiet import keep_quiet
from orchestrator.remote.inventory import (
    CLIENT_GROUP,
    SERVER_GROUP,
    InventoryError,
    group_hosts,
    list_inventory,
)
from orchestrator.run import ROOT, Run, checked_settings, open_run
from orchestrator.run_vars import (
    Inventory,
    RunVars,
    from_inventory,
    from_playbook,
    parse_extra_vars,
)
from orchestrator.server_noise import lab_hosts
from orchestrator.workload_gate import APP_DIR, DATABASE_ENV
from orchestrator.workloads import database_needed

RESULTS = ROOT / "results"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The commands of a run, on httplab's command line."""
    settings = commands.add_parser(
        "settings",
        help="every setting of a run, its value and where that came from",
        description="Print each httplab_bench_* setting of a run: its value, where the value "
        "came from (the declaration's default, inventory/group_vars/all/benchmark.yml, the "
        "inventory, -e), its unit and what it means. With --check, only check them (and "
        "the stacks, modes and requests they name) and say what is wrong.",
    )
    _run_vars_options(settings)
    settings.add_argument("--check", action="store_true", help="check only; print nothing if fine")
    settings.set_defaults(handler=settings_command)

    plan = commands.add_parser(
        "plan",
        help="create or resume a run; print what is left to measure",
        description="Create a run folder with its manifest (or resume the run httplab_run_id "
        "names) and print its plan: the measurements left, in the order they will be made.",
    )
    _run_vars_options(plan)
    plan.add_argument(
        "--results", type=Path, default=RESULTS, help="results folder (default ./results)"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(handler=plan_command)

    bench = commands.add_parser(
        "benchmark",
        help="the benchmark phase: plan or resume, measure every cell, complete the manifest",
        description="Plan the run (or resume it), deploy bench_client to the client hosts, "
        "measure every group of cells with only its stacks running on the server (each "
        "measurement shown as it ends), stop the stacks, and complete the manifest. "
        "Exits non-zero when a cell failed; each is recorded with its cause, and running "
        "again with -e httplab_run_id=ID measures only what is missing.",
    )
    _run_vars_options(bench, inventory_required=True)
    bench.add_argument(
        "--results", type=Path, default=RESULTS, help="results folder (default ./results)"
    )
    bench.add_argument(
        "--server",
        type=_json_object,
        default={},
        metavar="JSON",
        help="what the playbook knows of the server: facts, stacks (their records), "
        "health_address, health_timeout_s, tuning",
    )
    bench.add_argument(
        "--sudo-password-stdin",
        action="store_true",
        help="read the server's sudo password from stdin (the playbook's ansible_become_password)",
    )
    bench.set_defaults(handler=benchmark_command)

    checksums = commands.add_parser(
        "checksums", help="check every collected file of a run against its sha256"
    )
    checksums.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    checksums.set_defaults(handler=checksums_command)

    phases = commands.add_parser(
        "phases",
        help="record how long each phase of a run took in its manifest, and print it",
        description="Read the phases file `make run` and the playbook wrote (NAME START END "
        "per timed step: orchestrator/phases.py), record the breakdown in RUN_DIR's "
        'manifest.json ("phases") and print one line per phase with its seconds.',
    )
    phases.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    phases.add_argument("phases_file", type=Path, metavar="FILE")
    phases.set_defaults(handler=phases_command)


def _run_vars_options(parser: argparse.ArgumentParser, inventory_required: bool = False) -> None:
    parser.add_argument(
        "-i",
        "--inventory",
        required=inventory_required,
        help="the lab's Ansible inventory"
        + (
            ""
            if inventory_required
            else " (default: none, the checkout's inventory/group_vars/all/ alone)"
        ),
    )
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="NAME=VALUE, a JSON object or @FILE, as ansible-playbook takes them (repeatable)",
    )
    parser.add_argument("--vars", type=_json_object, metavar="JSON", help=argparse.SUPPRESS)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("want a JSON object")
    return value


def _inventory(args: argparse.Namespace) -> Inventory:
    if args.inventory is None:
        return Inventory.defaults_only(ROOT / "inventory")
    return Inventory(args.inventory, list_inventory(args.inventory), Path(args.inventory).parent)


def run_vars(args: argparse.Namespace) -> RunVars:
    """The run's variables: a playbook's (--vars), else the inventory's with -e."""
    inventory = _inventory(args)
    if args.vars is not None:
        return from_playbook(args.vars, inventory)
    return from_inventory(inventory, parse_extra_vars(args.extra_vars))


def settings_command(args: argparse.Namespace) -> int:
    run = run_vars(args)
    settings, matrix = checked_settings(run)
    if args.inventory is not None:
        check_hosts_settings(settings, args.inventory)
    if not args.check:
        print(settings_table(settings))
        needed = database_needed(matrix.requests[name] for name in settings["requests"])
        names = ", ".join(settings["requests"]) or "each app's own"
        database = "yes" if needed else "no"
        print(f"\nrequests measured: {names}; database (httplab_database_enabled): {database}")
    return 0


def check_hosts_settings(settings: Resolved, inventory: str) -> None:
    """What the settings ask of the inventory's hosts (the sweep needs one client...)."""
    check_hosts(settings, len(group_hosts(list_inventory(inventory), CLIENT_GROUP)))


def settings_table(settings: Resolved) -> str:
    """Every setting, its value with its unit, where the value came from, what it means."""
    rows = [("setting", "value", "from", "meaning")]
    rows += [
        (
            s.variable,
            _shown(s.unit, settings[s.name]),
            settings.sources.get(s.name, "default"),
            s.help,
        )
        for s in DECLARED
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "".join(f"{cell:<{width + 2}}" for cell, width in zip(row, widths, strict=False)) + row[3]
        for row in rows
    )


def _shown(unit: str, value: Any) -> str:
    if isinstance(value, tuple | list):
        listed = ",".join(map(str, value))
        if value and unit and not isinstance(value[0], str):
            return f"{listed} {unit}"
        return listed or "[] (all)"
    if value is None:
        return "null"
    return f"{value} {unit}" if unit else str(value)


def _results(args: argparse.Namespace, variables: RunVars) -> Path:
    """Where runs are written: httplab_results_dir when given, else --results."""
    return Path(variables.get("httplab_results_dir") or args.results)


def plan_command(args: argparse.Namespace) -> int:
    variables = run_vars(args)
    run = open_run(variables, _results(args, variables))
    if args.json:
        print(json.dumps(plan_document(run)))
        return 0
    print(
        f"run {run.manifest.data['run_id']} (seed {run.settings['seed']}"
        f"{', resumed' if run.resumed else ''}): {len(run.pending)} of {len(run.planned)} "
        f"measurements to make, in {run.run_dir}"
    )
    for warning in run.warnings:
        print(f"warning: {warning}")
    for number, group in enumerate(run.groups, start=1):
        cells = ", ".join(f"{c.mode} {c.request} rep {c.repetition}" for c in group.cells)
        print(f"  {number:>3}. {', '.join(group.running)}: {cells}")
    return 0


def plan_document(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.manifest.data["run_id"],
        "run_dir": str(run.run_dir),
        "seed": run.settings["seed"],
        "resumed": run.resumed,
        "planned": len(run.planned),
        "pending": len(run.pending),
        "groups": [
            {
                "running": list(g.running),
                "cells": [[c.mode, c.request, c.repetition] for c in g.cells],
            }
            for g in run.groups
        ],
        "warnings": list(run.warnings),
    }


def benchmark_command(args: argparse.Namespace) -> int:
    variables = run_vars(args)
    # First, before any thread or process starts: they all inherit it.
    quiet = keep_quiet(variables.get("httplab_lab_cpus"))
    clients, server_host = lab_hosts(args.inventory)
    if server_host is None:
        raise InventoryError(
            f"{args.inventory} needs one host in group {SERVER_GROUP} "
            "(see inventory/lab.example.yml)"
        )
    given = args.server
    server = Server(
        # The server as the clients reach it, which may differ from the control node's way.
        target_address=str(
            server_host.hostvars.get("httplab_server_address") or server_host.address
        ),
        health_address=str(given.get("health_address") or HEALTH_ADDRESS),
        health_timeout_s=float(given.get("health_timeout_s") or HEALTH_TIMEOUT_S),
        keep_running=_true(variables.get("httplab_stack_keep_running", False)),
        facts=given.get("facts"),
        stacks=given.get("stacks") or (),
        tuning=given.get("tuning"),
        app_dir=str(given.get("app_dir") or APP_DIR),
        database_env=str(given.get("database_env") or DATABASE_ENV),
        sudo_password=sys.stdin.readline().rstrip("\n") if args.sudo_password_stdin else None,
    )
    run = open_run(variables, _results(args, variables))
    if quiet:
        tell([f"the control node measures {' and '.join(quiet)}"])
    benchmark(run, clients, server_host, server)
    return 0


def _true(value: object) -> bool:
    """A YAML boolean, or one given as text with -e."""
    return str(value).strip().lower() in ("true", "yes", "on", "1")


def checksums_command(args: argparse.Namespace) -> int:
    manifest = Manifest.load(args.run_dir)
    complete = [e for e in manifest.data["measurements"] if e["status"] == Status.COMPLETE]
    problems = [problem for entry in complete for problem in manifest.checksum_problems(entry)]
    if problems:
        raise ChecksumError(
            f"{args.run_dir}: {len(problems)} file(s) fail verification: " + "; ".join(problems)
        )
    print(f"{len(complete)} measurements verified in {args.run_dir}")
    return 0


def phases_command(args: argparse.Namespace) -> int:
    manifest = Manifest.load(args.run_dir)
    recorded = record(manifest, parse_phases(args.phases_file.read_text(encoding="utf-8")))
    print("\n".join(phase_lines(recorded)))
    return 0


class ChecksumError(Exception):
    """A collected file no longer matches its recorded sha256."""
