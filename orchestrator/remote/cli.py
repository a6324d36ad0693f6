"""`httplab check|deploy`: the client and server hosts over SSH (Fabric)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from orchestrator.remote.deploy import REPO_DIR, deploy
from orchestrator.remote.fanout import deploy_all
from orchestrator.remote.inventory import ClientHost, read_client, read_clients
from orchestrator.remote.preflight import run_check
from orchestrator.remote.preflight_save import save
from orchestrator.remote.session import CONNECT_TIMEOUT, LinePrefixer, open_session


def add_commands(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check",
        help="preflight: what the client and the server are, each problem with its fix",
        description="Connect to the inventory's client and server as a run would, report "
        "OS, shell, SSH and Python versions, code pages, ports, proxy, disk, timer and "
        "clock on the client and sudo, Python, systemd, disk and firewall on the server, "
        "and give the fix for each problem. Changes nothing. Exits 1 if a problem was found.",
    )
    check.add_argument("-i", "--inventory", required=True, help="the lab's Ansible inventory")
    check.add_argument("--client", help="inventory host to use if group clients has several")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--save",
        type=Path,
        metavar="FILE",
        help="also write what the check saw (findings, probe outputs, the client's facts) to "
        "FILE as JSON, without secrets, to attach to a report of a problem",
    )
    check.set_defaults(handler=check_command)

    deploy_cmd = commands.add_parser(
        "deploy",
        help="install bench_client on the client hosts (idempotent)",
        description="Create each client's venv under its work directory and install "
        "bench_client with its pinned dependencies; does nothing when a client already has "
        "this exact package and requirements (a stamp in the venv). Several client hosts "
        "are deployed to at once.",
    )
    deploy_cmd.add_argument("-i", "--inventory", required=True, help="the lab's Ansible inventory")
    deploy_cmd.add_argument("--client", help="only this inventory host of group clients")
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
    deploy_cmd.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT,
        metavar="S",
        help="SSH connect timeout",
    )
    deploy_cmd.set_defaults(handler=deploy_command)


def check_command(args: argparse.Namespace) -> int:
    report = run_check(args.inventory, args.client)
    print(json.dumps(report.as_dict()) if args.json else report.text(), flush=True)
    if args.save is not None:
        save(args.save, report.as_dict()["findings"], report.seen)
        print(f"saved what the check saw to {args.save} (secrets taken out)", file=sys.stderr)
    return 1 if report.problems else 0


def deploy_command(args: argparse.Namespace) -> int:
    def wheelhouse(host: ClientHost) -> Path | None:
        if args.index:
            return None
        if args.wheelhouse is not None:
            return args.wheelhouse
        return REPO_DIR / "wheelhouse" if host.install_source == "wheelhouse" else None

    clients = read_clients(args.inventory)
    if args.client is None and len(clients) > 1:  # every host at once, each on its own
        print(json.dumps(deploy_all(clients, wheelhouse, force=args.force,
                                    connect_timeout=args.connect_timeout)))  # fmt: skip
        return 0
    host = read_client(args.inventory, args.client)
    with open_session(host, args.connect_timeout) as session:
        log = LinePrefixer(f"[{host.name} deploy] ")
        result = deploy(session, wheelhouse=wheelhouse(host), log=log, force=args.force)
    print(json.dumps(asdict(result)))
    return 0
