"""An SSH session to the client host through Fabric, with host keys checked.

`open_session` connects with the inventory's key and known_hosts file (an
unknown or changed host key is refused), finds out which shell the SSH server
runs commands in and which Python the client has, and returns a
`RemoteSession` whose `run` takes an argv list, never a shell string.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath, PureWindowsPath
from typing import IO, Any

import fabric
import invoke
import paramiko
from paramiko.config import SSHConfig
from paramiko.ssh_exception import NoValidConnectionsError

from bench_client.results_format import ExitCode
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import ClientHost
from orchestrator.remote.shell import Shell, UnportableArgumentError, build_command


class HostKeyError(RemoteError):
    exit_code = ExitCode.UNREACHABLE


class UnreachableError(RemoteError):
    exit_code = ExitCode.UNREACHABLE


class ConnectionLostError(RemoteError):
    exit_code = ExitCode.UNREACHABLE


class ArgumentError(RemoteError):
    """An argument the client's shell cannot carry unchanged."""

    exit_code = ExitCode.USAGE


class CommandError(RemoteError):
    """A helper command on the client failed."""


CONNECT_TIMEOUT = 15
# A client that answers nothing for this long counts as gone (asleep, powered
# off, cut off): TCP alone may take a quarter of an hour to notice.
ANSWER_TIMEOUT = 60
MIN_PYTHON = (3, 10)
# Every remote python runs in UTF-8 mode: its pipes, files and the text it
# prints are UTF-8 whatever the client's code page (cp1252, cp850, cp932...).
UTF8_MODE = ("-X", "utf8")

# Client-side Python that sets ``code_pages``: the text encodings the client uses.
CODE_PAGES_CODE = """
import locale, sys
code_pages = {"preferred_encoding": locale.getpreferredencoding(False)}
if sys.platform == "win32":
    import ctypes
    kernel32 = ctypes.windll.kernel32
    code_pages.update(ansi=kernel32.GetACP(), oem=kernel32.GetOEMCP(),
                      console_output=kernel32.GetConsoleOutputCP())
"""
# Printed by the probe below: what the client's Python says about itself.
_FACTS_CODE = (
    CODE_PAGES_CODE
    + """
import json, pathlib, platform
print(json.dumps({
    "version": "{}.{}".format(*sys.version_info[:2]),
    "home": str(pathlib.Path.home()),
    "platform": sys.platform,
    "machine": platform.machine(),
    "code_pages": code_pages,
}))
"""
)


def sftp_path(path: PurePath) -> str:
    """``path`` as the client's SFTP server names it (Win32-OpenSSH: /C:/Users/...)."""
    if isinstance(path, PureWindowsPath):
        return ("/" if path.drive else "") + path.as_posix()
    return str(path)


def last_json_line(output: str) -> Any:
    """The last line of ``output`` that is a JSON document.

    A Windows client's PowerShell profile, or a logon script, can print
    before our helper does; only the helper's own last line counts.
    """
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise ValueError(f"no JSON line in the output: {output.strip()[-200:]!r}")


def python_snippet(code: str) -> list[str]:
    """``-c`` arguments that run ``code`` unchanged under any shell.

    The code travels base64-encoded, so its quotes, line breaks and % signs
    never meet a shell; ``sys.argv[1:]`` still carries ordinary arguments.
    """
    encoded = base64.b64encode(code.encode()).decode()
    return ["-c", f"import base64;exec(base64.b64decode('{encoded}'))"]


@dataclass(frozen=True)
class ClientPython:
    """The client's own interpreter (the one that creates the venv)."""

    command: list[str]
    version: str  # "3.11"
    home: str
    platform: str  # sys.platform: "linux", "win32"
    machine: str  # platform.machine(): "x86_64", "AMD64", "ARM64"
    code_pages: dict[str, Any]  # ANSI, OEM and console code pages on Windows

    def argv(self, *args: str) -> list[str]:
        """This interpreter in UTF-8 mode, then ``args``."""
        return [*self.command, *UTF8_MODE, *args]


# Terminal control sequences (CSI, OSC) and control characters but tab and newline:
# a client's output must not move the cursor, retitle or rewrite the operator's terminal.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """``text`` from the client without terminal escape codes or control characters."""
    return _CONTROL.sub("", text)


