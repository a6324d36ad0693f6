"""The steps of a benchmark run, as the playbooks call them (`python -m orchestrator`).

    plan      create a run folder (or resume one) and print what is left to measure
    measure   measure cells on the client host in one SSH session and record each
    finalize  add host facts and stack versions to the manifest
    checksums check every collected file against its recorded sha256

Each prints one line of JSON on success; on failure a one-line message that
names the cause, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench_client.config import SEQUENTIAL_MODES
from bench_client.results_format import (
    METHODS,
    MODES,
    SWEEP_SETTINGS,
    ExitCode,
    Measurement,
    check_name,
    exit_codes_help,
)
from orchestrator.host_facts import client_facts
from orchestrator.manifest import COMPLETE, Manifest, git_commit, utc_now
from orchestrator.measure import run_measurement
from orchestrator.plan import (
    DESIGNS,
    SelectionError,
    build_plan,
    parse_selection,
    unfinished_sweeps,
)
from orchestrator.remote import RemoteError
from orchestrator.remote.ports import plan_warnings

ROOT = Path(__file__).resolve().parents[1]
# From the server's noise reading (bench_client/noise.py): the CPUs the server's
# processes may use, all of its CPUs, those of the stack's processes, the governor.
SERVER_CPU_KEYS = ("cpus", "cpu_count", "stack_cpus", "governor")
CLIENT_SETTINGS = ("iterations", "interval", "timeout", "concurrency", "rate", "warmup", "block",
                   *SWEEP_SETTINGS)  # fmt: skip


class RunError(Exception):
    """A step cannot go on; the message says why and what to do."""


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from error


def _names(text: str) -> str | list[str]:
    """A JSON list or string as Ansible's to_json writes it, or plain "a,b"."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, list | str) else text


def _number(text: str) -> int | float:
    """12 stays 12 (bench_client's --sweep-steps wants a whole number), 1.5 is 1.5."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _optional(convert: type) -> Any:
    """An option that an empty string leaves unset, so a playbook can always pass it."""

    def parse(text: str) -> Any:
        return convert(text) if text.strip() else None

    parse.__name__ = convert.__name__
    return parse


def _cell(text: str) -> tuple[str, str, int]:
    """``constant,GET,2`` (repetition 1 when left out), checked."""
    mode, method, *repetition = [part.strip() for part in text.split(",")]
    if mode not in MODES or method not in METHODS or len(repetition) > 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: want MODE,METHOD[,REPETITION] with a mode of {', '.join(MODES)} "
            f"and a method of {', '.join(METHODS)}"
        )
    try:
        return mode, method, int(repetition[0]) if repetition else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the repetition is not a number") from None


def _run_dir(results: Path, run_id: str) -> Path:
    try:
        return results / check_name("run id", run_id)
    except ValueError as error:
        raise RunError(str(error)) from None


def _point_latest_at(results: Path, run_id: str) -> None:
    """results/latest names the newest run, so the later phases find it without an id."""
    tmp = results / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    tmp.replace(results / "latest")


def plan(args: argparse.Namespace) -> dict[str, Any]:
    stacks = {stack["name"]: stack for stack in args.matrix}
    selection = {
        "stacks": parse_selection(args.stacks, list(stacks), "stack"),
        "modes": parse_selection(args.modes, MODES, "mode"),
        "methods": parse_selection(args.methods, METHODS, "method"),
        "repetitions": args.repetitions,
        "design": args.design,
    }
    settings = {name: getattr(args, name) for name in CLIENT_SETTINGS}
    if "rate" in selection["modes"] and not settings["rate"]:
        raise RunError("the rate mode needs a target rate: add -e rate=REQUESTS_PER_SECOND")

    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = _run_dir(args.results, run_id)
    if (run_dir / "manifest.json").exists():
        manifest = Manifest.load(run_dir)
        _check_same_run(manifest, selection, settings)
        resumed = True
    else:
        manifest = Manifest.create(
            run_dir,
            run_id=run_id,
            seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
            git=git_commit(ROOT),
            selection=selection,
            client_settings=settings,
            lab=args.lab,
        )
        resumed = False
    _point_latest_at(args.results, run_id)

    selection = manifest.data["selection"]
    measurements = build_plan(
        selection["stacks"], selection["modes"], selection["methods"],
        selection["repetitions"], manifest.data["seed"], selection.get("design", "sequential"),
    )  # fmt: skip
    pending = [m for m in measurements if not manifest.is_collected(m)]
    return {
        "run_id": run_id,
        "run_dir": str(run_dir),
        "seed": manifest.data["seed"],
        "resumed": resumed,
        "planned": len(measurements),
        "pending": len(pending),
        "by_stack": (groups := _by_stack(pending, stacks, selection.get("design", "sequential"))),
        "batches": _by_repetition(groups),
        "warnings": [
            *plan_warnings(selection["modes"], manifest.data["client_settings"]),
            *unfinished_sweeps(run_dir, manifest.data["measurements"]),
        ],
    }


def _by_stack(
    pending: list[Measurement], stacks: dict[str, dict], design: str = "sequential"
) -> list[dict[str, Any]]:
    """Consecutive measurements of one stack, so the playbook switches the server once per group.

    In the paired design, a sequential mode's cell of every stack is one group
    (stack "": all stacks run) with one item that lists the stacks measured together.
    """
    groups: list[dict[str, Any]] = []
    for m in pending:
        if design == "paired" and m.mode in SEQUENTIAL_MODES:
            cell = (m.mode, m.method, m.repetition)
            if not groups or groups[-1].get("cell") != cell:
                label = "all stacks " + m.label.removeprefix(f"{m.stack} ")
                item = {**vars(m), "stack": "", "label": label, "cell": _cell_argument(m),
                        "paired": []}  # fmt: skip
                groups.append({"stack": "", "port": None, "cell": cell, "measurements": [item]})
            groups[-1]["measurements"][0]["paired"].append(
                {"stack": m.stack, "port": stacks[m.stack]["port"], "csv": m.csv}
            )
            continue
        if not groups or groups[-1]["stack"] != m.stack:
            groups.append({"stack": m.stack, "port": stacks[m.stack]["port"], "measurements": []})
        groups[-1]["measurements"].append(
            {**vars(m), "csv": m.csv, "label": m.label, "cell": _cell_argument(m)}
        )
    for group in groups:  # the stacks to stop while this group is measured
        running = {one["stack"] for one in group["measurements"][0].get("paired", [group])}
        group["stop"] = [name for name in stacks if name not in running]
    return groups


def _by_repetition(groups: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The groups in batches, a repetition each (by its first cell): the playbook runs one
    `httplab measure --groups` per batch, so a person sees each repetition's summary."""
    batches: list[list[dict[str, Any]]] = []
    for group in groups:
        repetition = group["measurements"][0]["repetition"]
        if not batches or batches[-1][0]["measurements"][0]["repetition"] != repetition:
            batches.append([])
        batches[-1].append(group)
    return batches


