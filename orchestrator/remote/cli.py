"""The command line of the Fabric driver: `python -m orchestrator.remote deploy|measure|check`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench_client.results_format import (
    METHODS,
    MODES,
    ExitCode,
    Measurement,
    exit_codes_help,
)
from orchestrator.remote.deploy import REPO_DIR, deploy
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.fanout import deploy_all
from orchestrator.remote.inventory import ClientHost, read_client, read_clients
from orchestrator.remote.measure import (
    MeasurementInterrupted,
    MeasurementSpec,
    measure,
)
from orchestrator.remote.preflight import run_check
from orchestrator.remote.preflight_save import save
from orchestrator.remote.session import LinePrefixer, open_session

EXIT_CODES = exit_codes_help((*tuple(ExitCode)[:-2], ExitCode.INTERRUPTED))

# bench_client flags passed through when given: (flag, type, help).
CLIENT_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("--iterations", int, "requests to time (bench_client's default 1000)"),
    ("--interval", float, "seconds of sleep after each response (constant, keepalive)"),
    ("--timeout", float, "seconds before a request counts as failed"),
    ("--concurrency", int, "workers sharing the requests (concurrent mode)"),
    ("--rate", float, "requests started per second (rate mode)"),
    ("--warmup", int, "untimed requests before timing starts"),
    ("--path", str, "request path instead of /get or /post"),
    ("--payload", str, 'JSON body a POST sends instead of {"key": "value"}'),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.remote",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-i", "--inventory", required=True, help="Ansible inventory (file or dir)")
        sub.add_argument(
            "--client",
            help="inventory host to use if group clients has several (deploy: default all)",
        )
        sub.add_argument(
            "--connect-timeout", type=float, default=15, metavar="S", help="SSH connect timeout"
        )

    deploy_cmd = commands.add_parser(
        "deploy",
        help="create the client's venv and install bench_client (idempotent)",
        description="Create the client's venv under its work directory and install "
        "bench_client with its pinned dependencies; does nothing when the client "
        "already has this exact package and requirements (a stamp in the venv).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(deploy_cmd)
    source = deploy_cmd.add_mutually_exclusive_group()
    source.add_argument(
        "--wheelhouse",
        type=Path,
        metavar="DIR",
        help="install offline from DIR/client/py<X.Y>-<linux|win_amd64>/ "
        "(default when the inventory says httplab_install_source: wheelhouse: ./wheelhouse)",
    )
    source.add_argument("--index", action="store_true", help="install from the package index")
    deploy_cmd.add_argument("--force", action="store_true", help="reinstall even if up to date")

    measure_cmd = commands.add_parser(
        "measure",
        help="run one measurement on the client and fetch its CSV and meta file",
        description="Run `python -m bench_client` on the client for one stack, mode and "
        "method, stream its output, and fetch OUT_DIR/<mode>/<stack>/<METHOD>.csv and "
        ".meta.json, checking each file's sha256 against the client's.",
        epilog=EXIT_CODES + "\nArguments after -- go to bench_client unchanged.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(measure_cmd)
    measure_cmd.add_argument("--stack", required=True, help="stack name, e.g. flask-gunicorn")
    measure_cmd.add_argument(
        "--url", required=True, help="the stack's base URL as the client sees it"
    )
    measure_cmd.add_argument("--mode", required=True, choices=MODES)
    measure_cmd.add_argument("--method", required=True, type=str.upper, choices=METHODS)
    measure_cmd.add_argument(
        "--out-dir", required=True, type=Path, help="the run's directory: results/<run-id>"
    )
    measure_cmd.add_argument(
        "--repetition", type=int, default=1, help="k >= 2 writes <METHOD>.rep<k>.csv"
    )
    measure_cmd.add_argument(
        "--run-timeout", type=float, metavar="S", help="give up on bench_client after S seconds"
    )
    for flag, kind, text in CLIENT_FLAGS:
        measure_cmd.add_argument(flag, type=kind, help=text)
    measure_cmd.add_argument("client_extra", nargs="*", help=argparse.SUPPRESS)

    check_cmd = commands.add_parser(
        "check",
        help="preflight: what the client and the server are, each problem with its fix",
        description="Connect to the inventory's client and server as a run would, report "
        "OS, shell, SSH and Python versions, code pages, ports, proxy, disk, timer and "
        "clock on the client and sudo, Python, systemd, disk and firewall on the server, "
        "and give the fix for each problem. Changes nothing. Exits 1 if a problem was found.",
    )
    check_cmd.add_argument("-i", "--inventory", required=True, help="Ansible inventory")
    check_cmd.add_argument("--client", help="inventory host to use if group clients has several")
    check_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    check_cmd.add_argument(
        "--save",
        type=Path,
        metavar="FILE",
        help="also write what the check saw (findings, probe outputs, the client's facts) to "
        "FILE as JSON, without secrets, to attach to a report of a problem",
    )
    return parser


def client_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The bench_client flags that were given, in a fixed order, then anything after --."""
    passed: list[str] = []
    for flag, _, _ in CLIENT_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            passed += [flag, str(value)]
    return (*passed, *args.client_extra)


def wheelhouse_choice(args: argparse.Namespace, host: ClientHost) -> Path | None:
    if args.index:
        return None
    if args.wheelhouse is not None:
        return args.wheelhouse
    return REPO_DIR / "wheelhouse" if host.install_source == "wheelhouse" else None


def run(args: argparse.Namespace) -> dict:
    if args.command == "check":
        report = run_check(args.inventory, args.client)
        if not args.json:
            print(report.text(), flush=True)
        if args.save is not None:
            save(args.save, report.as_dict()["findings"], report.seen)
            print(f"saved what the check saw to {args.save} (secrets taken out)", file=sys.stderr)
        return report.as_dict()
    if args.command == "deploy" and args.client is None:
        clients = read_clients(args.inventory)
        if len(clients) > 1:  # every client host at once, each over its own connection
            return deploy_all(
                clients,
                lambda host: wheelhouse_choice(args, host),
                force=args.force,
                connect_timeout=args.connect_timeout,
            )
    host = read_client(args.inventory, args.client)
    if args.command == "measure":
        spec = MeasurementSpec(
            Measurement(args.mode, args.stack, args.method, args.repetition),
            url=args.url,
            out_dir=args.out_dir,
            client_args=client_args(args),
        )
    with open_session(host, args.connect_timeout) as session:
        if args.command == "deploy":
            log = LinePrefixer(f"[{host.name} deploy] ")
            return asdict(
                deploy(session, wheelhouse=wheelhouse_choice(args, host), log=log, force=args.force)
            )
        return measure(session, spec, run_timeout=args.run_timeout).as_json()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # paramiko logs a traceback for every failed handshake; the one-line
    # error below says the same for people.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    try:
        result = run(args)
        if args.command != "check" or args.json:
            print(json.dumps(result), flush=True)
        if args.command == "check" and not result["ok"]:
            return ExitCode.FAILED  # each problem was printed with its fix
    except MeasurementInterrupted as exc:
        if exc.fetched is not None:
            print(json.dumps(exc.fetched.as_json()), flush=True)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # a measurement spec that cannot be (bad stack name, run id)
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print("error: interrupted; files already collected are unchanged", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return 0