class LinePrefixer:
    """A text stream that writes each complete line to ``target`` behind ``prefix``."""

    def __init__(self, prefix: str, target: IO[str] | None = None) -> None:
        self.prefix = prefix
        self.target = target if target is not None else sys.stderr
        self.last_line = ""  # the latest non-empty line, for error messages
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text.replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        self.target.flush()
        return len(text)

    def note(self, line: str) -> None:
        """A line of our own progress: shown, but not taken for the client's last word."""
        self.target.write(f"{self.prefix}{line}\n")
        self.target.flush()

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self.target.flush()

    def _emit(self, line: str) -> None:
        line = printable(line)
        self.target.write(f"{self.prefix}{line}\n")
        if line.strip():
            self.last_line = line.strip()


class Liveness(threading.Thread):
    """Asks the SSH server for an answer now and then; closes the connection when none comes.

    Closing the transport ends whatever waits on it (a running command, an
    SFTP transfer), which then reports the connection as lost.
    """

    def __init__(self, transport: paramiko.Transport, timeout: float) -> None:
        super().__init__(name="ssh-liveness", daemon=True)
        self.transport = transport
        self.timeout = timeout
        self.silent = False  # set when the client stopped answering
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.timeout / 4):
            answered = threading.Event()

            def ask(answered: threading.Event = answered) -> None:
                # Any reply counts, a refusal too (OpenSSH refuses unknown requests).
                with contextlib.suppress(Exception):
                    self.transport.global_request("keepalive@openssh.com", wait=True)
                answered.set()

            threading.Thread(target=ask, name="ssh-keepalive", daemon=True).start()
            if not answered.wait(self.timeout) and not self._stopped.is_set():
                self.silent = True
                self.transport.close()
                return

    def stop(self) -> None:
        self._stopped.set()


