"""`httplab COMMAND [ARGS...]`: every step of a study, from one command line.

Each command is the program of one part of httplab, run with the same
arguments and the same exit codes (bench_client.results_format.ExitCode);
`httplab COMMAND --help` shows its own options. `python -m lab`,
`python -m orchestrator`, `python -m orchestrator.remote` and
`python -m analysis` run the same code.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench_client.results_format import ExitCode, exit_codes_help


@dataclass(frozen=True)
class Command:
    module: str  # whose main(argv) runs the command
    prefix: tuple[str, ...]  # arguments that select the command in that program
    summary: str

    def run(self, argv: Sequence[str]) -> int:
        main: Callable[[list[str]], int] = importlib.import_module(self.module).main
        return main([*self.prefix, *argv])


COMMANDS: dict[str, Command] = {
    "lab": Command("lab.__main__", (), "the embedded two-host lab: up, down, status, ssh"),
    "check": Command(
        "orchestrator.remote.cli", ("check",), "preflight: what is wrong with the lab, and the fix"
    ),
    "plan": Command("orchestrator.cli", ("plan",), "create or resume a run; print what is left"),
    "deploy": Command(
        "orchestrator.remote.cli", ("deploy",), "install bench_client on the client host"
    ),
    "measure": Command(
        "orchestrator.cli", ("measure",), "measure cells on the client, each recorded on its own"
    ),
    "finalize": Command(
        "orchestrator.cli", ("finalize",), "add host facts and stack versions to the manifest"
    ),
    "checksums": Command(
        "orchestrator.cli", ("checksums",), "check every collected file against its sha256"
    ),
    "report": Command("analysis.cli", ("report",), "statistics, figures, tables, HTML report"),
    "compare": Command("analysis.cli", ("compare",), "compare runs (e.g. different hardware)"),
}


def usage() -> str:
    lines = [
        "usage: httplab COMMAND [ARGS...]   (httplab COMMAND --help for its options)",
        "",
        "Provision, benchmark and analyse Python web stacks: the steps of a study.",
        "",
        "commands:",
        *(f"  {name:<10} {command.summary}" for name, command in COMMANDS.items()),
        "",
        "The whole study runs with `make run` (or ansible-playbook run_all.yml), which calls",
        "these commands in turn.",
        "",
        exit_codes_help(),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return ExitCode.DONE if args else ExitCode.USAGE
    command = COMMANDS.get(args[0])
    if command is None:
        print(
            f"httplab: unknown command {args[0]!r}; choose from {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    return command.run(args[1:])
