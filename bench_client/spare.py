"""A bench_client process made ready before its measurement: it waits for its arguments.

    python -m bench_client.spare      (stdin: one JSON line, the list of arguments)

bench_client.guard keeps one ready while the orchestrator prepares the next
measurement (on Windows; elsewhere it forks itself instead, see there), so that
the measurement does not wait for Python's start and imports. It then runs as
``python -m bench_client ARGS`` would.
"""

from __future__ import annotations

import json
import sys

from bench_client.interrupts import raise_on_interrupt
from bench_client.results_format import ExitCode

INTERRUPTED_EARLY = "bench_client: interrupted before measuring began; nothing written"


def prepare() -> None:
    """Import what a measurement needs (both engines too, whichever the mode), and measure
    the timer's granularity, which every measurement of this process uses."""
    from bench_client import cli, engine_async, engine_requests  # noqa: F401
    from bench_client.timing import sleep_granularity

    sleep_granularity()


def measure(args: list[str]) -> int:
    """What ``python -m bench_client ARGS`` would do, in this process: its exit code."""
    from bench_client import cli

    try:
        return cli.main(args)
    except KeyboardInterrupt:  # before cli.main's own handler was reached
        print(INTERRUPTED_EARLY, file=sys.stderr)
        return ExitCode.INTERRUPTED
    except SystemExit as exc:  # argparse refusing the arguments (exit 2), --help (exit 0)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1


def main() -> int:
    raise_on_interrupt()
    try:
        prepare()
        line = sys.stdin.readline()
    except KeyboardInterrupt:
        print(INTERRUPTED_EARLY, file=sys.stderr)
        return ExitCode.INTERRUPTED
    if not line:  # the guard ended without a measurement for it
        return ExitCode.DONE
    return measure(json.loads(line))


if __name__ == "__main__":
    sys.exit(main())