class RemoteSession:
    """One open SSH connection to the client, its shell and its Python."""

    def __init__(
        self,
        host: ClientHost,
        connection: fabric.Connection,
        shell: Shell,
        answer_timeout: float = ANSWER_TIMEOUT,
        *,
        delayed_expansion: bool = False,
    ) -> None:
        self.host = host
        self.connection = connection
        self.shell = shell
        self.delayed_expansion = delayed_expansion  # cmd.exe expands !VAR! on this client
        self.python: ClientPython | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self.liveness = Liveness(connection.transport, answer_timeout)
        self.liveness.start()

    @property
    def is_windows(self) -> bool:
        return self.shell.is_windows

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        stream: LinePrefixer | None = None,
        timeout: float | None = None,
        what: str = "command",
    ) -> invoke.Result:
        """Run ``argv`` on the client; return the result whatever its exit code.

        With ``stream`` the output goes there as it arrives; otherwise it is
        captured. A connection that drops raises ConnectionLostError.
        """
        try:
            command = build_command(
                self.shell,
                [str(part) for part in argv],
                cwd=cwd,
                delayed_expansion=self.delayed_expansion,
            )
        except UnportableArgumentError as exc:
            raise ArgumentError(f"{self.host.label}: {what}: {exc}") from None
        options: dict[str, Any] = {"warn": True, "in_stream": False, "pty": False}
        if stream is not None:
            options.update(out_stream=stream, err_stream=stream)
        else:
            options["hide"] = True
        if timeout is not None:
            options["timeout"] = timeout
        started = time.monotonic()
        try:
            result = self.connection.run(command, **options)
        except invoke.CommandTimedOut:
            raise self.timed_out(what, timeout) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self.lost(what, str(exc) or type(exc).__name__) from None
        finally:
            if stream is not None:
                stream.flush()
        if result.exited == -1 or not self.is_connected:
            # paramiko reports -1 when the channel closed without an exit status.
            # invoke closes the channel when the timeout fires, and may return
            # before its timer thread has finished, so it raises nothing then.
            if timeout is not None and time.monotonic() - started >= timeout:
                raise self.timed_out(what, timeout)
            raise self.lost(what, "no exit status received")
        return result

    @contextlib.contextmanager
    def file_transfer(self, what: str) -> Iterator[None]:
        """Turn an SFTP failure into a RemoteError that names host, step and cause."""
        try:
            yield
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not self.is_connected:
                raise self.lost(what, str(exc) or type(exc).__name__) from None
            raise RemoteError(f"{self.host.label}: {what} failed: {exc}") from None

    def timed_out(self, what: str, timeout: float) -> RemoteError:
        return RemoteError(f"{self.host.label}: {what} did not finish within {timeout:g} s")

    def lost(self, what: str, cause: str) -> ConnectionLostError:
        if self.liveness.silent:
            cause = f"the client stopped answering for {self.liveness.timeout:g} s"
        return ConnectionLostError(f"{self.host.label}: connection lost during {what} ({cause})")

    def check(self, argv: Sequence[str], *, cwd: str | None = None, what: str) -> str:
        """Run ``argv`` and return its stdout; a non-zero exit raises CommandError."""
        result = self.run(argv, cwd=cwd, what=what)
        if result.exited != 0:
            tail = printable(result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
            raise CommandError(
                f"{self.host.label}: {what} failed (exit {result.exited}): {' | '.join(tail)}"
            )
        return result.stdout

    def run_python(self, code: str, *args: str, python: Sequence[str] | None = None) -> str:
        """Run a Python snippet on the client (its base interpreter unless ``python``).

        Returns its stdout; `last_json_line` picks out what a helper printed.
        """
        interpreter = list(python) if python is not None else self.python_command()
        argv = [*interpreter, *UTF8_MODE, *python_snippet(code), *args]
        return self.check(argv, what="a python helper")

    def python_command(self) -> list[str]:
        if self.host.python:
            return list(self.host.python)
        return ["python"] if self.is_windows else ["python3"]

    @property
    def is_connected(self) -> bool:
        transport = self.connection.transport
        return transport is not None and transport.is_active()

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.connection.client.open_sftp()
        return self._sftp

    def close(self) -> None:
        self.liveness.stop()
        if self._sftp is not None:
            self._sftp.close()
        self.connection.close()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def connect(host: ClientHost, timeout: float = CONNECT_TIMEOUT) -> fabric.Connection:
    """An open Fabric connection that trusts only the inventory's known_hosts file."""
    connect_kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if host.key_file is not None:
        if not host.key_file.exists():
            raise UnreachableError(f"{host.label}: private key {host.key_file} does not exist")
        connect_kwargs.update(
            key_filename=str(host.key_file), look_for_keys=False, allow_agent=False
        )
    # An empty SSHConfig and lazy=True keep ~/.ssh/config and Fabric's config
    # files out: the inventory is the one source of connection settings.
    config = fabric.Config(ssh_config=SSHConfig(), lazy=True)
    connection = fabric.Connection(
        host.address,
        user=host.user,
        port=host.port,
        config=config,
        connect_timeout=int(timeout),
        connect_kwargs=connect_kwargs,
    )
    if not host.known_hosts.is_file():
        raise HostKeyError(
            f"{host.label}: known_hosts file {host.known_hosts} (from the inventory) does not exist"
        )
    # Fabric defaults to AutoAddPolicy; httplab never trusts a key on first sight.
    connection.client.load_host_keys(str(host.known_hosts))
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        connection.open()
    except Exception as exc:
        transport = connection.client.get_transport()
        handshake_done = transport is not None and transport.initial_kex_done
        connection.close()
        raise _connect_error(exc, host, timeout, handshake_done) from None
    return connection


def _connect_error(
    exc: Exception, host: ClientHost, timeout: float, handshake_done: bool
) -> RemoteError:
    """The one-line error, with what to do next, for a failed connect."""
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyError(
            f"{host.label}: HOST KEY CHANGED: the server offered {exc.key.get_name()} "
            f"{exc.key.fingerprint}, but {host.known_hosts} holds {exc.expected_key.fingerprint}; "
            "if the host was reinstalled, remove the old key (ssh-keygen -R "
            f"'[{host.address}]:{host.port}' -f {host.known_hosts}) and add the new one"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return UnreachableError(
            f"{host.label}: authentication failed ({exc}); is the public key of "
            f"{host.key_file} in the user's authorized_keys?"
        )
    if isinstance(exc, paramiko.SSHException) and "known_hosts" in str(exc):
        return HostKeyError(
            f"{host.label}: host key unknown: {host.known_hosts} has no key for "
            f"{host.address} port {host.port}; add it (ssh-keyscan -p {host.port} "
            f"{host.address}) after comparing its fingerprint with the host's"
        )
    if isinstance(exc, paramiko.SSHException) and not handshake_done:
        # paramiko reports a handshake that ran out of time as "No existing session".
        cause = f"timed out after {timeout:g} s" if "No existing session" in str(exc) else exc
        return UnreachableError(
            f"{host.label}: no SSH handshake ({cause}); is sshd running and answering "
            f"on port {host.port}?"
        )
    if isinstance(exc, OSError):  # refused, unreachable, timed out (NoValidConnectionsError too)
        return UnreachableError(f"{host.label}: cannot connect: {_socket_cause(exc)}")
    return UnreachableError(f"{host.label}: SSH failed: {exc}")


def _socket_cause(exc: OSError) -> str:
    if isinstance(exc, NoValidConnectionsError):
        causes = {error.strerror or str(error) for error in exc.errors.values()}
        return "; ".join(sorted(causes)) or "no address answered"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or str(exc) or type(exc).__name__


SHELL_NAMES = {Shell.POSIX: "a POSIX sh", Shell.CMD: "cmd.exe", Shell.POWERSHELL: "PowerShell"}


def _probe(connection: fabric.Connection, host: ClientHost, command: str) -> str:
    """The command's stdout, stripped; empty when it failed."""
    try:
        result = connection.run(command, hide=True, warn=True, in_stream=False)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise ConnectionLostError(f"{host.label}: connection lost while probing: {exc}") from None
    return result.stdout.strip() if result.exited == 0 else ""


def probe_shell(connection: fabric.Connection, host: ClientHost) -> Shell | None:
    """The shell the SSH server runs commands in, or None when no probe answers.

    ``uname -s`` answers only in a POSIX shell (a Git-for-Windows uname says
    MINGW/MSYS/CYGWIN and does not count); ``echo %OS%`` prints Windows_NT
    only in cmd.exe; a bare ``$PSVersionTable.PSVersion.Major`` prints a
    number only in PowerShell.
    """
    if host.os != "windows":
        system = _probe(connection, host, "uname -s")
        if system and not system.upper().startswith(("MINGW", "MSYS", "CYGWIN")):
            return Shell.POSIX
    if _probe(connection, host, "echo %OS%") == "Windows_NT":
        return Shell.CMD
    if _probe(connection, host, "$PSVersionTable.PSVersion.Major").isdigit():
        return Shell.POWERSHELL
    return None


def detect_shell(connection: fabric.Connection, host: ClientHost) -> Shell:
    """The shell the SSH server runs commands in, checked against the inventory's setting."""
    if host.os == "linux" and host.shell in (None, Shell.POSIX.value):
        return Shell.POSIX
    found = probe_shell(connection, host)
    if host.shell is None:
        if found is None:
            raise RemoteError(
                f"{host.label}: cannot tell which shell the SSH server runs (not sh, cmd.exe "
                "or PowerShell); set bench_client_shell in the inventory"
            )
        return found
    configured = Shell(host.shell)
    if found is not None and found is not configured:
        raise RemoteError(
            f"{host.label}: the inventory says bench_client_shell: {host.shell}, but the SSH "
            f"server runs commands in {SHELL_NAMES[found]}; set bench_client_shell: "
            f"{found.value} (or remove the setting: httplab probes the shell)"
        )
    return configured


def cmd_delayed_expansion(connection: fabric.Connection, host: ClientHost) -> bool:
    """Whether cmd.exe expands !VAR! on this client (the DelayedExpansion registry value)."""
    return _probe(connection, host, "echo !OS!") == "Windows_NT"


def open_session(
    host: ClientHost,
    timeout: float = CONNECT_TIMEOUT,
    answer_timeout: float = ANSWER_TIMEOUT,
) -> RemoteSession:
    """Connect, detect the shell and the client's Python.

    ``answer_timeout``: seconds without any answer from the client after which
    the connection counts as lost.
    """
    connection = connect(host, timeout)
    session: RemoteSession | None = None
    try:
        shell = detect_shell(connection, host)
        session = RemoteSession(
            host,
            connection,
            shell,
            answer_timeout,
            delayed_expansion=shell is Shell.CMD and cmd_delayed_expansion(connection, host),
        )
        try:
            facts = last_json_line(session.run_python(_FACTS_CODE))
        except CommandError as exc:
            raise RemoteError(
                f"{exc}; is Python 3.10+ installed as {' '.join(session.python_command())!r}? "
                "(set bench_client_python in the inventory)"
            ) from None
        if tuple(map(int, facts["version"].split("."))) < MIN_PYTHON:
            raise RemoteError(
                f"{host.label}: Python {facts['version']} ({' '.join(session.python_command())}) "
                f"is too old; bench_client needs {'.'.join(map(str, MIN_PYTHON))} or newer "
                "(set bench_client_python in the inventory)"
            )
        session.python = ClientPython(
            command=session.python_command(),
            version=facts["version"],
            home=facts["home"],
            platform=facts["platform"],
            machine=facts["machine"],
            code_pages=facts["code_pages"],
        )
    except BaseException:
        if session is not None:
            session.close()
        else:
            connection.close()
        raise
    return session