def _cell_argument(measurement: Measurement) -> str:
    """The measurement as `measure --cell` takes it."""
    return f"{measurement.mode},{measurement.method},{measurement.repetition}"


def _check_same_run(manifest: Manifest, selection: dict, settings: dict) -> None:
    """A resumed run must measure the same matrix with the same client settings."""
    # Runs planned before there was a choice of design were sequential.
    recorded = {"design": "sequential", **manifest.data["selection"],
                **manifest.data["client_settings"]}  # fmt: skip
    asked = {**selection, **settings}
    differ = [f"{key}: recorded {recorded.get(key)!r}, asked {asked[key]!r}"
              for key in asked if recorded.get(key) != asked[key]]  # fmt: skip
    if differ:
        raise RunError(
            f"run {manifest.data['run_id']} was planned differently ({'; '.join(differ)}); "
            "resume it with the same settings or start a new run without run_id"
        )


def finalize(args: argparse.Namespace) -> dict[str, Any]:
    manifest = Manifest.load(args.run_dir)
    meta = _first_meta(args.run_dir, manifest)
    # How the server's CPUs were set up, as its noise reading saw them (pinning, governor).
    server_cpus = (meta.get("host_noise") or {}).get("server") or {}
    manifest.data["hosts"]["server"] = {
        **args.server_facts,
        **{key: server_cpus[key] for key in SERVER_CPU_KEYS if key in server_cpus},
    }
    clients = client_facts(manifest, args.clients)
    manifest.data["hosts"]["clients"] = clients
    if clients:  # the first client host, where manifests before schema 3 kept it
        manifest.data["hosts"]["client"] = next(iter(clients.values()))
    # The server describes every stack it runs; the manifest lists those this run measured.
    measured = set(manifest.data["selection"]["stacks"])
    manifest.data["stacks"] = [s for s in args.stacks_info if s["name"] in measured]
    manifest.data["tuning"] = args.tuning
    manifest.data["finished"] = utc_now()
    manifest.save()
    counts: dict[str, int] = {}
    for entry in manifest.data["measurements"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {"manifest": str(manifest.path), "measurements": counts}


def _first_meta(run_dir: Path, manifest: Manifest) -> dict[str, Any]:
    """Every meta file describes the hosts; the first complete one speaks for the run."""
    for entry in manifest.data["measurements"]:
        meta = run_dir / entry["meta"]
        if entry["status"] == COMPLETE and meta.is_file():
            return json.loads(meta.read_text(encoding="utf-8"))
    return {}


def checksums(args: argparse.Namespace) -> dict[str, Any]:
    manifest = Manifest.load(args.run_dir)
    complete = [e for e in manifest.data["measurements"] if e["status"] == COMPLETE]
    problems = [problem for entry in complete for problem in manifest.checksum_problems(entry)]
    if problems:
        raise RunError(f"{args.run_dir}: {len(problems)} file(s) fail verification: "
                       + "; ".join(problems))  # fmt: skip
    return {"run_dir": str(args.run_dir), "verified": len(complete)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] + "\n" + exit_codes_help(),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("plan", help="create or resume a run; print what is left to measure")
    p.add_argument("--results", type=Path, default=ROOT / "results", help="results folder")
    p.add_argument("--run-id", default="", help='resume this run ("" = a new UTC timestamp)')
    p.add_argument("--matrix", type=_json_arg, required=True, help="httplab_stacks as JSON")
    # No defaults here: the playbook passes every httplab_bench_* setting, whose defaults live
    # in inventory/group_vars/all/benchmark.yml alone.
    for name in ("stacks", "modes", "methods"):
        p.add_argument(f"--{name}", type=_names, required=True,
                       help=f'{name} as a JSON list or "a,b" ([] or "" = all)')  # fmt: skip
    p.add_argument("--repetitions", type=int, required=True)
    p.add_argument("--design", choices=DESIGNS, required=True,
                   help="sequential: one stack at a time; paired: see docs/method.md")  # fmt: skip
    p.add_argument("--block", type=int, required=True, help="paired: requests per turn")
    p.add_argument("--seed", type=_optional(int), required=True, help='order seed ("" = random)')
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--rate", type=_optional(float), required=True, help="rate mode: requests/s")
    p.add_argument("--warmup", type=int, required=True)
    for name in SWEEP_SETTINGS:  # the sweep mode's ladder and stop rule (docs/method.md)
        p.add_argument(f"--{name.replace('_', '-')}", type=_number, required=True)
    p.add_argument("--lab", type=_json_arg, default={"kind": "real", "notes": []},
                   help='{"kind": "embedded"|"real", "notes": [...]} as JSON')  # fmt: skip
    p.set_defaults(func=plan)

    f = commands.add_parser("finalize", help="add host facts and stack versions to the manifest")
    f.add_argument("--run-dir", type=Path, required=True)
    f.add_argument("--server-facts", type=_json_arg, required=True)
    f.add_argument("--clients", type=_json_arg, required=True,
                   help='each client host\'s address by name: {"name": "address"}')  # fmt: skip
    f.add_argument("--stacks-info", type=_json_arg, required=True)
    f.add_argument("--tuning", type=_json_arg, default={"enabled": False})
    f.set_defaults(func=finalize)

    m = commands.add_parser(
        "measure", help="measure cells of one stack (or of several together) and record each"
    )
    m.add_argument("--run-dir", type=Path, required=True)
    m.add_argument("-i", "--inventory", required=True, help="the Ansible inventory of the lab")
    m.add_argument("--inventory-listing", type=Path, metavar="FILE",
                   help="`ansible-inventory -i INVENTORY --list` of that inventory, resolved "
                   "once for the whole run (else resolved here, about 1 s)")  # fmt: skip
    m.add_argument("--url", action="append", default=[],
                   help="the stack's base URL as the client sees it")  # fmt: skip
    m.add_argument("--stack", action="append", default=[],
                   help="the stack; several (each with its --url): the paired design")  # fmt: skip
    m.add_argument("--cell", action="append", type=_cell, default=[],
                   metavar="MODE,METHOD[,REPETITION]",
                   help="a cell to measure, in turn, in one SSH session (repeatable)")  # fmt: skip
    m.add_argument("--groups", type=_json_arg, metavar="JSON",
                   help="instead of --stack, --url and --cell: groups of `httplab plan`'s "
                   "by_stack, measured in turn over the same connections")  # fmt: skip
    m.add_argument("--target-address",
                   help="with --groups: the server's address as the client reaches it")  # fmt: skip
    m.add_argument("--health-address",
                   help="with --groups: the server's address as it reaches itself; each "
                   "group first runs only its stacks, waited for on /health")  # fmt: skip
    m.add_argument("--health-url", action="append", default=[],
                   help="first run only the --stack units on the server, each waited for on "
                   "its /health URL as the server reaches it (one per --stack)")  # fmt: skip
    m.add_argument("--stop-stack", action="append", default=[], metavar="STACK",
                   help="with --health-url: a stack to stop first (repeatable)")  # fmt: skip
    m.add_argument("--health-timeout", type=float, default=60, metavar="SECONDS",
                   help="with --health-url or --health-address: how long the stacks may take "
                   "to answer")  # fmt: skip
    m.set_defaults(func=run_measurement)

    c = commands.add_parser("checksums", help="check the sha256 of every collected file")
    c.add_argument("--run-dir", type=Path, required=True)
    c.set_defaults(func=checksums)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except RemoteError as error:
        print(f"orchestrator {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except (RunError, SelectionError, ValueError, OSError) as error:
        print(f"orchestrator {args.command}: {error}", file=sys.stderr)
        return ExitCode.FAILED
    print(json.dumps(result))
    return 0
