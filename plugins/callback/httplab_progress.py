"""Show the lines httplab writes for a person while an Ansible task still runs.

Ansible shows a task's output only when the task ends: the benchmark phase would be minutes of
silence and then a batch of lines. This callback gives every task a progress file
($HTTPLAB_PROGRESS, which httplab's commands write to: orchestrator/progress.py) and prints
each line written there the moment it is complete, as the task runs.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: httplab_progress
type: aggregate
short_description: print httplab's progress lines while a task runs
description:
  - Sets HTTPLAB_PROGRESS to a file for the tasks of the run and prints the lines
    httplab's commands write there as they come (a measurement's result as it ends).
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""

POLL_S = 0.2


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "httplab_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        handle, name = tempfile.mkstemp(prefix="httplab-progress-", suffix=".log")
        os.close(handle)
        self._path = Path(name)
        # The worker processes Ansible forks, and the commands they run, inherit it.
        os.environ["HTTPLAB_PROGRESS"] = name
        self._offset = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._follow, name="httplab-progress", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            self._show()

    def _show(self) -> None:
        """Print every complete line written since the last look."""
        with self._lock:
            try:
                with self._path.open("rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except OSError:
                return
            complete = data.rfind(b"\n") + 1
            self._offset += complete
            for line in data[:complete].decode("utf-8", "replace").splitlines():
                self._display.display(line)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._show()  # a task's last lines before its own result

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._show()

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._show()
        self._path.unlink(missing_ok=True)
