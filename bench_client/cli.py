"""Command line: `python -m bench_client [options] --out PATH.csv` and `... calibrate`."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from bench_client import calibrate, config, output, sweep
from bench_client.modes import MODES
from bench_client.results_format import SWEEP_MODE, ExitCode, exit_codes_help
from bench_client.run import run
from bench_client.spare import INTERRUPTED_EARLY

DESCRIPTION = """\
Time HTTP requests against one web stack and write PATH.csv (Iteration,
Execution Time (seconds),Status,Error,Start (s),Worker) plus PATH.meta.json
(configuration, client host facts, versions, counts, the client's own
measured overhead and whether the client itself was the bottleneck).

A failed request (timeout, refused or reset connection, non-2xx, a body that is
not the expected JSON) has an empty execution time and a non-empty Error; it is
never recorded as 0. Before timing counts, one request is sent and verified
(GET: the expected message; POST: the payload echoed back). If the client
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


def _number(text: str) -> float:
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
        "--block",
        type=int,
        default=config.DEFAULT_BLOCK,
        help=f"--paired: requests to one stack before the next (default {config.DEFAULT_BLOCK})",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="--paired: seed of the order (default random)"
    )
    parser.add_argument("--method", required=True, type=str.upper, choices=("GET", "POST"))
    parser.add_argument(
        "--mode",
        choices=tuple(MODES),
        default="constant",
        help="how requests are sent (default constant; see modes above)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=config.DEFAULT_ITERATIONS,
        help=f"requests to measure (default {config.DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--interval",
        type=_number,
        default=None,
        help="seconds of pause after each response, per worker "
        f"(default {config.DEFAULT_INTERVAL}; not in rate mode)",
    )
    parser.add_argument(
        "--timeout",
        type=_number,
        default=5.0,
        help="seconds without progress before a request fails (default 5)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"concurrent: workers; rate: most connections (default {config.DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="concurrent and rate modes: engine processes sharing the run (--concurrency, "
        "--iterations, --warmup and --rate are split between them; they start together and "
        "write one CSV, Worker pNwM = process N, worker M); default the client's CPU count, "
        "at most --concurrency and --iterations",
    )
    parser.add_argument(
        "--start-at",
        type=_number,
        default=None,
        metavar="UNIX_TIME",
        help="begin timing at this wall-clock time (seconds since 1970, after the probe and "
        "warm-up), so that several client hosts start together; a client ready only later "
        "starts at once and its meta file says how late (start.late_s)",
    )
    parser.add_argument(
        "--rate",
        type=_number,
        default=None,
        help="rate mode: requests started per second (required there)",
    )
    _sweep_arguments(parser)
    parser.add_argument(
        "--warmup",
        type=int,
        default=config.DEFAULT_WARMUP,
        help=f"requests sent first and not recorded (default {config.DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "--path",
        default=None,
        help="request path instead of /get or /post, e.g. /get/ as in the paper",
    )
    parser.add_argument(
        "--payload",
        default=None,
        help='POST body as JSON (default {"key": "value"}); must be echoed back',
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
        "measured on this host with the same mode, method, pacing and concurrency (the meta "
        "file says so), else measure it and save it there; the orchestrator gives one per run",
    )
    parser.add_argument("--out", required=True, help="PATH.csv; PATH.meta.json goes beside it")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no summary line (errors still go to stderr)",
    )
    return parser


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep mode's ladder and stop rule (docs/method.md, "The latency-throughput sweep")."""
    group = parser.add_argument_group("sweep mode (ladder and stop rule)")
    for flag, kind, default, meaning in (
        ("--sweep-start-rate", _number, config.DEFAULT_SWEEP_START_RATE, "step 1's requests/s"),
        ("--sweep-factor", _number, config.DEFAULT_SWEEP_FACTOR, "each step's rate over the last"),
        ("--sweep-steps", int, config.DEFAULT_SWEEP_STEPS, "at most this many steps"),
        ("--sweep-step-seconds", _number, config.DEFAULT_SWEEP_STEP_SECONDS, "each step's span"),
        (
            "--sweep-latency-factor",
            _number,
            config.DEFAULT_SWEEP_LATENCY_FACTOR,
            "stop when a step's p99 is over this many times step 1's",
        ),
        (
            "--sweep-shortfall",
            _number,
            config.DEFAULT_SWEEP_SHORTFALL,
            "stop when the throughput is this share below the rate offered",
        ),
        (
            "--sweep-max-failures",
            _number,
            config.DEFAULT_SWEEP_MAX_FAILURES,
            "stop when more than this share of a step's requests fail",
        ),
    ):
        group.add_argument(
            flag, type=kind, default=default, help=f"{meaning} (default {default:g})"
        )


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
        help=f"requests per mode and method (default {calibrate.CALIBRATE_REQUESTS})",
    )
    parser.add_argument("--method", choices=("GET", "POST", "both"), default="both")
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
        methods = ("GET", "POST") if options.method == "both" else (options.method,)
        return calibrate.calibrate_all(options.requests, methods, save=not options.no_save)
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
