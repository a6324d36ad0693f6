"""Command line: `python -m bench_client [options] --out PATH.csv` and `... calibrate`."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from bench_client import calibrate, config, output, settings, sweep
from bench_client.modes import MODES
from bench_client.request import BUILTIN, PAPER, Request
from bench_client.results_format import SWEEP_MODE, ExitCode, exit_codes_help
from bench_client.run import run
from bench_client.spare import INTERRUPTED_EARLY

DESCRIPTION = """\
Time HTTP requests against one web stack and write PATH.csv (Iteration,
Execution Time (seconds),Status,Error,Start (s),Worker) plus PATH.meta.json
(configuration, client host facts, versions, counts, the client's own
measured overhead and whether the client itself was the bottleneck).

A failed request (timeout, refused or reset connection, a status or body other
than the request expects) has an empty execution time and a non-empty Error; it
is never recorded as 0. Before timing counts, one request is sent and verified
(the paper's GET: its message; POST: the payload echoed back). If the client
itself may have been the limit (a busy CPU, late timers, a slipped rate
schedule), the meta file says so (client_limits) and stderr warns.

modes:
""" + "\n".join(
    textwrap.fill(m.definition, 79, initial_indent=f"  {m.name:<11} ", subsequent_indent=" " * 14)
    for m in MODES.values()
)

EPILOG = """\
examples:
  python -m bench_client --base-url http://10.0.0.5:5001 --method GET --out results/GET.csv
  python -m bench_client --base-url http://10.0.0.5:5005 --method POST --mode concurrent \\
      --concurrency 16 --interval 0 --iterations 5000 --out concurrent/POST.csv
  python -m bench_client --base-url http://10.0.0.5:5002 --method GET --mode rate --rate 2000 \\
      --iterations 20000 --warmup 500 --out rate/GET.csv --quiet
  python -m bench_client --base-url http://10.0.0.5:5003 --method GET --mode concurrent \\
      --processes 4 --concurrency 64 --interval 0 --iterations 40000 --out concurrent/GET.csv
  python -m bench_client --base-url http://10.0.0.5:5002 --method GET --mode sweep \
      --sweep-start-rate 100 --out sweep/GET.csv     # sweep/GET.step1.csv, .step2 ...
  python -m bench_client --paired flask-gunicorn=http://10.0.0.5:5001 \
      --paired fastapi-uvicorn=http://10.0.0.5:5005 --method GET --out constant/{stack}/GET.csv
  python -m bench_client calibrate          # the client's own cost per mode, cached

""" + exit_codes_help(
    (
        ExitCode.DONE,
        ExitCode.FAILED,
        ExitCode.USAGE,
        ExitCode.FIRST_REQUEST_FAILED,
        ExitCode.INTERRUPTED,
    )
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage dump: the orchestrator logs it as is."""
        self.exit(ExitCode.USAGE, f"bench_client: error: {message} (see --help)\n")


def _error(message: str) -> ExitCode:
    print(f"bench_client: error: {message}", file=sys.stderr)
    return ExitCode.USAGE


def _request(text: str) -> Request:
    try:
        return config.request_argument(text)
    except config.ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _unix_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench_client",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base-url", help="http://HOST:PORT of the stack")
    parser.add_argument(
        "--paired",
        action="append",
        metavar="NAME=URL",
        help="the paired design (constant, keepalive): instead of --base-url, one per stack; "
        "the stacks are measured in one time window, --block requests to each in turn "
        "(a new random order each round); --out must contain {stack}",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="--paired: seed of the order (default random)"
    )
    parser.add_argument(
        "--mode",
        choices=tuple(MODES),
        default="constant",
        help="how requests are sent (default constant; see modes above)",
    )
    what = parser.add_argument_group("the request (default: the paper's GET)")
    what.add_argument(
        "--request",
        type=_request,
        metavar="NAME|JSON",
        help=f"a built-in request ({', '.join(BUILTIN)}) or a declaration as JSON: name, "
        "method, path, body, headers, concurrency and expect (status, json, json_keys, contains, "
        "rows)",
    )
    what.add_argument(
        "--method",
        type=str.upper,
        choices=tuple(PAPER),
        help="the paper's shorthand: its GET (/get) or POST (/post, echoing its payload)",
    )
    what.add_argument("--path", help="with --method: another path, e.g. /get/ as in the paper")
    what.add_argument(
        "--payload",
        help='with --method POST: the JSON body (default {"key": "value"}), echoed back',
    )
    settings.add_options(parser)
    parser.add_argument(
        "--start-at",
        type=_unix_time,
        default=None,
        metavar="UNIX_TIME",
        help="begin timing at this wall-clock time (seconds since 1970, after the probe and "
        "warm-up), so that several client hosts start together; a client ready only later "
        "starts at once and its meta file says how late (start.late_s)",
    )
    parser.add_argument(
        "--calibration",
        choices=config.CALIBRATION_CHOICES,
        default="quick",
        help="measure the client's own overhead for the meta file: quick "
        "(default, ~1 s before the run), cached (from `calibrate`), off",
    )
    parser.add_argument(
        "--calibration-file",
        default=None,
        metavar="PATH",
        help="with --calibration quick: reuse the quick calibration saved in PATH when it was "
        "measured on this host with the same mode, request, pacing and concurrency (the meta "
        "file says so), else measure it and save it there; the orchestrator gives one per run",
    )
    parser.add_argument("--out", required=True, help="PATH.csv; PATH.meta.json goes beside it")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no summary line (errors still go to stderr)",
    )
    return parser


def build_calibrate_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bench_client calibrate",
        description=calibrate.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=calibrate.CALIBRATE_REQUESTS,
        help=f"requests per mode and request (default {calibrate.CALIBRATE_REQUESTS})",
    )
    parser.add_argument(
        "--request", choices=(*PAPER, "all"), default="all", help="which of the paper's requests"
    )
    parser.add_argument(
        "--no-save", action="store_true", help=f"do not write {calibrate.cache_file()}"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calibrate"]:
        options = build_calibrate_parser().parse_args(argv[1:])
        if options.requests < 1:
            return _error("--requests must be at least 1")
        names = tuple(PAPER) if options.request == "all" else (options.request,)
        return calibrate.calibrate_all(options.requests, names, save=not options.no_save)
    args = build_parser().parse_args(argv)
    try:
        settings = config.build(**vars(args))
        for _, target in settings.per_stack():
            output.check_writable(target.out)
    except (config.ConfigError, output.OutputError) as exc:
        return _error(str(exc))
    try:
        return sweep.run(settings) if settings.mode == SWEEP_MODE else run(settings)
    except KeyboardInterrupt:
        print(INTERRUPTED_EARLY, file=sys.stderr)
        return ExitCode.INTERRUPTED
