"""Measurements on a client host, made as `httplab benchmark` makes its own, from a command line:
the tests' driver for a real sshd, a real Ctrl-C and the exit code of each failure.

    python -m tests.remote.driver one -i INVENTORY --stack NAME --url URL --mode MODE \\
        [--request GET|POST|JSON] --out-dir RUN_DIR [--repetition K] [--set NAME=VALUE ...]
    python -m tests.remote.driver cells -i INVENTORY --run-dir RUN_DIR --stack NAME --url URL \\
        --cell MODE,REQUEST[,REPETITION] ...

`one` prints what was fetched as one JSON line (orchestrator.remote.measure); `cells` measures
the cells as one group of a run whose manifest is in RUN_DIR (orchestrator.measure, without a
switch of stacks: the test server runs the one stack) and prints each cell's outcome. On a
failure: one line on stderr and the error's exit code (bench_client.results_format.ExitCode).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_client.config import request_argument
from bench_client.documents import Status
from bench_client.interrupts import raise_on_interrupt
from bench_client.request import BUILTIN
from bench_client.results_format import ExitCode, Measurement
from bench_client.settings import resolve
from orchestrator.manifest import Manifest
from orchestrator.measure import Study, measure_groups
from orchestrator.plan import Cell, Group
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementInterrupted, MeasurementSpec, measure
from orchestrator.remote.session import RemoteError, open_session
from orchestrator.server_noise import lab_hosts


def one(args: argparse.Namespace) -> int:
    settings = resolve(dict(item.split("=", 1) for item in args.set))
    request = request_argument(args.request)
    spec = MeasurementSpec(
        Measurement(args.mode, args.stack, request.name, args.repetition),
        url=args.url, out_dir=args.out_dir, request=request,
        settings=settings.for_mode(args.mode),
    )  # fmt: skip
    try:
        with open_session(read_client(args.inventory)) as session:
            print(json.dumps(measure(session, spec).as_json()), flush=True)
    except MeasurementInterrupted as error:
        if error.fetched is not None:
            print(json.dumps(error.fetched.as_json()), flush=True)
        raise
    return 0


def cells(args: argparse.Namespace) -> int:
    clients, server = lab_hosts(args.inventory)
    study = Study(Manifest.load(args.run_dir), {args.stack: args.url}, BUILTIN)
    measured = [Cell(mode, request, int(rep[0]) if rep else 1, (args.stack,))
                for mode, request, *rep in (cell.split(",") for cell in args.cell)]  # fmt: skip
    outcomes = measure_groups(clients, server, study, [Group((args.stack,), tuple(measured))])
    print(json.dumps([[o.status.value, o.summary] for o in outcomes]), flush=True)
    failed = [o.error for o in outcomes if o.status != Status.COMPLETE]
    if failed:
        print(
            f"error: {len(failed)} of {len(outcomes)} cell(s) failed: {failed[0]}", file=sys.stderr
        )
        return getattr(failed[0], "exit_code", ExitCode.FAILED)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.remote.driver")
    commands = parser.add_subparsers(dest="command", required=True)
    single = commands.add_parser("one")
    single.add_argument("--mode", required=True)
    single.add_argument("--request", default="GET")
    single.add_argument("--out-dir", type=Path, required=True)
    single.add_argument("--repetition", type=int, default=1)
    single.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    single.set_defaults(handler=one)
    group = commands.add_parser("cells")
    group.add_argument("--run-dir", type=Path, required=True)
    group.add_argument("--cell", action="append", required=True, metavar="MODE,REQUEST[,REP]")
    group.set_defaults(handler=cells)
    for sub in (single, group):
        sub.add_argument("-i", "--inventory", required=True)
        sub.add_argument("--stack", required=True)
        sub.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except RemoteError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; what was measured is kept", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    raise_on_interrupt()  # as `httplab`: Ctrl-C works however this was started
    sys.exit(main())
