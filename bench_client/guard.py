"""Run bench_client so that it dies with the SSH channel that started it.

    python -m bench_client.guard LOCK_FILE -- [bench_client arguments]

An SSH server does not stop a command whose connection is gone: Linux sends
no hang-up without a terminal, and Win32-OpenSSH keeps the process tree alive
in its job object. This wrapper watches its stdin, which is the channel: at
end of file (the control node hung up, timed out, or was interrupted) it
stops bench_client and everything bench_client started. A Ctrl-C byte (0x03)
on stdin interrupts bench_client instead, so it writes what it measured.
One lock per work directory (LOCK_FILE) keeps a second run from racing a
leftover one; the operating system releases it when this process ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from bench_client.results_format import ExitCode

EXIT_HUNG_UP = 129  # the channel closed: bench_client was stopped
GRACE_S = 5.0  # after an interrupt, time to write the partial result
CTRL_C = b"\x03"


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


def start(args: list[str]) -> subprocess.Popen[bytes]:
    """bench_client in a process group of its own, so the whole tree can be stopped."""
    command = [sys.executable, "-X", "utf8", "-m", "bench_client", *args]
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, creationflags=flags)
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def interrupt(child: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        child.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    else:
        os.killpg(child.pid, signal.SIGINT)


def stop_tree(child: subprocess.Popen[bytes]) -> None:
    """Kill bench_client and every process it started."""
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
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def watch_channel(child: subprocess.Popen[bytes], hung_up: threading.Event) -> None:
    """Read stdin until end of file; interrupt on Ctrl-C, kill the tree at the end."""
    # os.read on the descriptor, not sys.stdin: a daemon thread blocked in a
    # buffered read would abort the interpreter's shutdown.
    while True:
        try:
            data = os.read(sys.stdin.fileno(), 64)
        except OSError:
            data = b""
        if not data:
            break
        if CTRL_C in data:
            interrupt(child)
    hung_up.set()
    if child.poll() is None:
        interrupt(child)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(GRACE_S)
    stop_tree(child)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[1] != "--":
        print(
            "usage: python -m bench_client.guard LOCK_FILE -- [bench_client args]", file=sys.stderr
        )
        return 2
    lock_path, client_args = Path(args[0]), args[2:]
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+b") as handle:
        if not lock(handle):
            print(
                f"error: another bench_client is running in this work directory ({lock_path}); "
                "wait for it or stop it",
                file=sys.stderr,
            )
            return ExitCode.BUSY
        child = start(client_args)
        hung_up = threading.Event()
        threading.Thread(target=watch_channel, args=(child, hung_up), daemon=True).start()
        code = child.wait()
        return EXIT_HUNG_UP if hung_up.is_set() else code


if __name__ == "__main__":
    sys.exit(main())
