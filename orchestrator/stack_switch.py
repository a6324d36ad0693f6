"""Run only the stacks under test on the server: one command over the group's server connection.

The playbook runs the role's full state once before the measuring loop (retire the units of
stacks no longer in the matrix, stop every stack but the first group's, start it). Between
groups only the stack under test changes, so `httplab measure --health-url` does that switch
itself, over the SSH connection to the server it holds for the group anyway: one
`systemctl start` of the stacks under test and a wait until each answers 200 on /health from
the server itself, while one `systemctl stop` of the other stacks runs beside them. That is one
remote command instead of about nine Ansible module runs (docs/design.md, "Switching stacks").
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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

    def command(self, python: str, become: bool) -> str:
        """The shell command that does the switch on the server."""
        systemctl = "sudo -n systemctl" if become else "systemctl"
        wait = [python, *_waiter(), f"{self.timeout_s:g}", "follow", *self.health_urls]
        start = f"{systemctl} start {shlex.join(map(unit_of, self.start))} && {shlex.join(wait)}"
        if not self.stop:
            return start
        # The other stacks stop while the stacks under test start: a graceful stop (most of a
        # second for Gunicorn) overlaps their start-up. The command ends, and the group is
        # measured, only when both are done; it fails if either failed.
        stop = f"{systemctl} stop {shlex.join(map(unit_of, self.stop))}"
        return f"{stop} & stopping=$!; {start}; started=$?; wait $stopping && exit $started"


def run_only(watch: ServerWatch, switch: StackSwitch) -> None:
    """Do ``switch`` over ``watch``'s server connection; StackSwitchError names the cause."""
    label = ", ".join(switch.start)
    if watch.host is None or watch.connection is None:
        raise StackSwitchError(f"cannot run only {label} on the server: {watch.problem}")
    try:
        result = watch.connection.run(
            switch.command(watch.python(), watch.become), hide=True, warn=True, in_stream=False
        )
    except (OSError, EOFError, paramiko.SSHException) as error:
        raise StackSwitchError(f"{watch.host.label}: running only {label}: {error}") from None
    if result.exited != 0:
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        hint = (
            " (the server's user needs password-less sudo for systemctl; with a sudo password, "
            "let Ansible switch stacks: -e httplab_switch_by_role=true --ask-become-pass)"
            if "password" in " ".join(said)
            else ""
        )
        raise StackSwitchError(
            f"{watch.host.label}: running only {label} failed (exit {result.exited}): "
            f"{' | '.join(said)}{hint}"
        )


def stack_switch(
    stacks: Sequence[str], stop: Sequence[str], health_urls: Sequence[str], timeout_s: float
) -> StackSwitch | None:
    """The switch `httplab measure` was asked for (--health-url), or None."""
    if not health_urls:
        return None
    if len(health_urls) != len(stacks):
        raise ValueError("give one --health-url for each --stack (the server's own URL)")
    return StackSwitch(tuple(stop), tuple(stacks), tuple(health_urls), timeout_s)
