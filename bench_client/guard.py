"""Run the orchestrator's measurements on the client, and stop them when its SSH channel closes.

    python -m bench_client.guard LOCK_FILE

The orchestrator starts this once for many measurements and talks to it over
the channel: a request is one JSON line on stdin, an answer one JSON line on
stdout.

    {"ports": true}                        ->  {"ports": {the port budget, limits.port_budget}}
    {"run": [ARGS], "hash": [PATHS]}       ->  {"exit": CODE, "sha256": {PATH: HEX, ...}}

A run is one bench_client process, as ``python -m bench_client ARGS``; while it
runs, each line it prints comes as ``{"say": LINE}``, and its answer holds the
sha256 of each of PATHS that exists afterwards (the files it wrote). So that a
measurement does not wait for Python to start and import bench_client (about a
fifth of a second), that process is forked from this one, which imported it
once; on Windows, which cannot fork, one bench_client process is kept started
ahead instead (bench_client.spare), the next one once a measurement has ended.

An SSH server does not stop a command whose connection is gone: Linux sends
no hang-up without a terminal, and Win32-OpenSSH keeps the process tree alive
in its job object. So at end of file on stdin (the control node hung up, timed
out, or was interrupted) this stops the measurement and everything it started.
A Ctrl-C byte (0x03) on stdin interrupts the measurement instead, so it writes
what it measured. One lock per work directory (LOCK_FILE) keeps a second
guard from racing a leftover one; the operating system releases it when this
process ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol

from bench_client import spare
from bench_client.interrupts import raise_on_interrupt
from bench_client.results_format import ExitCode, sha256_file

EXIT_HUNG_UP = 129  # the channel closed: the measurement was stopped
GRACE_S = 5.0  # after an interrupt, time to write the partial result
# Longer than any request or answer (a request is a command line and a few paths).
MAX_LINE_BYTES = 1 << 20
CTRL_C = b"\x03"
USAGE = 'send {"run": [ARGUMENTS], "hash": [PATHS]} or {"ports": true}, one JSON line each'
# Fork where a forked child can be waited for without reaping it (os.waitid): Linux.
FORKS = hasattr(os, "fork") and hasattr(os, "waitid")


class Child(Protocol):
    """A bench_client process: subprocess.Popen, or ForkedChild."""

    pid: int
    stdout: IO[bytes] | None

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...


def lock(handle: IO[bytes]) -> bool:
    """Take the lock on ``handle`` without waiting; False if another process holds it."""
    handle.seek(0)  # every process locks the same first byte
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def start_spare() -> subprocess.Popen[bytes]:
    """A bench_client process waiting for its arguments, in a process group of its own
    (so that the whole tree can be interrupted or stopped); its output comes back here."""
    command = [sys.executable, "-X", "utf8", "-m", "bench_client.spare"]
    options: dict[str, Any] = {
        "stdin": subprocess.PIPE,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.STDOUT,
    }
    if sys.platform == "win32":
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        options["start_new_session"] = True
    return subprocess.Popen(command, **options)


class ForkedChild:
    """bench_client forked from the guard, in a session of its own; its output on a pipe."""

    def __init__(self, args: list[str]) -> None:
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12 warns of forking with threads: the guard's other thread only reads
            # stdin, and the child touches nothing that thread may hold (it opens its own stdio).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _run_forked(args, write_end)
        os.close(write_end)
        self.pid = pid
        self.stdout: IO[bytes] | None = os.fdopen(read_end, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code if it has ended, without reaping it (only wait() reaps)."""
        if self.returncode is not None:
            return self.returncode
        ended = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if ended is None:
            return None
        return ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _run_forked(args: list[str], output: int) -> NoReturn:
    """The forked child: bench_client with ``args``, its output to ``output``; never returns."""
    code = 1
    try:
        os.setsid()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for descriptor in (1, 2):
            os.dup2(output, descriptor)
        os.close(output)
        # Streams of its own: the parent's may have been locked by its other thread.
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115
        raise_on_interrupt()
        code = spare.measure(args)
    except BaseException:  # whatever happens, the child must not return into the guard
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def interrupt(child: Child) -> None:
    if sys.platform == "win32":
        child.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    else:
        _signal_group(child, signal.SIGINT)


def stop_tree(child: Child) -> None:
    """Kill a bench_client process and every process it started."""
    if child.poll() is not None:
        return
    if sys.platform == "win32":
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(child.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    else:
        _signal_group(child, signal.SIGKILL)


def _signal_group(child: Child, number: int) -> None:
    """Signal the child's process group; the child alone if it has not made its group yet."""
    try:
        os.killpg(child.pid, number)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, number)


def _strings(*lists: object) -> bool:
    """Whether each of ``lists`` is a list of strings, as a run's arguments and paths are."""
    return all(isinstance(each, list) and all(isinstance(x, str) for x in each) for each in lists)


def sha256_of(paths: list[str]) -> dict[str, str]:
    """sha256 of each of ``paths`` that is a file."""
    return {name: sha256_file(Path(name)) for name in paths if Path(name).is_file()}


