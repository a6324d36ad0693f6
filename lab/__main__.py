"""Command line: python -m lab up|down|status|ssh."""

from __future__ import annotations

import argparse
import os
import sys
import time

from lab import api
from lab.config import DEFAULT_NAME, validate_clients, validate_name
from lab.errors import ExitCode, LabError
from lab.image import DEFAULT_OS, SERVER_OSES, Image
from lab.system import require_root

_STARTED = time.monotonic()


def _progress(message: str) -> None:
    print(f"lab [{time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


def _name(text: str) -> str:
    try:
        return validate_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _clients(text: str) -> int:
    try:
        return validate_clients(int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The embedded two-host lab: a systemd-booted server container and a "
        "client container on this machine, reachable over SSH, with an Ansible inventory "
        "in inventory/<name>.yml. Needs root; `up --owner` hands the lab to a user.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--name",
            type=_name,
            default=DEFAULT_NAME,
            help=f"lab name; several labs can run side by side (default: {DEFAULT_NAME})",
        )
        return sub

    up = command("up", "bring the lab up (idempotent; cleans a stale lab of the same name)")
    up.add_argument(
        "--subnet",
        help="IPv4 subnet for the lab, /29 or larger (default: 198.51.100.0/24 for the "
        "'embedded' lab, a free /28 of 203.0.113.0/24 for any other)",
    )
    up.add_argument(
        "--clients",
        type=_clients,
        help="number of client hosts: 1 is `client` (.3), more are client1..clientN "
        "(.3, .4, ...) sharing the CPUs the server does not use (default: 1, or what runs)",
    )
    up.add_argument(
        "--owner",
        metavar="USER",
        help="the user who runs Ansible and Fabric against the lab without root: gets the "
        "inventory and, in /run/httplab/NAME, copies of the lab's key and known_hosts "
        "(default: the user sudo was called by, else root)",
    )
    up.add_argument(
        "--server-os",
        choices=sorted(SERVER_OSES),
        help=f"what the server boots; the clients boot {DEFAULT_OS} (default: {DEFAULT_OS}, "
        "or what runs; lab/README.md, 'A Debian 13 server')",
    )
    command("down", "stop the lab and remove its links and cgroups; the image stays")
    command("status", "show what runs and where (exit 0 up, 8 not running, 1 stale)")
    ssh = command("ssh", "open an SSH session to a lab host as the lab user")
    ssh.add_argument("host", help="which host: server, client (client1, client2... with --clients)")
    ssh.add_argument(
        "remote", nargs="*", help="command to run instead of a shell (put it after --)"
    )
    return parser


def _status(name: str) -> int:
    problem = api.health_problem(name)
    if problem == api.NOT_RUNNING:
        print(f"lab {name!r} is not running")
        return ExitCode.NOT_RUNNING
    lab = api.get(name)
    if lab is None:  # only leftovers of a crashed up or down
        print(f"lab {name!r}: STALE: {problem}; `python -m lab down --name {name}` removes it")
        return ExitCode.FAILED
    print(f"lab {name!r}: {'up' if problem is None else 'STALE: ' + problem}")
    size = Image(lab.image, lab.image.name).size_bytes
    print(f"  subnet    {lab.subnet} on bridge {lab.bridge}")
    print(
        f"  image     {lab.image} ({size / 2**20:.0f} MiB)" if size else f"  image     {lab.image}"
    )
    if lab.server_image is not None and lab.server_image != lab.image:
        print(f"  server    {lab.server_os}, image {lab.server_image}")
    for host in lab.hosts:
        pid = host.pid if host.pid else "-"
        cpus = ",".join(map(str, host.cpus))
        print(
            f"  {host.role:<7} {host.hostname:<24} {host.address:<16} nspawn pid {pid}  cpu {cpus}"
        )
    print(f"  inventory {lab.inventory_path} (for {lab.owner or 'nobody: run up again'})")
    roles = "|".join(h.role for h in lab.hosts)
    print(f"  ssh       python -m lab ssh {roles} --name {name}")
    for note in lab.notes:
        print(f"  note      {note}")
    return ExitCode.DONE if problem is None else ExitCode.FAILED


def main(argv: list[str] | None = None, prog: str = "python -m lab") -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Everything after "--" is the remote command of `ssh`, options and all.
    remote: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, remote = argv[:split], argv[split + 1 :]
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if remote and args.command != "ssh":
        parser.error("only `ssh` takes a command after --")
    try:
        require_root()  # every command reads the lab's private state directory
        if args.command == "up":
            api.up(
                args.name,
                args.subnet,
                progress=_progress,
                clients=args.clients,
                owner=args.owner,
                server_os=args.server_os,
            )
        elif args.command == "down":
            api.down(args.name, progress=_progress)
        elif args.command == "status":
            return _status(args.name)
        elif args.command == "ssh":
            lab = api.get(args.name)
            if lab is None:
                raise LabError(
                    f"lab {args.name!r} is not running; start it with `python -m lab up`"
                )
            host = lab.host(args.host)
            command = [*host.ssh_command, *args.remote, *remote]
            os.execvp(command[0], command)  # noqa: S606 - becomes the user's ssh session
    except (LabError, ValueError) as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return ExitCode.DONE


if __name__ == "__main__":
    sys.exit(main())
