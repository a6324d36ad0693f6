"""The one exception family of the remote (Fabric) side, so callers catch it in one place."""

from __future__ import annotations


class RemoteError(Exception):
    """Reaching or using the client host failed; str() is a one-line message naming host and cause.

    ``exit_code`` is what `python -m orchestrator.remote` exits with.
    """

    exit_code = 1