class Guard:
    """Serves the requests read from the channel, one measurement at a time."""

    def __init__(self, answers: IO[bytes]) -> None:
        self.answers = answers
        self.writing = threading.Lock()  # answers and "say" lines come from two threads
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.hung_up = threading.Event()
        self.running: Child | None = None
        self.interrupt_pending = False  # a Ctrl-C that came before its measurement started
        self.spare: subprocess.Popen[bytes] | None = None

    def send(self, message: dict[str, Any]) -> None:
        with self.writing, contextlib.suppress(OSError):  # a closed channel: hung up
            self.answers.write(json.dumps(message).encode() + b"\n")
            self.answers.flush()

    def read_channel(self) -> None:
        """Read stdin until end of file: requests, Ctrl-C bytes; at the end, stop everything."""
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked in a
        # buffered read would abort the interpreter's shutdown.
        pending = b""
        while True:
            try:
                data = os.read(sys.stdin.fileno(), 4096)
            except OSError:
                data = b""
            if not data:
                break
            if CTRL_C in data:  # JSON never carries a raw control character
                self.ctrl_c()
                data = data.replace(CTRL_C, b"")
            *lines, pending = (pending + data).split(b"\n")
            if len(pending) > MAX_LINE_BYTES:  # no request is this long: drop it, say so
                self.send({"error": f"a request of over {MAX_LINE_BYTES} bytes; not read"})
                pending = b""
            for line in filter(None, map(bytes.strip, lines)):
                try:
                    request = json.loads(line)
                except ValueError:
                    request = None
                if isinstance(request, dict):
                    self.requests.put(request)
                else:
                    self.send({"error": f"not a JSON request: {line[:200]!r}"})
        self.hang_up()

    def ctrl_c(self) -> None:
        running = self.running
        if running is None:
            self.interrupt_pending = True
        else:
            interrupt(running)

    def hang_up(self) -> None:
        self.hung_up.set()
        self.requests.put(None)
        running = self.running
        if running is not None and running.poll() is None:
            interrupt(running)
            deadline = time.monotonic() + GRACE_S
            while running.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            stop_tree(running)

    def serve(self) -> int:
        if FORKS:
            spare.prepare()
        else:
            self.spare = start_spare()
        try:
            while (request := self.requests.get()) is not None:
                if "run" in request and _strings(request["run"], request.get("hash", [])):
                    self.run(request["run"], request.get("hash", []))
                elif "ports" in request:
                    from bench_client.limits import port_budget  # psutil: only when asked

                    self.send({"ports": port_budget()})
                else:
                    self.send({"error": f"unknown request with keys {sorted(request)}: " + USAGE})
        finally:
            if self.spare is not None:
                self.spare.kill()
                self.spare.wait()
        return EXIT_HUNG_UP if self.hung_up.is_set() else ExitCode.DONE

    def run(self, args: list[str], hash_paths: list[str]) -> None:
        """One measurement, in a forked child or the spare (then the next spare starts)."""
        if self.interrupt_pending:  # Ctrl-C came first: as bench_client would, measure nothing
            self.interrupt_pending = False
            self.send({"exit": ExitCode.INTERRUPTED, "sha256": sha256_of(hash_paths)})
            return
        child = ForkedChild(args) if FORKS else self.hand_to_spare(args)
        self.running = child
        if self.hung_up.is_set():  # hang_up() may have looked before: nobody waits for it
            stop_tree(child)
            return
        self.relay(child)
        code = child.wait()
        self.running = None
        assert child.stdout is not None
        child.stdout.close()
        if self.hung_up.is_set():
            return
        self.send({"exit": code, "sha256": sha256_of(hash_paths)})
        if not FORKS:
            self.spare = start_spare()

    def hand_to_spare(self, args: list[str]) -> subprocess.Popen[bytes]:
        assert self.spare is not None and self.spare.stdin is not None
        child, self.spare = self.spare, None
        with contextlib.suppress(OSError):  # it died starting: its exit code says so
            child.stdin.write(json.dumps(args).encode() + b"\n")
            child.stdin.close()
        return child

    def relay(self, child: Child) -> None:
        """Pass the child's output on as "say" lines, until it closes it."""
        assert child.stdout is not None
        for line in child.stdout:
            self.send({"say": line.decode("utf-8", errors="replace").rstrip("\r\n")})


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m bench_client.guard LOCK_FILE", file=sys.stderr)
        return ExitCode.USAGE
    lock_path = Path(args[0])
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+b") as handle:
        if not lock(handle):
            print(
                f"error: another bench_client is running in this work directory ({lock_path}); "
                "wait for it or stop it",
                file=sys.stderr,
            )
            return ExitCode.BUSY
        guard = Guard(sys.stdout.buffer)
        threading.Thread(target=guard.read_channel, daemon=True).start()
        return guard.serve()


if __name__ == "__main__":
    sys.exit(main())
