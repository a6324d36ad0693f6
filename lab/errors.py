"""The one exception type the lab raises for problems a user can act on, and its exit codes."""

import enum


class LabError(Exception):
    """A problem with a one-line explanation that says what to do next."""


class ExitCode(enum.IntEnum):
    """`python -m lab`'s exit statuses (argparse's own 2 for bad usage aside).

    The numbers of every httplab command (bench_client.results_format.ExitCode), which root's
    copy of the lab cannot import: it runs without the checkout. A test keeps them equal.
    """

    DONE = 0
    FAILED = 1
    NOT_RUNNING = 8
    INTERRUPTED = 130
