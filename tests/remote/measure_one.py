"""One measurement on a client host, made as `httplab benchmark` makes each of its own.

The tests' driver for a real sshd, a real Ctrl-C and the exit codes of each failure:

    python -m tests.remote.measure_one -i INVENTORY --stack NAME --url URL --mode MODE \\
        --request GET|POST|JSON --out-dir RUN_DIR [--repetition K] [--set NAME=VALUE ...]

Prints what was fetched as one JSON line; on a failure, one line on stderr and the
error's exit code (bench_client.results_format.ExitCode).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_client.config import request_argument
from bench_client.results_format import ExitCode, Measurement
from bench_client.settings import resolve
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import MeasurementInterrupted, MeasurementSpec, measure
from orchestrator.remote.session import RemoteError, open_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.remote.measure_one")
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--request", default="GET")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--repetition", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    settings = resolve(dict(item.split("=", 1) for item in args.set))
    request = request_argument(args.request)
    spec = MeasurementSpec(
        Measurement(args.mode, args.stack, request.name, args.repetition),
        url=args.url, out_dir=args.out_dir, request=request,
        settings=settings.for_mode(args.mode),
    )  # fmt: skip
    try:
        with open_session(read_client(args.inventory)) as session:
            print(json.dumps(measure(session, spec).as_json()), flush=True)
    except MeasurementInterrupted as error:
        if error.fetched is not None:
            print(json.dumps(error.fetched.as_json()), flush=True)
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except RemoteError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
