"""Run N processes of a server that adopts one listening socket by descriptor.

Daphne serves from a single process. To give it as many processes as the
Gunicorn stacks have workers, this binds the port once and starts N copies of
the server command (e.g. `daphne --fd {fd} ...`); the kernel hands each new
connection to one of them. If any copy exits, the rest are stopped and this
exits non-zero, so systemd restarts the whole service (Restart=on-failure).

    python -m apps.prefork --bind 0.0.0.0:5004 --processes 2 -- daphne --fd {fd} app:app
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from types import FrameType

STOP_TIMEOUT_S = 10.0


class _Stop(Exception):
    """SIGTERM or SIGINT arrived: stop the children and exit cleanly."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m apps.prefork", description=__doc__)
    parser.add_argument("--bind", required=True, help="HOST:PORT to listen on")
    parser.add_argument("--processes", type=int, required=True, help="copies to run (>= 1)")
    parser.add_argument("--backlog", type=int, default=2048, help="listen backlog")
    parser.add_argument("command", nargs="+", help="server command; {fd} = the socket's fd")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if not any("{fd}" in part for part in args.command):
        parser.error("the command must contain {fd} where the socket descriptor goes")
    host, _, port = args.bind.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--bind must be HOST:PORT, got {args.bind!r}")
    args.address = (host.strip("[]"), int(port))
    return args


def _listen(address: tuple[str, int], backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    listener = socket.create_server(address, family=family, backlog=backlog)
    # Accepted sockets inherit TCP_NODELAY on Linux: no Nagle delay on kept-alive
    # connections whatever the server does.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.set_inheritable(True)
    return listener


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    listener = _listen(args.address, args.backlog)
    command = [part.replace("{fd}", str(listener.fileno())) for part in args.command]
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.extend(
            subprocess.Popen(command, pass_fds=(listener.fileno(),)) for _ in range(args.processes)
        )
        pid, status = os.wait()  # blocks until the first child exits
        print(
            f"prefork: process {pid} exited (wait status {status}); stopping the others",
            file=sys.stderr,
        )
        return 1
    except _Stop:
        return 0
    finally:
        # A second signal must not interrupt the shutdown below.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_all(children)


if __name__ == "__main__":
    sys.exit(main())
