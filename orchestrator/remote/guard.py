"""bench_client.guard on the client, kept running for many measurements over one SSH channel.

Starting a command over SSH costs a channel, a shell and a Python start; a
measurement used to pay that three times (its port budget, bench_client under
its guard, the sha256 of its files), and bench_client's own start and imports
on top. The guard is started once for a group of measurements instead; it
answers each request on the same channel and starts bench_client without a
Python start of its own: forked on Linux, a spare made ready ahead on Windows
(bench_client/guard.py has the protocol).

Ctrl-C while a measurement runs is passed on as a 0x03 byte: the guard
interrupts bench_client, which writes what it measured. A second Ctrl-C closes
the channel, and the guard then stops bench_client and everything it started.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import paramiko

from bench_client.guard import MAX_LINE_BYTES
from bench_client.results_format import ExitCode
from orchestrator.remote.deploy import ClientLayout, require_deployed
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.session import ArgumentError, LinePrefixer, RemoteSession
from orchestrator.remote.shell import UnportableArgumentError, build_command

_CLOSED = object()  # what the reader puts in the queue at the channel's end
_POLL_S = 0.25
_CLOSE_WAIT_S = 10.0  # the guard's grace for an interrupted bench_client (5 s), and more


class ClientBusyError(RemoteError):
    """Another bench_client guard holds the client's work directory."""


class ClientFailedError(RemoteError):
    """bench_client or its guard ended outside their contract (crashed, killed)."""


def guard_command(layout: ClientLayout) -> list[str]:
    """The guard's command on the client (its cwd: ``layout.src``); bench_client's own
    arguments travel as JSON on the channel, never through the client's shell."""
    return layout.python("-m", "bench_client.guard", str(layout.lock))


class RemoteGuard:
    """The guard on ``session``'s client: used as a context manager, open until closed."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session
        self.layout: ClientLayout = require_deployed(session)
        self.stream = LinePrefixer(f"[{session.host.name}] ")  # where bench_client's lines go
        self.answers: queue.Queue[Any] = queue.Queue()
        what = "starting bench_client's guard"
        try:
            command = build_command(
                session.shell,
                guard_command(self.layout),
                cwd=str(self.layout.src),
                delayed_expansion=session.delayed_expansion,
            )
        except UnportableArgumentError as exc:
            raise ArgumentError(f"{session.host.label}: {what}: {exc}") from None
        try:
            self.channel = session.connection.client.get_transport().open_session()
            self.channel.exec_command(command)
        except (OSError, EOFError, AttributeError, paramiko.SSHException) as exc:
            raise session.lost(what, str(exc) or type(exc).__name__) from None
        threading.Thread(target=self._read, name="guard-answers", daemon=True).start()

    @property
    def is_open(self) -> bool:
        return not self.channel.closed and self.session.is_connected

    def ports(self) -> dict[str, Any]:
        """The client's port budget now (bench_client.limits.port_budget)."""
        return self._ask({"ports": True}, "reading the client's ports")["ports"]

    def run(
        self,
        args: list[str],
        hash_paths: list[str],
        *,
        stream: LinePrefixer,
        timeout: float | None,
        what: str,
    ) -> tuple[int, dict[str, str]]:
        """Run bench_client with ``args``; its exit code and the sha256 of each of
        ``hash_paths`` that exists afterwards. Its lines go to ``stream`` meanwhile."""
        self.stream = stream
        try:
            answer = self._ask({"run": args, "hash": hash_paths}, what, timeout)
        finally:
            stream.flush()
        return answer["exit"], answer["sha256"]

    def close(self) -> None:
        """End the guard: at the end of its input it stops whatever still runs and exits,
        releasing the work directory's lock, which the next guard may need at once."""
        if self.is_open:
            try:
                self.channel.shutdown_write()
                self.channel.status_event.wait(_CLOSE_WAIT_S)
            except (OSError, EOFError, paramiko.SSHException):
                pass
        self.channel.close()

    def __enter__(self) -> RemoteGuard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ask(
        self, request: dict[str, Any], what: str, timeout: float | None = None
    ) -> dict[str, Any]:
        try:
            self.channel.sendall(json.dumps(request).encode() + b"\n")
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise self._ended(what, str(error) or type(error).__name__) from None
        deadline = None if timeout is None else time.monotonic() + timeout
        interrupts = 0
        while True:
            try:
                answer = self.answers.get(timeout=_POLL_S)
            except queue.Empty:
                if deadline is not None and time.monotonic() > deadline:
                    self.channel.close()  # the guard stops bench_client
                    raise self.session.timed_out(what, timeout or 0) from None
                continue
            except KeyboardInterrupt:
                interrupts += 1
                self._interrupt(interrupts)
                continue
            if answer is _CLOSED:
                raise self._ended(what, "the channel closed before its answer")
            if "error" in answer:
                raise ClientFailedError(f"{self.session.host.label}: {what}: {answer['error']}")
            return answer

    def _interrupt(self, interrupts: int) -> None:
        """The first Ctrl-C interrupts bench_client; a second gives up on it."""
        if interrupts == 1:
            try:
                self.channel.sendall(b"\x03")
                return
            except (OSError, EOFError, paramiko.SSHException):
                pass
        self.channel.close()  # the guard stops bench_client
        raise KeyboardInterrupt

    def _read(self) -> None:
        """Answers into the queue; bench_client's lines to the stream of the measurement. A
        line longer than any answer is not the guard's (a broken or hostile client): the
        channel is closed, the measurement fails naming it, and nothing more is read."""
        stream = self.channel.makefile("rb")
        try:
            while line := stream.readline(MAX_LINE_BYTES + 1):
                if len(line) > MAX_LINE_BYTES:
                    self.answers.put(
                        {"error": f"the client sent a line of over {MAX_LINE_BYTES} bytes"}
                    )
                    self.channel.close()
                    return
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not isinstance(message, dict):  # e.g. a logon script's words, before ours
                    self.stream.write(line.decode(errors="replace"))
                elif "say" in message:
                    self.stream.write(message["say"] + "\n")
                else:
                    self.answers.put(message)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        finally:
            self.answers.put(_CLOSED)

    def _ended(self, what: str, cause: str) -> RemoteError:
        """Why the guard did not answer: the connection, a busy work directory, or its exit."""
        if not self.session.is_connected:
            return self.session.lost(what, cause)
        if not self.channel.status_event.wait(5):
            return self.session.lost(what, cause)
        code = self.channel.recv_exit_status()
        said = self.channel.makefile_stderr("rb").read().decode(errors="replace").strip()
        if code == ExitCode.BUSY:
            return ClientBusyError(
                f"{self.session.host.label}: {what}: another bench_client is still running in "
                f"{self.layout.workdir} (it holds {self.layout.lock}); wait for it to finish or "
                "stop it"
            )
        return ClientFailedError(
            f"{self.session.host.label}: {what}: bench_client's guard ended with exit {code}"
            + (f": {said[-300:]}" if said else "")
        )
