"""`httplab report|compare`: statistics, figures, tables and an HTML report of runs.

Exit status (bench_client.results_format.ExitCode): 0 everything read and written; 7 written,
but something was skipped or inconsistent (each problem printed with its file and line; the
rest was still analysed); 2 bad arguments, or nothing to analyse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.problems import NothingToAnalyse, Problem
from analysis.summary import run_summary
from bench_client.results_format import ExitCode
from orchestrator.progress import tell

SUSPECT_HELP = (
    "keep the CSVs the manifest does not vouch for (sha256 changed, measurement interrupted or "
    "failed); by default they are left out of the statistics and listed in the report"
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="statistics, figures, tables and an HTML report of one run",
        description="Read RESULTS_DIR/<mode>/<stack>/<REQUEST>.csv (httplab or paper format),\n"
        "their meta files and manifest.json; write summary.csv, PNG figures, tables.md,\n"
        "verdict.json and a self-contained index.html that opens with the verdict: per mode\n"
        "and request, the fastest stack or group of stacks that cannot be told apart and\n"
        "each other stack's time over the fastest's, with its interval. Ends with the run's\n"
        "summary and the verdict, one line per mode and request.",
        epilog="example:\n  httplab report results/20261127T010000Z",
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
    report.set_defaults(handler=report_command)
    compare = commands.add_parser(
        "compare",
        help="compare the same stacks across runs (e.g. different hardware)",
        description="Set two or more runs side by side. First the verdict: runs whose hosts'\n"
        "facts differ are on different hardware, and each machine is set against the first's\n"
        "as a whole, with an interval that includes run-to-run drift (from the spread of two or\n"
        "more runs per machine, or from --same-hardware pairs; one run per machine cannot tell\n"
        "hardware from drift); then per mode and request each run's fastest stacks. Then one\n"
        "figure and one table per mode, each run's device row, and each cell against the first\n"
        'run: "x% slower/faster [CI]" or "indistinguishable", judged from the repetitions\n'
        "(Welch's t on their means), with intervals widened for the number of cells compared\n"
        "(false calls at 5% of those called). Per mode, also the run-wide shift (the mean change\n"
        "of all stacks: the machine or its conditions) and each cell against it. Ends with\n"
        "the verdict: a line for the hardware and one per mode and request.",
        epilog="examples:\n  httplab compare results/laptop results/server\n"
        "  httplab compare results/a1 results/a2 results/a3 results/b1 results/b2 results/b3\n"
        "  httplab compare results/laptop results/server --same-hardware results/s1 results/s2",
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
    compare.add_argument(
        "--same-hardware",
        nargs=2,
        type=Path,
        action="append",
        default=[],
        metavar=("RUN_X", "RUN_Y"),
        help="two runs made on one machine (back to back): their whole-run difference measures "
        "run-to-run drift, which a cross-hardware comparison with one run per machine needs; "
        "give it once per pair",
    )
    compare.set_defaults(handler=compare_command)


def report_problems(problems: list[Problem]) -> int:
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    return ExitCode.INPUT_SKIPPED if problems else ExitCode.DONE


def report_command(args: argparse.Namespace) -> int:
    from analysis.report import build_report, verdict_lines  # imported late: --help stays fast

    _require_folders([args.results])
    out = args.out or args.results / "report"
    result = build_report(args.results, out, args.include_suspect)
    if args.redact:
        from analysis.redact import redact_report

        redact_report(out, args.results)
    status = _written(result, out)
    tell(run_summary(result.run.manifest, out, verdict_lines(result)))
    return status


def compare_command(args: argparse.Namespace) -> int:
    from analysis.compare import build_comparison, default_out

    _require_folders(args.runs)
    if len(args.runs) < 2:
        raise NothingToAnalyse("compare needs at least two RUN_DIRs")
    out = args.out or default_out(args.runs)
    pairs = [(x, y) for x, y in args.same_hardware]
    _require_folders([folder for pair in pairs for folder in pair])
    result = build_comparison(args.runs, out, args.include_suspect, pairs)
    status = _written(result, out)
    tell(["Verdict:", *(f"  {line}" for line in result.verdict.compact())])
    return status


def _require_folders(folders: list[Path]) -> None:
    for folder in folders:
        if not folder.is_dir():
            raise NothingToAnalyse(f"{folder} is not a directory; give a results/<run-id> folder")


def _written(result: object, out: Path) -> int:
    problems = result.problems  # type: ignore[attr-defined]
    status = report_problems(problems)
    count = len(problems)
    skipped = f"; {count} problem{'s' * (count != 1)} listed above" if count else ""
    figures = len(result.figures)  # type: ignore[attr-defined]
    print(f"wrote {figures} figures, tables and {out / 'index.html'}{skipped}")
    return status
