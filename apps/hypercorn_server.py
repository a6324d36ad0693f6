"""Hypercorn's own command line, exiting non-zero when a worker dies, its WSGI mode reading
bodies through the contract's limit.

Hypercorn stops every worker when one of them dies, and then exits 0 (hypercorn.run: the
exit code of the dead worker is replaced by the others'), so systemd (Restart=on-failure)
takes it for a clean stop and leaves the stack down (docs/traps.md). Here it exits 1.

Hypercorn serves a WSGI app by reading the whole body into memory first, up to its
wsgi_max_body_size (16 MiB), past which it answers an empty 400; and it hands a chunked
body on with neither CONTENT_LENGTH nor wsgi.input_terminated, so Flask, Django and Falcon
read it as empty (docs/traps.md). Here its WSGI wrapper refuses a body over the contract's
limit with the contract's JSON 413 (a declared length before a byte of it is read, a
chunked body as soon as it passes the limit: apps/limits.py's ASGIBodyLimit), and gives
the app a chunked body with its length (limits.wsgi_body). ASGI apps are served as they are.

    python -m apps.hypercorn_server --bind 0.0.0.0:5012 --workers 2 [asgi:|wsgi:]module:app
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hypercorn import app_wrappers
from hypercorn import run as hypercorn_run
from hypercorn import utils as hypercorn_utils
from hypercorn.__main__ import main as hypercorn_main

from apps import limits


class LimitedWSGIWrapper(app_wrappers.WSGIWrapper):
    """Hypercorn's WSGI wrapper behind the contract's body limit. A refused body ends, for
    the wrapper, where the refusal cut it off; what the app answers to it is dropped."""

    def __init__(self, app: Any, max_body_size: int) -> None:
        super().__init__(limits.wsgi_body(app), max_body_size)

    async def __call__(
        self, scope: Any, receive: Any, send: Any, sync_spawn: Callable, call_soon: Callable
    ) -> None:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            await super(LimitedWSGIWrapper, self).__call__(
                scope, receive, send, sync_spawn, call_soon
            )

        await limits.ASGIBodyLimit(wrapped)(scope, receive, send)


# At import, not under __main__: Hypercorn's workers are spawned processes that import this
# module again (as __mp_main__) and load the app there.
hypercorn_utils.WSGIWrapper = LimitedWSGIWrapper  # type: ignore[misc]

_join_exited = hypercorn_run._join_exited
# Exit codes of workers that died (non-zero), as Hypercorn's main process collected them.
worker_failures: list[int] = []


def _join_exited_noting_failures(processes: list[Any]) -> int:
    exitcode = _join_exited(processes)
    if exitcode != 0:
        worker_failures.append(exitcode)
    return exitcode


def main(argv: list[str] | None = None) -> int:
    hypercorn_run._join_exited = _join_exited_noting_failures
    exitcode = hypercorn_main(argv)
    if exitcode == 0 and worker_failures:
        print(f"hypercorn: a worker exited with {worker_failures[0]}", file=sys.stderr)
        return 1
    return exitcode


if __name__ == "__main__":
    sys.exit(main())
