"""Time each phase of a playbook run, for the run's breakdown by phase (orchestrator/phases.py).

A phase is the playbook file a play comes from (provision, verify, benchmark, collect,
analyze, check_inventory…: run_all.yml imports one per phase). When $HTTPLAB_PHASES names a
file (`make run` sets it), each phase's start and end are appended to it as ``NAME START
END`` (seconds since the epoch) when the next phase starts or the playbook ends; plays of
one file in a row are one line. Without the variable this callback does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: httplab_phases
type: aggregate
short_description: append each playbook phase's start and end to $HTTPLAB_PHASES
description:
  - A phase is the playbook file a play comes from. With HTTPLAB_PHASES set, appends
    "NAME START END" per phase to that file (make run's breakdown by phase).
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""


def phase_of(play: Any) -> str:
    """The stem of the playbook file the play was read from (``provision``, ``verify``…)."""
    path = str(play.get_path() or "").rpartition(":")[0]
    return Path(path).stem or "playbook"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "httplab_phases"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        named = os.environ.get("HTTPLAB_PHASES")
        self._file = Path(named) if named else None
        self._phase: str | None = None
        self._start = 0.0

    def _close(self) -> None:
        if self._file is None or self._phase is None:
            return
        with self._file.open("a", encoding="utf-8") as phases:
            phases.write(f"{self._phase} {self._start:.3f} {time.time():.3f}\n")
        self._phase = None

    def v2_playbook_on_play_start(self, play: Any) -> None:
        phase = phase_of(play)
        if phase == self._phase:
            return
        self._close()
        self._phase, self._start = phase, time.time()

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close()
