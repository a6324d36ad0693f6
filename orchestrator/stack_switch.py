"""Run only the stacks under test on the server: one command over the run's server connection.

Provisioning leaves every stack running (verify needs them). `httplab benchmark` then runs
only each group's stacks in turn, over the SSH connection to the server it holds for the
noise readings anyway: one `systemctl stop` of every other stack of the matrix, beside one
`systemctl start` of the group's stacks and a wait until each answers 200 on /health from
the server itself. That is one remote command per group (docs/design.md, "Switching
stacks"). The same command stops every stack at the end of the study, unless the run says to
keep them running. sudo runs it when the inventory says to become root: without a password
(`sudo -n`), or with the one Ansible holds (ansible_become_password), given on its stdin.
"""

from __future__ import annotations

import functools
import io
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from orchestrator.remote import RemoteError
from orchestrator.remote.session import python_snippet
from orchestrator.server_noise import ServerWatch, unit_of

# The role's /health waiter, the one httplab has: stdlib only (the server has no
# bench_client); argv is the seconds to wait, "follow" (redirects), then the URLs.
WAIT_HEALTHY = Path(__file__).resolve().parents[1] / "roles/httplab/files/wait_healthy.py"


@functools.cache
def _waiter() -> tuple[str, ...]:
    """WAIT_HEALTHY as ``-c`` arguments: read once, not at every switch."""
    return tuple(python_snippet(WAIT_HEALTHY.read_text(encoding="utf-8")))


class StackSwitchError(RemoteError):
    """The server could not be made to run only the stacks under test."""


@dataclass(frozen=True)
class StackSwitch:
    """Stop ``stop``, start ``start``, and wait for each of ``health_urls`` (the server's own)."""

    stop: tuple[str, ...]
    start: tuple[str, ...]
    health_urls: tuple[str, ...]
    timeout_s: float = 60  # the role's httplab_health_retries (seconds)

    @property
    def label(self) -> str:
        if self.start:
            return f"running only {', '.join(self.start)}"
        return f"stopping {', '.join(self.stop) or 'nothing'}"

    def command(self, python: str) -> str:
        """The shell command that does the switch on the server, as root."""
        stop = f"systemctl stop {shlex.join(map(unit_of, self.stop))}" if self.stop else ""
        if not self.start:
            return stop or "true"
        wait = [python, *_waiter(), f"{self.timeout_s:g}", "follow", *self.health_urls]
        start = f"systemctl start {shlex.join(map(unit_of, self.start))} && {shlex.join(wait)}"
        if not stop:
            return start
        # The other stacks stop while the stacks under test start: a graceful stop (most of a
        # second for Gunicorn) overlaps their start-up. The command ends, and the group is
        # measured, only when both are done; it fails if either failed.
        return f"{stop} & stopping=$!; {start}; started=$?; wait $stopping && exit $started"


def run_as_root(
    watch: ServerWatch, command: str, label: str, sudo_password: str | None = None
) -> Any:
    """Run ``command`` on the server over ``watch``'s connection, as root when the inventory
    says to become it; its result (exit code, output). StackSwitchError when it cannot run."""
    if watch.host is None or watch.connection is None:
        raise StackSwitchError(f"cannot do it on the server ({label}): {watch.problem}")
    secret = None
    if watch.become:
        sudo = "sudo -n" if sudo_password is None else "sudo -S -p ''"
        command = f"{sudo} sh -c {shlex.quote(command)}"
        secret = None if sudo_password is None else io.StringIO(sudo_password + "\n")
    try:
        return watch.connection.run(command, hide=True, warn=True, in_stream=secret or False)
    except (OSError, EOFError, paramiko.SSHException) as error:
        raise StackSwitchError(f"{watch.host.label}: {label}: {error}") from None


def on_server(watch: ServerWatch, sudo_password: str | None, command: str) -> tuple[int, str]:
    """``command`` as root on the server: (exit code, its output); never raises (-1 and the
    cause when it could not run)."""
    try:
        result = run_as_root(watch, command, "a command", sudo_password)
    except StackSwitchError as error:
        return -1, str(error)
    said = result.stdout if result.exited in (0, 1) else result.stderr or result.stdout
    return result.exited, said


def run_only(watch: ServerWatch, switch: StackSwitch, sudo_password: str | None = None) -> None:
    """Do ``switch`` over ``watch``'s server connection; StackSwitchError names the cause."""
    if watch.host is None or watch.connection is None:
        raise StackSwitchError(f"cannot do it on the server ({switch.label}): {watch.problem}")
    result = run_as_root(watch, switch.command(watch.python()), switch.label, sudo_password)
    if result.exited != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        hint = (
            " (the server's user needs sudo for systemctl: password-less, or give Ansible the "
            "password: ansible_become_password in a vault, or --ask-become-pass)"
            if "password" in " ".join(said)
            else ""
        )
        raise StackSwitchError(
            f"{watch.host.label}: {switch.label} failed (exit {result.exited}): "
            f"{' | '.join(said)}{hint}"
        )
