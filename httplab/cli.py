"""`httplab COMMAND ...`: every step of a study, from one command line (also `python -m httplab`).

One tree of commands, each contributed by the part that does the work (lab, orchestrator,
orchestrator.remote, analysis), with one table of exit codes
(bench_client.results_format.ExitCode): 2 for bad input, found before anything is done.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from analysis.cli import add_commands as add_analysis_commands
from analysis.problems import NothingToAnalyse
from bench_client.documents import DocumentError
from bench_client.interrupts import raise_on_interrupt
from bench_client.results_format import ExitCode, exit_codes_help
from bench_client.settings import SettingError
from orchestrator.cli import ChecksumError
from orchestrator.cli import add_commands as add_run_commands
from orchestrator.phases import PhasesError
from orchestrator.remote import RemoteError
from orchestrator.remote.cli import add_commands as add_remote_commands
from orchestrator.run import RunError
from orchestrator.run_vars import VarsError

DESCRIPTION = """\
Provision, benchmark and analyse Python web stacks: the steps of a study.
The whole study runs with `make run` (or `ansible-playbook run_all.yml`), which
calls these commands in turn."""

# What each kind of failure exits with; anything a user can fix in what they gave is USAGE.
EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (SettingError, ExitCode.USAGE),
    (RunError, ExitCode.USAGE),
    (VarsError, ExitCode.USAGE),
    (NothingToAnalyse, ExitCode.USAGE),
    (ChecksumError, ExitCode.CHECKSUM_MISMATCH),
    (PhasesError, ExitCode.FAILED),
    (DocumentError, ExitCode.FAILED),
    (OSError, ExitCode.FAILED),
)


def version() -> str:
    try:
        return importlib.metadata.version("httplab")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: make venv)"


class _Parser(argparse.ArgumentParser):
    """argparse, exiting with the table's USAGE code and a hint to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="httplab",
        description=DESCRIPTION,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"httplab {version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    lab = commands.add_parser(
        "lab",
        help="the embedded two-host lab: up, down, status, ssh",
        add_help=False,
        prefix_chars="\0",  # everything after `lab` is the lab's own command line
    )
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    lab.set_defaults(handler=_lab)
    add_remote_commands(commands)
    add_run_commands(commands)
    add_analysis_commands(commands)
    return parser


# Root runs the lab as the Makefile does: the system Python, isolated, from a root-owned
# copy of lab/ (lab/snapshot.py; lab/README.md, "Who runs what"), never from this venv.
LAB_PYTHON = "/usr/bin/python3"
SNAPSHOT = Path(__file__).resolve().parents[1] / "lab" / "snapshot.py"


def _lab(args: argparse.Namespace) -> int:
    if not args.lab_args or args.lab_args[0] in ("-h", "--help"):
        from lab.__main__ import main as lab_main  # help needs no root

        return lab_main(args.lab_args or ["--help"], prog="httplab lab")
    sudo = [] if os.geteuid() == 0 else ["sudo", "--"]
    command = [*sudo, LAB_PYTHON, "-I", "-S", str(SNAPSHOT), *args.lab_args]
    return subprocess.run(command, check=False).returncode


def run() -> None:
    """The `httplab` command: Ctrl-C interrupts it however it was started (a background job
    starts with SIGINT ignored, and so would the benchmark it runs)."""
    raise_on_interrupt()
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, so that the message names it
        commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    name = f"httplab {args.command}"
    try:
        return int(args.handler(args))
    except RemoteError as error:  # host and cause, with its own exit code (unreachable...)
        print(f"{name}: error: {error}", file=sys.stderr)
        return error.exit_code
    except yaml.YAMLError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted; what was collected is kept", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as error:
        code = next((code for kind, code in EXIT_CODES if isinstance(error, kind)), None)
        if code is None:
            raise
        print(f"{name}: error: {error}", file=sys.stderr)
        return code
