"""Command line: ``python -m analysis report|compare``.

Exit status (bench_client.results_format.ExitCode): 0 everything read and written; 7 something
was skipped or inconsistent (each problem printed with its file and line; the rest was still
analysed); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.load import Problem
from bench_client.results_format import ExitCode, exit_codes_help

EXIT_OK = ExitCode.DONE
EXIT_SKIPPED = ExitCode.INPUT_SKIPPED
EXIT_USAGE = ExitCode.USAGE
EXIT_HELP = exit_codes_help((EXIT_OK, EXIT_USAGE, EXIT_SKIPPED))
SUSPECT_HELP = (
    "keep the CSVs the manifest does not vouch for (sha256 changed, measurement interrupted or "
    "failed); by default they are left out of the statistics and listed in the report"
)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Statistics, figures, tables and an HTML report from httplab results folders.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    report = commands.add_parser(
        "report",
        help="analyse one results folder",
        description="Read RESULTS_DIR/<mode>/<stack>/<METHOD>.csv (httplab or paper format),\n"
        "their meta files and manifest.json; write summary.csv, PNG figures, tables.md\n"
        "and a self-contained index.html.",
        epilog="example:\n  python -m analysis report results/2026-11-27T0100Z\n\n" + EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("results", type=Path, metavar="RESULTS_DIR")
    report.add_argument("--include-suspect", action="store_true", help=SUSPECT_HELP)
    report.add_argument("--out", type=Path, metavar="DIR", help="default: RESULTS_DIR/report")
    report.add_argument(
        "--redact",
        action="store_true",
        help="replace the results path, host paths, user names and user@host:port "
        "with placeholders (a report to publish)",
    )
    compare = commands.add_parser(
        "compare",
        help="compare the same stacks across runs (e.g. different hardware)",
        description="Set two or more runs side by side: one figure and one table per mode, each\n"
        'run\'s device row, and each cell against the first run: "x% slower/faster [CI]"\n'
        'or "indistinguishable", judged from the repetitions (Welch\'s t on their means), with\n'
        "intervals widened for the number of cells compared (false calls at 5% of those called).\n"
        "Per mode, also the run-wide shift (the mean change of all stacks: the machine or its\n"
        "conditions) and each cell against it: did this stack change more than the others?",
        epilog="example:\n  python -m analysis compare results/laptop results/server\n\n"
        + EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    compare.add_argument("--include-suspect", action="store_true", help=SUSPECT_HELP)
    compare.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="default: compare-<first run>-vs-<others> beside the first run",
    )
    return main


def report_problems(problems: list[Problem]) -> int:
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    return EXIT_SKIPPED if problems else EXIT_OK


def usage_error(message: str) -> int:
    print(f"python -m analysis: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folders = [args.results] if args.command == "report" else args.runs
    for folder in folders:
        if not folder.is_dir():
            return usage_error(f"{folder} is not a directory; give a results/<run-id> folder")
    if args.command == "compare" and len(args.runs) < 2:
        return usage_error("compare needs at least two RUN_DIRs")
    try:
        if args.command == "report":
            from analysis.report import build_report  # imported late: --help stays fast

            out = args.out or args.results / "report"
            result = build_report(args.results, out, args.include_suspect)
            if args.redact:
                from analysis.redact import redact_report

                redact_report(out, args.results)
        else:
            from analysis.compare import build_comparison, default_out

            out = args.out or default_out(args.runs)
            result = build_comparison(args.runs, out, args.include_suspect)
    except ValueError as error:
        print(f"python -m analysis: {error}", file=sys.stderr)
        return EXIT_SKIPPED
    except OSError as error:
        print(f"python -m analysis: cannot write the report: {error}", file=sys.stderr)
        return EXIT_SKIPPED
    status = report_problems(result.problems)
    count = len(result.problems)
    skipped = f"; {count} problem{'s' * (count != 1)} listed above" if count else ""
    print(f"wrote {len(result.figures)} figures, tables and {out / 'index.html'}{skipped}")
    return status
