"""What a person watching a run sees while it runs: one line per measurement as it ends.

Lines go to the file $HTTPLAB_PROGRESS names when it is set, else to stderr. Ansible shows
a task's output only when the task ends, so httplab's callback plugin
(plugins/callback/httplab_progress.py), which ansible.cfg enables, sets that variable
for the tasks it runs and prints each line the moment it is written: `make run` and
`ansible-playbook run_all.yml` show the measurements as they end, not tens of seconds of
silence and then a batch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

ENVIRONMENT = "HTTPLAB_PROGRESS"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def open_channel() -> TextIO:
    """Where progress lines go: $HTTPLAB_PROGRESS (appended to), else stderr."""
    path = os.environ.get(ENVIRONMENT)
    if not path:
        return sys.stderr
    return Path(path).open("a", encoding="utf-8", buffering=1)  # closed by Progress.close


def tell(lines: Iterable[str]) -> None:
    """Lines a person should see now, where progress goes."""
    channel = open_channel()
    try:
        for line in lines:
            print(line, file=channel, flush=True)
    finally:
        if channel is not sys.stderr:
            channel.close()


class Progress:
    """Counts measurements as they end and says how far the run is, and how long is left."""

    def __init__(
        self, total: int, channel: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.done = 0
        self.clock = clock
        self.started = clock()
        self.channel = channel if channel is not None else open_channel()

    def say(self, line: str) -> None:
        print(line, file=self.channel, flush=True)

    def ended(self, measurements: int, summary: str) -> None:
        """``measurements`` more have ended (a cell of one stack, or of several together)."""
        self.done += measurements
        elapsed = self.clock() - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        width = len(str(self.total))
        self.say(
            f"[{self.done:>{width}}/{self.total} {_duration(elapsed)}, ~{_duration(left)} left] "
            f"{summary}"
        )

    def close(self) -> None:
        if self.channel not in (sys.stderr, sys.stdout):
            self.channel.close()
