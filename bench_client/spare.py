"""A bench_client process started ahead of its measurement: it waits for its arguments.

    python -m bench_client.spare      (stdin: one JSON line, the list of arguments)

bench_client.guard keeps one ready while the orchestrator prepares the next
measurement, so that the measurement starts without waiting for Python's start
and imports. It then runs as ``python -m bench_client ARGS`` would.
"""

from __future__ import annotations

import json
import signal
import sys

from bench_client.results_format import ExitCode


def main() -> int:
    if sys.platform == "win32":
        # The guard interrupts with CTRL_BREAK_EVENT (the only console event a process group
        # can be sent); like Ctrl-C it must let bench_client write what it measured.
        signal.signal(signal.SIGBREAK, signal.default_int_handler)  # type: ignore[attr-defined]
    try:
        # Both engines now, whichever the mode: the point of a spare is to have imported.
        from bench_client import cli, engine_async, engine_requests  # noqa: F401

        line = sys.stdin.readline()
    except KeyboardInterrupt:
        print("bench_client: interrupted before measuring began; nothing written", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if not line:  # the guard closed without a measurement for it
        return ExitCode.DONE
    return cli.main(json.loads(line))


if __name__ == "__main__":
    sys.exit(main())
