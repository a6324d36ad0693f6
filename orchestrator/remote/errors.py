"""The one exception family of the remote (Fabric) side, so callers catch it in one place."""

from __future__ import annotations

from bench_client.results_format import ExitCode


class RemoteError(Exception):
    """Reaching or using the client host failed; str() is a one-line message naming host and cause.

    ``exit_code`` is what the command exits with (bench_client.results_format.ExitCode).
    """

    exit_code: int = ExitCode.FAILED
